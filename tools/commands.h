/* tools/commands.h: the subcommands of the `facecl` tool and the helpers they share. */
#ifndef FACECL_TOOLS_COMMANDS_H
#define FACECL_TOOLS_COMMANDS_H

#include <facecl/facecl.h>

/* The subcommands in the order `facecl --help` lists them: X(name, one-line summary). Each is a
 * function fcl_cmd_<name>(argc, argv) (tools/cmd_<name>.c) that gets argv after the subcommand name
 * (argv[0] is the subcommand) and returns the process exit code; this one list declares them and
 * makes facecl.c's dispatch table. Only tools print and exit; the library never does. */
#define FCL_COMMANDS(X)                                                                                   \
    X(devices, "list OpenCL platforms and devices (and test a --device selection)")                        \
    X(synth, "write a synthetic face dataset (the built-in data)")                                          \
    X(data, "inspect a dataset or pair list: `facecl data inspect DIR [--pairs FILE]`")                     \
    X(demo, "the main job on built-in data: synthetic faces, training, accuracy and verification")          \
    X(train, "train a face classification / verification network (facecl train --help)")                   \
    X(bench, "time ops on real layer shapes: `facecl bench ops [--batch 32] [--size 112]`")                 \
    X(tune, "measure the fastest kernel and GEMM parameters for this device into its tuning cache")         \
    X(model, "show a model file's layers, shapes, parameters and FLOPs: `facecl model show resnet18`")      \
    X(eval, "classification accuracy / per-class report of a checkpoint on a folder, or predictions")       \
    X(embed, "L2-normalised embeddings of a folder's images as .npy (+ index of paths)")                    \
    X(verify, "score a pair list by cosine similarity: ROC AUC, EER, TAR@FAR, k-fold accuracy")             \
    X(identify, "1:N identification of probes against a gallery: top-K, decisions, CMC, DIR@FAR")           \
    X(export, "write a checkpoint's network as an ONNX model (embedding or logits) for other runtimes")

#define FCL_CMD_DECLARE(name, summary) int fcl_cmd_##name(int argc, char **argv);
FCL_COMMANDS(FCL_CMD_DECLARE)
#undef FCL_CMD_DECLARE
int fcl_cmd_bench_net(int argc, char **argv); /* `facecl bench net` (tools/bench_net.c), through fcl_cmd_bench */

/* --- shared helpers (tools/common.c) --- */

/* Prints "facecl: error: <message>" to stderr and returns 1 (for `return tool_fail(...)`). */
int tool_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The same, returning 2: the exit code of every usage error (bad or missing option value, ...). */
#define tool_usage_error(...) (tool_fail(__VA_ARGS__) + 1)
/* Prints the message of an error record and returns 1. */
int tool_fail_err(const fcl_error *e);

/* Option matching: `--name VALUE` or `--name=VALUE`. Returns 1 and sets *value (advancing *i)
 * when argv[*i] is that option; prints an error and sets *bad when the value is missing. */
int tool_opt(int argc, char **argv, int *i, const char *name, const char **value, int *bad);
/* Strict numeric parsing: 0 on success. */
int tool_parse_int(const char *s, long *out);
int tool_parse_float(const char *s, double *out);

/* Wall-clock seconds (CLOCK_MONOTONIC): every timing, progress line and rate of the tools. */
double tool_now_s(void);

/* The folder of a file path, malloc'd ("." when it has none; NULL out of memory). */
char *tool_dir_of(const char *path);

/* Folder of the shipped model files: the install folder, else the source tree's models/. */
const char *tool_models_dir(void);

/* Finds a model (models/NAME.model, or a file) and loads it with opts; prints the error and
 * returns NULL on failure. */
fcl_model *tool_model_load(const char *name, const fcl_model_opts *opts);

/* Creates a context with these options and prints its creation warning (fcl_ctx_warning), if
 * any; on failure prints the error (through tool_dist_fail: dist may be NULL, one process) and
 * returns NULL. tool_ctx: the same from --device (NULL: $FACECL_DEVICE / default). */
fcl_ctx *tool_ctx_open(const fcl_ctx_opts *opts, fcl_dist *dist);
fcl_ctx *tool_ctx(const char *device, int profiling);
/* Prints the context's creation warning (fcl_ctx_warning), if any. */
void tool_ctx_warn(const fcl_ctx *ctx);

#endif
