/* tools/eval_common.h: what `eval`, `embed` and `verify` share: checkpoint + device setup, output folders, text files, folder layout detection. */
#ifndef FACECL_TOOLS_EVAL_COMMON_H
#define FACECL_TOOLS_EVAL_COMMON_H

#include <facecl/facecl.h>

#include "io/atomic.h" /* fcl_atomic_file */

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

/* --tta VALUE: "flip" sets *flip to 1, "none" to 0; anything else prints and returns 2. */
int tool_parse_tta(const char *v, int *flip);

/* Runs the network over a dataset's images with a progress line labelled `label`: L2-normalised
 * embeddings (logits 0) or logits (1) into *out [ds->n, *dim] (malloc'd). Prints and returns 1 on
 * failure. */
int tool_eval_dataset(tool_eval_setup *s, const fcl_dataset *ds, const char *label, int logits, float **out,
                      size_t *dim);

/* Loads the pair list `file` (LFW's pairs.txt format when lfw) with its paths relative to root
 * (NULL: the list's own folder); flags as fcl_pairs_load's. *root_used (when not NULL) gets the
 * folder used, malloc'd. Prints and returns 1 on failure. */
int tool_pairs_load(const char *file, const char *root, int lfw, unsigned flags, fcl_pair_list *pl, char **root_used);

/* mkdir -p; prints and returns 1 on failure. */
int tool_mkdirs(const char *dir);
/* mkdir -p of the folder a file path is in (nothing for a bare file name). */
int tool_mkdirs_parent(const char *path);
/* Writes text to path atomically; prints and returns 1 on failure. */
int tool_write_text(const char *path, const char *text);
/* Ends a file written through fcl_atomic_open: commits it, or removes it when bad (a write
 * failed; errno says why). Prints and returns 1 on failure. */
int tool_atomic_finish(fcl_atomic_file *af, int bad);
/* Reads a float32 .npy into *a (freed by the caller) that must have ndim axes and a non-empty
 * axis `axis`; else prints "path: <expected>" (or the read error) and returns 1. */
int tool_npy_read(const char *path, fcl_npy *a, int ndim, int axis, const char *expected);
/* The index file beside embeddings: "x.npy" -> "x.txt", "x" -> "x.txt" (malloc'd; NULL out of memory). */
char *tool_default_index(const char *npy);
/* "dir/name" into a malloc'd string (NULL on out of memory). */
char *tool_join(const char *dir, const char *name);
/* 1 when dir holds image files (*.png, *.jpg, *.jpeg, any case; not hidden) directly, 0 when it
 * does not, -1 (printed) when it cannot be read. */
int tool_folder_has_images(const char *dir);
/* Opens a folder of images as it is laid out: flat (image files directly in it: *flat = 1) or an
 * ImageFolder (a sub-folder of images per class: *flat = 0); with force_flat as flat without
 * looking. Prints and returns 1 on failure. */
int tool_dataset_open(const char *dir, int force_flat, fcl_dataset *ds, int *flat);
/* path with a leading "root/" removed (path itself when it does not start so). */
const char *tool_strip_root(const char *path, const char *root);

#endif
