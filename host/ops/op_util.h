/* host/ops/op_util.h: argument checks and kernel-launch plumbing shared by op launchers (internal). */
#ifndef FACECL_OPS_OP_UTIL_H
#define FACECL_OPS_OP_UTIL_H

#include <stddef.h>
#include "facecl/context.h"
#include "facecl/tensor.h"
#include "facecl/tuning.h"

/* Where launchers record errors: the context's error slot. */
#define ERRP(ctx) fcl_ctx_error(ctx)

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
/* t must be a non-NULL f32 tensor with a buffer holding exactly `want` elements (the count its
 * op's parameters give), addressable with int indices. */
fcl_status fcl_op_check_count(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t, double want);
/* Outputs that the kernels write while reading inputs: a must not share memory with b (either
 * NULL passes); "op: na overlaps nb". */
fcl_status fcl_op_check_apart(fcl_ctx *ctx, const char *op, const char *na, const fcl_tensor *a, const char *nb,
                              const fcl_tensor *b);
/* t (NULL passes) must not overlap any of the `count` tensors in ts (NULL entries skipped):
 * "op: name overlaps what". */
fcl_status fcl_op_check_apart_any(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                                  const fcl_tensor *const *ts, int count, const char *what);
/* The two gradients a and b of a backward (either may be NULL) must not overlap any of the
 * `count` inputs in ins nor each other: "op: na or nb overlaps an input or each other". */
fcl_status fcl_op_check_grads_apart(fcl_ctx *ctx, const char *op, const char *na, const fcl_tensor *a,
                                    const char *nb, const fcl_tensor *b, const fcl_tensor *const *ins, int count);
/* The matrix views a [*na, *d] and b [*nb, *d] (fcl_op_rows_of) of two tensors whose rows must
 * have the same length: FCL_ERR_SHAPE "op: rows of an <shape> and bn <shape> differ in length". */
fcl_status fcl_op_rows_match(fcl_ctx *ctx, const char *op, const char *an, const fcl_tensor *a, size_t *na,
                             const char *bn, const fcl_tensor *b, size_t *nb, size_t *d);
/* 1 when the element ranges of a and b share memory (either NULL: 0). */
int fcl_op_overlaps(const fcl_tensor *a, const fcl_tensor *b);
/* 1 when t (may be NULL) overlaps any of the `count` tensors in ts (NULL entries skipped). */
int fcl_op_overlaps_any(const fcl_tensor *t, const fcl_tensor *const *ts, int count);
/* 1 when a and b are exactly the same elements (in-place use). */
int fcl_op_same(const fcl_tensor *a, const fcl_tensor *b);

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
/* A raw buffer (scratch that is not a tensor). */
void fcl_op_arg_m(fcl_op_args *a, cl_mem m);
/* Local memory of `bytes`. */
void fcl_op_arg_local(fcl_op_args *a, size_t bytes);
/* A raw argument of `size` bytes at v (cl_ulong seeds, cl_uint thresholds). */
void fcl_op_arg_raw(fcl_op_args *a, size_t size, const void *v);

/* C [m, n] = op(A) op(B) + beta C over the tensors' buffers at their offsets (row-major, packed),
 * op transposing where ta / tb; beta 0: C is not read (its recycled contents may be anything). */
fcl_status fcl_op_gemm(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, int ta, const fcl_tensor *b, int tb,
                       size_t m, size_t n, size_t k, float beta);
/* fcl_op_gemm(c, a, 0, b, 1, m, n, k, 0.0f) where that runs gemm_wt (a classifier's forward against
 * >= 1024 classes on CPUs, or CONV_LINEAR 4), also rb [n] = 1 / max(||b_j||, FCL_L2NORM_EPS) and
 * q [n] (rb, or 0 where clamped) as cl/margin_head.cl head_w_norms finds them, from b's rows while
 * the product has them in L1; *done 0 and nothing run otherwise (the caller's other path). */
fcl_status fcl_op_gemm_abt_norms(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, const fcl_tensor *b,
                                 size_t m, size_t n, size_t k, const fcl_tensor *rb, const fcl_tensor *q, int *done);

/* C [m, n] = A B (B [k, n] row-major: W, k the classes) on gemm_wt_dx with A [m, k] in panels of pw
 * columns, A(i, j) = a[((j / pw) m + i) pw + j % pw] (a margin head's dt, cl/margin_head.cl
 * HEAD_PANEL), where fcl_op_gemm_ab_panels_ok says fcl_op_gemm would run that kernel for A B. */
