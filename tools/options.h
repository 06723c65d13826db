/* tools/options.h: table-driven option parsing: each option with its kind, destination and range. */
#ifndef FACECL_TOOLS_OPTIONS_H
#define FACECL_TOOLS_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

typedef enum tool_option_kind {
    TOOL_OPT_FLAG = 0, /* int *dst set to 1 */
    TOOL_OPT_STR,      /* const char **dst; an empty value is refused */
    TOOL_OPT_INT,      /* int *dst, a whole number in [lo, hi] (checked before any cast) */
    TOOL_OPT_LONG,     /* long *dst, a whole number in [lo, hi] */
    TOOL_OPT_NUM       /* double *dst, finite, in the range lo..hi (each end open or closed) */
} tool_option_kind;

typedef struct tool_option {
    const char *name;  /* "--batch" */
    tool_option_kind kind;
    void *dst;
    double lo, hi;
    int lo_open, hi_open;
} tool_option;

/* argv[*i] against the table (`--name VALUE` or `--name=VALUE`): 1 matched and stored (advancing
 * *i past a value), 0 not an option of the table, -2 a usage error (printed: missing value, not a
 * number, out of range, with the range). */
int tool_options_match(const char *cmd, const tool_option *opts, size_t n, int argc, char **argv, int *i);

/* Parses argv[first..argc) against the table: options anywhere, up to max_positional other
 * arguments into positional[]. --help or -h anywhere wins, even after a bad value: usage(stdout)
 * and TOOL_PARSE_HELP (the command exits 0). Else 0 on success, or 2 (the error printed: unknown
 * option, extra argument, bad value). */
#define TOOL_PARSE_HELP (-1)
int tool_options_parse(const char *cmd, void (*usage)(FILE *), const tool_option *opts, size_t n, int argc,
                       char **argv, int first, const char **positional, int max_positional, int *n_positional);

/* The older style of `export`, `bench net` and `tune` (kept: their messages are part of what
 * users and scripts see): `--name VALUE` or `--name=VALUE` through tool_opt, which reports a
 * missing value. A row is a flag (flag: set to 1; the exact name only), a string option (str:
 * stored as given) or a whole number in 1..hi (num: else "<cmd>: <argument> needs a whole number
 * in 1..<hi>"). tool_old_opts_match takes argv[*i] (advancing *i past a value) and returns
 * TOOL_OLD_STORED, TOOL_OLD_NONE (no row matches) or TOOL_OLD_ERROR (a usage error, printed).
 * With a usage function, --help / -h print usage(stdout) and give TOOL_OLD_HELP, and an argument
 * that no row matches is a usage error: usage(stderr), then "<cmd>: unknown option '<argument>'". */
typedef struct tool_old_opt {
    const char *name;
    int *flag;
    const char **str;
    long *num;
    long hi;
} tool_old_opt;
#define TOOL_OLD_FLAG(name, dst) {name, (dst), NULL, NULL, 0}
#define TOOL_OLD_STR(name, dst) {name, NULL, (dst), NULL, 0}
#define TOOL_OLD_NUM(name, dst, hi) {name, NULL, NULL, (dst), (hi)}
enum { TOOL_OLD_ERROR = -2, TOOL_OLD_NONE = 0, TOOL_OLD_STORED = 1, TOOL_OLD_HELP = 2 };
int tool_old_opts_match(const char *cmd, const tool_old_opt *opts, size_t n, void (*usage)(FILE *), int argc,
                        char **argv, int *i);

/* Options that several commands take, with one meaning and one range everywhere: --device SEL;
 * a pair list (--pairs FILE, --pairs-root DIR: the folder its paths are relative to, default the
 * list's own; --lfw: LFW's pairs.txt format), loaded with tool_pairs_load (eval_common.h). */
#define TOOL_DEVICE_OPTION(dst) {"--device", TOOL_OPT_STR, (dst), 0, 0, 0, 0}
#define TOOL_PAIRS_OPTIONS(file, root, lfw)                                                       \
    {"--pairs", TOOL_OPT_STR, (file), 0, 0, 0, 0},                                                \
    {"--pairs-root", TOOL_OPT_STR, (root), 0, 0, 0, 0},                                           \
    {"--lfw", TOOL_OPT_FLAG, (lfw), 0, 0, 0, 0}

/* The options of the commands that embed images with a checkpoint (eval, embed, verify,
 * identify): one meaning and one range everywhere. tool_embed_args_init sets the defaults (batch
 * 32, workers 2); TOOL_EMBED_OPTIONS(&a) are its rows of a command's table; the commands that
 * embed for verification add TOOL_TTA_OPTION(&a) and read it with tool_embed_args_tta. */
typedef struct tool_embed_args {
    const char *checkpoint, *device, *tta;
    int batch, workers;
} tool_embed_args;

void tool_embed_args_init(tool_embed_args *a);
#define TOOL_EMBED_OPTIONS(a)                                                                     \
    {"--checkpoint", TOOL_OPT_STR, &(a)->checkpoint, 0, 0, 0, 0},                                 \
    TOOL_DEVICE_OPTION(&(a)->device),                                                             \
    {"--batch", TOOL_OPT_INT, &(a)->batch, 1, 4096, 0, 0},                                        \
    {"--workers", TOOL_OPT_INT, &(a)->workers, 1, 256, 0, 0}
#define TOOL_TTA_OPTION(a) {"--tta", TOOL_OPT_STR, &(a)->tta, 0, 0, 0, 0}
/* --tta (flip or none; absent: none) into *flip; 2 (printed) for anything else. */
int tool_embed_args_tta(const tool_embed_args *a, int *flip);

#endif
