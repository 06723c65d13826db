/* tools/eval_common.h: what `eval`, `embed` and `verify` share: checkpoint + device setup, output folders, text files, folder layout detection. */
#ifndef FACECL_TOOLS_EVAL_COMMON_H
#define FACECL_TOOLS_EVAL_COMMON_H

#include <facecl/facecl.h>

/* A network rebuilt from a checkpoint, ready for evaluation. */
typedef struct tool_eval_setup {
    fcl_ctx *ctx;
    fcl_model *model;
    fcl_net *net;
    fcl_eval_input in;         /* from the checkpoint; batch / workers from the options */
    fcl_aug_pipeline pipeline; /* storage for in.pipeline */
    fcl_strlist class_names;   /* the checkpoint's "class_names" (n 0 when absent) */
} tool_eval_setup;

/* Reads the checkpoint's evaluation settings (before touching a device, so a bad path fails
 * fast), creates the context on `device` and the network for `batch`. Prints the error and
 * returns 1 on failure (s is then closed). */
int tool_eval_open(const char *checkpoint, const char *device, int batch, int workers, tool_eval_setup *s);
void tool_eval_close(tool_eval_setup *s);

/* Parses --batch / --workers values (1..4096 / 1..256); prints and returns 2 on a bad value. */
int tool_eval_parse_count(const char *opt, const char *v, int lo, int hi, int *out);

/* --tta VALUE: "flip" sets *flip to 1, "none" to 0; anything else prints and returns 2. */
int tool_parse_tta(const char *v, int *flip);

/* mkdir -p; prints and returns 1 on failure. */
int tool_mkdirs(const char *dir);
/* mkdir -p of the folder a file path is in (nothing for a bare file name). */
int tool_mkdirs_parent(const char *path);
/* Writes text to path atomically; prints and returns 1 on failure. */
int tool_write_text(const char *path, const char *text);
/* "dir/name" into a malloc'd string (NULL on out of memory). */
char *tool_join(const char *dir, const char *name);
/* 1 when dir holds image files (*.png, *.jpg, *.jpeg, any case; not hidden) directly, 0 when it
 * does not, -1 (printed) when it cannot be read. */
int tool_folder_has_images(const char *dir);
/* path with a leading "root/" removed (path itself when it does not start so). */
const char *tool_strip_root(const char *path, const char *root);

#endif