int fcl_op_gemm_ab_panels_ok(fcl_ctx *ctx, size_t m, size_t n, size_t k, size_t pw);
fcl_status fcl_op_gemm_ab_panels(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, size_t pw, const fcl_tensor *b,
                                 size_t m, size_t n, size_t k);

/* A pooled f32 scratch of `rows` x `cols` (1-D [rows] when cols == 1), zero-filled when asked. */
fcl_status fcl_op_temp(fcl_ctx *ctx, fcl_tensor *t, size_t rows, size_t cols, int zero);

/* Runs k over `items` work-items in 1-D groups of the device's preferred size (fcl_ctx_wg1d). */
fcl_status fcl_op_run_1d(fcl_ctx *ctx, cl_kernel k, size_t items);
/* 2-D launch over (g0 columns, g1 rows); the driver picks the group shape, so a narrow first
 * dimension is not padded to a wide group. */
fcl_status fcl_op_run_2d(fcl_ctx *ctx, cl_kernel k, size_t g0, size_t g1);

/* ---- op descriptors: check -> bind -> run written once ------------------------------------- */

/* An op family's program and tuning: the '+'-joined .cl files ("reduce.cl+loss.cl"; the
 * program builder puts cl/preamble.cl first) built with the family's tuning options
 * (FCL_TF_COUNT: a program without tuning values, built with the capability defines only). */
typedef struct fcl_op_src {
    const char *program;
    fcl_tune_family family;
} fcl_op_src;

/* Kernel `name` of src's program, built (once per context and options) with its tuning. */
fcl_status fcl_op_kernel(fcl_ctx *ctx, const fcl_op_src *src, const char *name, cl_kernel *k);

/* One kernel argument, typed: a tensor (bound as buffer + int element offset; NULL binds another
 * tensor's buffer with offset 0: the kernel is told by a flag or size not to touch it), an int, a
 * float, a cl_uint, a cl_ulong or local memory of some bytes. The argument schema of a call is
 * its list of these, checked against the kernel's argument count (a tensor counts two). */
typedef struct fcl_op_val {
    char kind;                    /* 't', 'i', 'f', 'u' (cl_uint), 'U' (cl_ulong), 'l' (local bytes) */
    const fcl_tensor *t;
    double f;
    long long i;
} fcl_op_val;
#define OP_T(x) ((fcl_op_val){'t', (x), 0.0, 0})
#define OP_I(x) ((fcl_op_val){'i', NULL, 0.0, (long long)(x)})
#define OP_F(x) ((fcl_op_val){'f', NULL, (double)(x), 0})
#define OP_U32(x) ((fcl_op_val){'u', NULL, 0.0, (long long)(x)})
#define OP_U64(x) ((fcl_op_val){'U', NULL, 0.0, (long long)(x)})
#define OP_LOCAL(bytes) ((fcl_op_val){'l', NULL, 0.0, (long long)(bytes)})

/* How a call is launched. */
typedef enum fcl_op_grid {
    FCL_GRID_1D,     /* g[0] work-items in groups of the device's 1-D size (fcl_ctx_wg1d) */
    FCL_GRID_ND,     /* dims dimensions of g, groups of l (NULL: the driver's choice) */
    FCL_GRID_VEC,    /* g[0] elements, FCL_VEC (of src's family) per work-item, 1-D groups as FCL_GRID_1D */
    FCL_GRID_ROWS,   /* a row kernel over g[0] rows: `name` or `name`_wg by the "loss" family's
                      * FCL_ROW_WG (fcl_op_rows_kernel), its local scratch appended */
} fcl_op_grid;

/* The FCL_VEC tuning value of src's family (elements per work-item of its streaming kernels). */
int fcl_op_vec(const fcl_ctx *ctx, const fcl_op_src *src);
/* Gets kernel `name` of src, binds vals[0..n) in order, checks that they are all of its
 * arguments, and enqueues it. */
fcl_status fcl_op_call(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_op_grid grid, unsigned dims,
                       const size_t *g, const size_t *l, const fcl_op_val *vals, int n);
/* Row kernels (one result per row of an [n, k] matrix) come in two shapes: `name`, one
 * work-item per row looping over it (CPUs), and `name`_wg, one work-group per row with a
 * work-group reduction (GPUs), both in src's program (after reduce.cl). The "loss" family's
 * FCL_ROW_WG picks: 0 the first, > 0 the second with groups of that size (a power of two within
 * the device's and the kernel's limits). *wg: 0 for the first shape. */
