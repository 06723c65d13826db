/* host/ops/op_util.h: argument checks and kernel-launch plumbing shared by op launchers (internal). */
#ifndef FACECL_OPS_OP_UTIL_H
#define FACECL_OPS_OP_UTIL_H

#include <stddef.h>
#include "facecl/context.h"
#include "facecl/tensor.h"
#include "facecl/tuning.h"

/* t must be a non-NULL f32 tensor with a buffer, min_ndim..max_ndim dims, addressable with the
 * kernels' int element indices (offset + numel <= INT_MAX). Errors name op and `name`. */
fcl_status fcl_op_check(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                        int min_ndim, int max_ndim);
/* fcl_op_check with any rank 1..FCL_MAX_DIMS (ops that only need a buffer of f32 values). */
fcl_status fcl_op_check_t(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t);
/* Same, for an optional tensor: NULL passes. */
fcl_status fcl_op_check_opt(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                            int min_ndim, int max_ndim);
/* numel(t) must be `want` (per-channel vectors): FCL_ERR_SHAPE naming both. NULL passes. */
fcl_status fcl_op_check_numel(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                              size_t want, const char *what);
/* a and b must have the same shape (ndim and extents). */
fcl_status fcl_op_check_same_shape(fcl_ctx *ctx, const char *op, const char *na,
                                   const fcl_tensor *a, const char *nb, const fcl_tensor *b);
/* a and b must have the same number of elements (shapes may differ). */
fcl_status fcl_op_check_same_numel(fcl_ctx *ctx, const char *op, const char *na,
                                   const fcl_tensor *a, const char *nb, const fcl_tensor *b);
/* The [n, k] matrix view of t (checked with fcl_op_check_t): n = shape[0], k = numel / n. */
fcl_status fcl_op_rows_of(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                          size_t *n, size_t *k);
/* t must be a [n, k] matrix: checked with fcl_op_check_t, shape[0] == n and numel n * k. */
fcl_status fcl_op_check_rows(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                             size_t n, size_t k);
/* 1 when the element ranges of a and b share memory (either NULL: 0). */
int fcl_op_overlaps(const fcl_tensor *a, const fcl_tensor *b);
/* 1 when t (may be NULL) overlaps any of the `count` tensors in ts (NULL entries skipped). */
int fcl_op_overlaps_any(const fcl_tensor *t, const fcl_tensor *const *ts, int count);
/* 1 when a and b are exactly the same elements (in-place use). */
int fcl_op_same(const fcl_tensor *a, const fcl_tensor *b);

/* Compatibility for callers outside host/ops that still name tuning values by text (host/nn):
 * the typed value NAME of `family` (facecl/tuning.h), or dflt when the family has none. New code
 * reads fcl_tuning_int(ctx, FCL_T_...) directly. */
int fcl_op_tuning_int(const fcl_ctx *ctx, const char *family, const char *name, int dflt);
/* FCL_VEC of `family` (2, 4, 8 or 16: the table's range checks it when it is set). */
fcl_status fcl_op_tuning_vec(fcl_ctx *ctx, const char *family, int *vec);

/* Work-group size for a one-group-per-row tree reduction with kernel k: the largest power of
 * two <= min(wanted, device max, the kernel's limit). */
fcl_status fcl_op_reduce_wg(fcl_ctx *ctx, cl_kernel k, size_t wanted, size_t *out);

/* Sequential kernel arguments; the first failure sticks (its message is in the context). */
typedef struct fcl_op_args {
    fcl_ctx *ctx;
    cl_kernel k;
    unsigned i;
    fcl_status st;
    cl_mem dummy;     /* bound for NULL tensors (the kernel is told by a flag not to touch it) */
} fcl_op_args;

void fcl_op_args_init(fcl_op_args *a, fcl_ctx *ctx, cl_kernel k, cl_mem dummy);
void fcl_op_arg_i(fcl_op_args *a, int v);
void fcl_op_arg_f(fcl_op_args *a, float v);
/* A tensor as (buffer, int element offset); NULL binds the dummy buffer and offset 0. */
void fcl_op_arg_t(fcl_op_args *a, const fcl_tensor *t);
/* Local memory of `bytes`. */
void fcl_op_arg_local(fcl_op_args *a, size_t bytes);
/* A raw argument of `size` bytes at v (cl_ulong seeds, cl_uint thresholds). */
void fcl_op_arg_raw(fcl_op_args *a, size_t size, const void *v);

/* A pooled f32 scratch of `rows` x `cols` (1-D [rows] when cols == 1), zero-filled when asked. */
fcl_status fcl_op_temp(fcl_ctx *ctx, fcl_tensor *t, size_t rows, size_t cols, int zero);

/* Runs k over `items` work-items in 1-D groups of the device's preferred size (fcl_ctx_wg1d). */
fcl_status fcl_op_run_1d(fcl_ctx *ctx, cl_kernel k, size_t items);
/* 2-D launch over (g0 columns, g1 rows); the driver picks the group shape, so a narrow first
 * dimension is not padded to a wide group. */
fcl_status fcl_op_run_2d(fcl_ctx *ctx, cl_kernel k, size_t g0, size_t g1);

/* Row kernels (one result per row of an [n, k] matrix) come in two shapes: `name`, one
 * work-item per row looping over it (CPUs), and `name`_wg, one work-group per row with a
 * work-group reduction (GPUs), both in `file`, built as "reduce.cl+<file>" with the "loss"
 * tuning family. Its FCL_ROW_WG picks: 0 the first, > 0 the second with groups of that size (a
 * power of two within the device's and the kernel's limits). *wg: 0 for the first shape. */
fcl_status fcl_op_rows_kernel(fcl_ctx *ctx, const char *file, const char *name, cl_kernel *k, size_t *wg);
/* Launches a row kernel over n rows; its arguments are in a, after which the _wg shape gets its
 * local scratch of wg floats. */
fcl_status fcl_op_rows_run(fcl_ctx *ctx, cl_kernel k, size_t wg, fcl_op_args *a, size_t n);

static inline size_t fcl_op_div_up(size_t a, size_t b) { return (a + b - 1) / b; }

#endif
