/* tools/commands.h: the subcommands of the `facecl` tool and the helpers they share. */
#ifndef FACECL_TOOLS_COMMANDS_H
#define FACECL_TOOLS_COMMANDS_H

#include <facecl/facecl.h>

/* Each subcommand gets argv after the subcommand name (argv[0] is the subcommand) and returns
 * the process exit code. Only tools print and exit; the library never does. */
typedef int (*fcl_cmd_fn)(int argc, char **argv);

typedef struct fcl_cmd {
    const char *name;
    const char *summary;
    fcl_cmd_fn fn;
} fcl_cmd;

int fcl_cmd_devices(int argc, char **argv);
int fcl_cmd_synth(int argc, char **argv);
int fcl_cmd_data(int argc, char **argv);
int fcl_cmd_model(int argc, char **argv);
int fcl_cmd_bench(int argc, char **argv);
int fcl_cmd_bench_net(int argc, char **argv);
int fcl_cmd_eval(int argc, char **argv);
int fcl_cmd_embed(int argc, char **argv);
int fcl_cmd_verify(int argc, char **argv);
int fcl_cmd_identify(int argc, char **argv);
int fcl_cmd_train(int argc, char **argv);
int fcl_cmd_demo(int argc, char **argv);
int fcl_cmd_export(int argc, char **argv);
int fcl_cmd_tune(int argc, char **argv);   /* tools/cmd_tune.c */

/* --- shared helpers (tools/common.c) --- */

/* Prints "facecl: error: <message>" to stderr and returns 1 (for `return tool_fail(...)`). */
int tool_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The same, returning 2: the exit code of every usage error (bad or missing option value, ...). */
int tool_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prints the message of an error record and returns 1. */
int tool_fail_err(const fcl_error *e);

/* Option matching: `--name VALUE` or `--name=VALUE`. Returns 1 and sets *value (advancing *i)
 * when argv[*i] is that option; prints an error and sets *bad when the value is missing. */
int tool_opt(int argc, char **argv, int *i, const char *name, const char **value, int *bad);
/* Strict numeric parsing: 0 on success. */
int tool_parse_int(const char *s, long *out);
int tool_parse_float(const char *s, double *out);

/* The folder of a file path, malloc'd ("." when it has none; NULL out of memory). */
char *tool_dir_of(const char *path);

/* Folder of the shipped model files: the install folder, else the source tree's models/. */
const char *tool_models_dir(void);

/* Creates a context from --device (NULL: $FACECL_DEVICE / default); prints the error on failure. */
fcl_ctx *tool_ctx(const char *device, int profiling);
/* Prints the context's creation warning (fcl_ctx_warning), if any. */
void tool_ctx_warn(const fcl_ctx *ctx);

#endif