fcl_status fcl_op_rows_kernel(fcl_ctx *ctx, const fcl_op_src *src, const char *name, cl_kernel *k, size_t *wg);
/* The same with a kernel already fetched (fcl_op_kernel: e.g. after sizing a work-group from
 * its limits): binds, checks the count, enqueues over dims of g in groups of l (NULL: the
 * driver's; FCL_GRID_1D: dims 1 in groups of fcl_ctx_wg1d). */
fcl_status fcl_op_run(fcl_ctx *ctx, cl_kernel k, fcl_op_grid grid, unsigned dims, const size_t *g, const size_t *l,
                      const fcl_op_val *vals, int n);
#define FCL_OP_RUN_1D(ctx, k, items, ...) \
    fcl_op_run(ctx, k, FCL_GRID_1D, 1, (const size_t[]){(items)}, NULL, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_RUN_2D(ctx, k, g0, g1, ...) \
    fcl_op_run(ctx, k, FCL_GRID_ND, 2, (const size_t[]){(g0), (g1)}, NULL, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_RUN_ND(ctx, k, dims, g, l, ...) fcl_op_run(ctx, k, FCL_GRID_ND, dims, g, l, FCL_OP_VALS(__VA_ARGS__))
/* Checks that a's arguments are all of its kernel's (a failed bind returns its status), then
 * enqueues it over dims of g in groups of l (NULL: the driver's choice). */
fcl_status fcl_op_args_run(fcl_op_args *a, unsigned dims, const size_t *g, const size_t *l);
/* Binds vals to k from argument 0 (for launchers that pick their own grid); *next: the next index. */
fcl_status fcl_op_bind(fcl_ctx *ctx, cl_kernel k, const fcl_op_val *vals, int n, unsigned *next);

#define FCL_OP_VALS(...) (const fcl_op_val[]){__VA_ARGS__}, (int)(sizeof((const fcl_op_val[]){__VA_ARGS__}) / sizeof(fcl_op_val))
/* The usual calls: over items (1-D), a 2-D range with the driver's groups, n rows. */
#define FCL_OP_1D(ctx, src, name, items, ...) \
    fcl_op_call(ctx, src, name, FCL_GRID_1D, 1, (const size_t[]){(items)}, NULL, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_VEC(ctx, src, name, elements, ...) \
    fcl_op_call(ctx, src, name, FCL_GRID_VEC, 1, (const size_t[]){(elements)}, NULL, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_2D(ctx, src, name, g0, g1, ...) \
    fcl_op_call(ctx, src, name, FCL_GRID_ND, 2, (const size_t[]){(g0), (g1)}, NULL, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_3D(ctx, src, name, g0, g1, g2, ...) \
    fcl_op_call(ctx, src, name, FCL_GRID_ND, 3, (const size_t[]){(g0), (g1), (g2)}, NULL, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_SINGLE(ctx, src, name, ...) \
    fcl_op_call(ctx, src, name, FCL_GRID_ND, 1, (const size_t[]){1}, (const size_t[]){1}, FCL_OP_VALS(__VA_ARGS__))
#define FCL_OP_ROWS(ctx, src, name, rows, ...) \
    fcl_op_call(ctx, src, name, FCL_GRID_ROWS, 1, (const size_t[]){(rows)}, NULL, FCL_OP_VALS(__VA_ARGS__))

/* A loss as the mean of per-row values: row kernel `name` of src (FCL_GRID_ROWS) writes n values
 * into its first argument, rows [n] (NULL: a pooled scratch), its other arguments vals; then
 * loss [1] = scale * their sum in one fixed-order reduction (fcl_sum). */
fcl_status fcl_op_rows_sum(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_tensor *loss, fcl_tensor *rows,
                           size_t n, float scale, const fcl_op_val *vals, int nv);
#define FCL_OP_ROWS_SUM(ctx, src, name, loss, rows, n, scale, ...) \
    fcl_op_rows_sum(ctx, src, name, loss, rows, n, scale, FCL_OP_VALS(__VA_ARGS__))

/* Returns each of the n pooled scratch tensors ts to the pool (fcl_tensor_release; zero-initialised
 * ones that were never allocated are fine): FCL_OP_RELEASE(ctx, &a, &b, ...). */
void fcl_op_release(fcl_ctx *ctx, fcl_tensor *const *ts, size_t n);
#define FCL_OP_RELEASE(ctx, ...) \
    fcl_op_release(ctx, (fcl_tensor *const[]){__VA_ARGS__}, sizeof((fcl_tensor *const[]){__VA_ARGS__}) / sizeof(fcl_tensor *))

static inline size_t fcl_op_div_up(size_t a, size_t b) { return (a + b - 1) / b; }

#endif
