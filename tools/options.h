/* tools/options.h: table-driven option parsing: each option with its kind, destination and range. */
#ifndef FACECL_TOOLS_OPTIONS_H
#define FACECL_TOOLS_OPTIONS_H

#include <stddef.h>

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
 * arguments into positional[]. 0 on success, else 2 (the error printed: unknown option, extra
 * argument, bad value). */
int tool_options_parse(const char *cmd, const tool_option *opts, size_t n, int argc, char **argv, int first,
                       const char **positional, int max_positional, int *n_positional);

#endif
