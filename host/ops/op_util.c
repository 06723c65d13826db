/* host/ops/op_util.c: argument checks and kernel-launch plumbing shared by op launchers. */
#include "ops/op_util.h"

#include "facecl/gemm.h"
#include "facecl/ops_loss.h"
#include "facecl/ops_eltwise.h"
#include "facecl/tuning.h"
#include "ops/conv_cpu.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fcl_status fcl_op_check(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                        int min_ndim, int max_ndim)
{
    fcl_error *e = fcl_ctx_error(ctx);
    if (!t || !t->buf)
        return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: %s is missing (NULL or without a buffer)", op, name);
    if (t->dtype != FCL_F32)
        return FCL_ERR(e, FCL_ERR_UNSUPPORTED, "%s: %s must be f32", op, name);
    if (t->ndim < min_ndim || t->ndim > max_ndim) {
        char s[96];
        fcl_tensor_shape_str(t, s, sizeof s);
        if (min_ndim == max_ndim)
            return FCL_ERR(e, FCL_ERR_SHAPE, "%s: %s must have %d dims, got %s", op, name, min_ndim, s);
        return FCL_ERR(e, FCL_ERR_SHAPE, "%s: %s must have %d..%d dims, got %s", op, name, min_ndim,
                       max_ndim, s);
    }
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0)
            return FCL_ERR(e, FCL_ERR_SHAPE, "%s: %s has an empty dimension %d", op, name, i);
    if (t->offset + fcl_tensor_numel(t) > (size_t)INT_MAX)
        return FCL_ERR(e, FCL_ERR_SHAPE, "%s: %s (offset %zu + %zu elements) is too large for 32-bit "
                       "element indexing", op, name, t->offset, fcl_tensor_numel(t));
    return FCL_OK;
}

fcl_status fcl_op_check_t(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t)
{
    return fcl_op_check(ctx, op, name, t, 1, FCL_MAX_DIMS);
}

fcl_status fcl_op_check_opt(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                            int min_ndim, int max_ndim)
{
    return t ? fcl_op_check(ctx, op, name, t, min_ndim, max_ndim) : FCL_OK;
}

fcl_status fcl_op_check_numel(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                              size_t want, const char *what)
{
    if (!t || fcl_tensor_numel(t) == want) return FCL_OK;
    char s[96];
    fcl_tensor_shape_str(t, s, sizeof s);
    return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: %s %s must have %zu elements (%s)", op,
                   name, s, want, what);
}

fcl_status fcl_op_check_same_shape(fcl_ctx *ctx, const char *op, const char *na,
                                   const fcl_tensor *a, const char *nb, const fcl_tensor *b)
{
    int same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (same) return FCL_OK;
    char sa[96], sb[96];
    fcl_tensor_shape_str(a, sa, sizeof sa);
    fcl_tensor_shape_str(b, sb, sizeof sb);
    return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: %s %s and %s %s must have the same shape",
                   op, na, sa, nb, sb);
}

fcl_status fcl_op_check_same_numel(fcl_ctx *ctx, const char *op, const char *na,
                                   const fcl_tensor *a, const char *nb, const fcl_tensor *b)
{
    if (fcl_tensor_numel(a) == fcl_tensor_numel(b))
        return FCL_OK;
    char sa[96], sb[96];
    fcl_tensor_shape_str(a, sa, sizeof sa);
    fcl_tensor_shape_str(b, sb, sizeof sb);
    return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_SHAPE, "%s: %s %s and %s %s differ in element count",
                   op, na, sa, nb, sb);
}

fcl_status fcl_op_rows_of(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                          size_t *n, size_t *k)
{
    fcl_status st = fcl_op_check_t(ctx, op, name, t);
    if (st)
        return st;
    *n = t->shape[0];
    *k = fcl_tensor_numel(t) / *n;
    return FCL_OK;
}

fcl_status fcl_op_check_rows(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                             size_t n, size_t k)
{
    fcl_status st = fcl_op_check_t(ctx, op, name, t);
    if (st)
        return st;
    if (t->shape[0] == n && fcl_tensor_numel(t) == n * k)
        return FCL_OK;
    char s[96];
    fcl_tensor_shape_str(t, s, sizeof s);
    if (k == 1)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s is %s, expected [%zu]", op, name, s, n);
    return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s is %s, expected [%zu, %zu] (or [%zu, ...] with %zu "
                   "values per row)", op, name, s, n, k, n, k);
}

fcl_status fcl_op_check_count(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t, double want)
{
    if (!t || !t->buf)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s is missing (NULL or no buffer)", op, name);
    if (t->dtype != FCL_F32) return FCL_ERR(ERRP(ctx), FCL_ERR_UNSUPPORTED, "%s: %s must be f32", op, name);
    size_t n = fcl_tensor_numel(t);
    if ((double)n != want) {
        char s[96];
        fcl_tensor_shape_str(t, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s has %zu elements, the params need %.0f", op, name, s,
                       n, want);
    }
    if (t->offset + n > (size_t)INT_MAX)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s (offset %zu + %zu elements) is too large for 32-bit "
                       "element indexing", op, name, t->offset, n);
    return FCL_OK;
}

fcl_status fcl_op_check_apart(fcl_ctx *ctx, const char *op, const char *na, const fcl_tensor *a, const char *nb,
                              const fcl_tensor *b)
{
    return fcl_op_overlaps(a, b) ? FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s overlaps %s", op, na, nb) : FCL_OK;
}

fcl_status fcl_op_check_apart_any(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                                  const fcl_tensor *const *ts, int count, const char *what)
{
    if (fcl_op_overlaps_any(t, ts, count))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s overlaps %s", op, name, what);
    return FCL_OK;
}

fcl_status fcl_op_check_grads_apart(fcl_ctx *ctx, const char *op, const char *na, const fcl_tensor *a,
                                    const char *nb, const fcl_tensor *b, const fcl_tensor *const *ins, int count)
{
    if (fcl_op_overlaps_any(a, ins, count) || fcl_op_overlaps_any(b, ins, count) || fcl_op_overlaps(a, b))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s or %s overlaps an input or each other", op, na, nb);
    return FCL_OK;
}

fcl_status fcl_op_rows_match(fcl_ctx *ctx, const char *op, const char *an, const fcl_tensor *a, size_t *na,
                             const char *bn, const fcl_tensor *b, size_t *nb, size_t *d)
{
    size_t db;
    fcl_status st;
    if ((st = fcl_op_rows_of(ctx, op, an, a, na, d)) || (st = fcl_op_rows_of(ctx, op, bn, b, nb, &db)))
        return st;
    if (db == *d)
        return FCL_OK;
    char sa[96], sb[96];
    fcl_tensor_shape_str(a, sa, sizeof sa);
    fcl_tensor_shape_str(b, sb, sizeof sb);
    return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: rows of %s %s and %s %s differ in length", op, an, sa, bn, sb);
}

int fcl_op_overlaps(const fcl_tensor *a, const fcl_tensor *b)
{
    if (!a || !b) return 0;
    return a->buf == b->buf && a->offset < b->offset + fcl_tensor_numel(b) &&
           b->offset < a->offset + fcl_tensor_numel(a);
}

int fcl_op_overlaps_any(const fcl_tensor *t, const fcl_tensor *const *ts, int count)
{
    for (int i = 0; i < count; i++)
        if (fcl_op_overlaps(t, ts[i]))
            return 1;
    return 0;
}

int fcl_op_same(const fcl_tensor *a, const fcl_tensor *b)
{
    return a && b && a->buf == b->buf && a->offset == b->offset &&
           fcl_tensor_numel(a) == fcl_tensor_numel(b);
}

fcl_status fcl_op_reduce_wg(fcl_ctx *ctx, cl_kernel k, size_t wanted, size_t *out)
{
    size_t kmax = 0;
    cl_int rc = clGetKernelWorkGroupInfo(k, fcl_ctx_device(ctx)->device_id,
                                         CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax, NULL);
    if (rc != CL_SUCCESS)
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_OPENCL,
                       "clGetKernelWorkGroupInfo(CL_KERNEL_WORK_GROUP_SIZE): %s",
                       fcl_cl_error_name(rc));
    size_t lim = wanted;
    size_t dmax = fcl_ctx_device(ctx)->max_work_group;
    if (dmax && dmax < lim) lim = dmax;
    if (kmax && kmax < lim) lim = kmax;
    size_t wg = 1;
    while (wg * 2 <= lim) wg *= 2;
    *out = wg;
    return FCL_OK;
}

void fcl_op_args_init(fcl_op_args *a, fcl_ctx *ctx, cl_kernel k, cl_mem dummy)
{
    a->ctx = ctx;
    a->k = k;
    a->i = 0;
    a->st = FCL_OK;
    a->dummy = dummy;
}

void fcl_op_arg_raw(fcl_op_args *a, size_t size, const void *v)
{
    if (a->st == FCL_OK) a->st = fcl_kernel_arg(a->ctx, a->k, a->i, size, v);
    a->i++;
}

void fcl_op_arg_i(fcl_op_args *a, int v) { fcl_op_arg_raw(a, sizeof v, &v); }
void fcl_op_arg_f(fcl_op_args *a, float v) { fcl_op_arg_raw(a, sizeof v, &v); }

void fcl_op_arg_t(fcl_op_args *a, const fcl_tensor *t)
{
    cl_mem m = t ? t->buf : a->dummy;
    fcl_op_arg_raw(a, sizeof m, &m);
    fcl_op_arg_i(a, t ? (int)t->offset : 0);
}

void fcl_op_arg_m(fcl_op_args *a, cl_mem m) { fcl_op_arg_raw(a, sizeof m, &m); }

void fcl_op_arg_local(fcl_op_args *a, size_t bytes) { fcl_op_arg_raw(a, bytes, NULL); }

/* C [m, n] (+)= A [m, k] B^T (B stored [n, k], both row-major) on conv_gemm_nt: each output is a
 * dot product along a row of A and a row of B, read in place. This is the forward of a linear
 * layer or a margin head (B: the [classes, 512] weights), which conv_gemm_nn would first repack
 * (all of W, every call) and then store transposed. conv_gemm_nt accumulates, so C is zeroed
 * first for beta 0. A long reduction goes in slices of kc columns, each accumulated into C: a
 * slice of A (m x kc floats, 512 KiB) stays in L2 while every row block of B passes over it. */
static fcl_status gemm_abt(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *c, const fcl_tensor *a,
                           const fcl_tensor *b, size_t m, size_t n, size_t k, int accumulate, size_t kc)
{
    fcl_tensor cz = *c;
    fcl_status st = accumulate ? FCL_OK : fcl_tensor_fill(ctx, &cz, 0.0f);
    if (!kc) kc = (size_t)131072 / m / 64 * 64 < 512 ? 512 : (size_t)131072 / m / 64 * 64;
    for (size_t k0 = 0; !st && k0 < k; k0 += kc) {
        size_t len = k - k0 < kc ? k - k0 : kc;
        fcl_conv_operand ao = {a->buf, (int)(a->offset + k0), 0, (int)k, 0, 0},
                         bo = {b->buf, (int)(b->offset + k0), 0, (int)k, 0, 0};
        st = fcl_conv_gemm_nt(ctx, t, 1, (int)m, (int)n, (int)len, 1, &ao, &bo, c);
    }
    return st;
}

/* The classifiers' products over the classes on cl/gemm_wt.cl, the long operand read in place
 * as the kernel's broadcast A and the batch-sized one copied as its vector operand bt (k x ld
 * floats, ld: whole column blocks, in panels of a column block each), work-groups of all column
 * blocks of up to 16 row blocks (why: cl/gemm_wt.cl). ta 0: C [m, n] (+)= A [m, k] B^T, B [n, k]
 * the long one (a forward: bt = A^T, C written with B's rows along its rows); ta 1: C [m, n] (+)=
 * A^T B, A [k, m] the long one (a weight gradient dy^T x: bt = B = x). */
static const fcl_op_src WT = {"row_ss8.cl+gemm_wt.cl", FCL_TF_CONV};
static fcl_status gemm_wt(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *c, const fcl_tensor *a, int ta,
                          const fcl_tensor *b, size_t m, size_t n, size_t k, int accumulate, const fcl_tensor *rb,
                          const fcl_tensor *q)
{
    const fcl_tensor *wide = ta ? a : b, *narrow = ta ? b : a;
    size_t rows = ta ? m : n, cols = ta ? n : m, nb = (size_t)t->nb, ld = fcl_op_div_up(cols, nb) * nb,
           cb = ld / nb, lm = 16;
    fcl_tensor pad = {0};
    /* the narrow operand in panels of nb columns (gemm_wt_bt; why: cl/gemm_wt.cl) */
    fcl_status st = fcl_op_temp(ctx, &pad, k, ld, 0);
    if (!st)
        st = FCL_OP_2D(ctx, &WT, "gemm_wt_bt", ld, k, OP_T(&pad), OP_I(nb), OP_I(k * nb), OP_T(narrow), OP_I(cols),
                       OP_I(k), OP_I(ta ? 1 : k), OP_I(ta ? n : 1));
    while (lm > 1 && cb * lm > 256) lm /= 2;
    /* CONV_WT_RB_FAST 1: the work-group's row blocks in dim 0, its work-items a column block's row blocks in a row */
    const int rf = fcl_tuning_int(ctx, FCL_T_CONV_WT_RB_FAST) > 0;
    size_t g[2] = {cb, fcl_op_div_up(fcl_op_div_up(rows, (size_t)t->mb), lm) * lm}, l[2] = {cb, lm};
    if (rf) {
        size_t t0 = g[0]; g[0] = g[1]; g[1] = t0;
        t0 = l[0]; l[0] = l[1]; l[1] = t0;
    }
    if (!st)
        st = fcl_op_call(ctx, &WT, "gemm_wt", FCL_GRID_ND, 2, g, cb <= 256 ? l : NULL,
                         FCL_OP_VALS(OP_I(rows), OP_I(cols), OP_I(k), OP_T(wide), OP_I(ta ? 1 : k), OP_I(ta ? m : 1),
                                     OP_T(&pad), OP_I(nb), OP_I(k * nb), OP_T(c), OP_I(ta ? n : 1), OP_I(ta ? 1 : n),
                                     OP_I(accumulate), OP_I(k), OP_I(0), OP_T(rb), OP_T(q), OP_I(rb != NULL),
                                     OP_F(FCL_L2NORM_EPS), OP_I(rf)));
    fcl_tensor_release(ctx, &pad);   /* in-order queue: a later user of the block runs after gemm_wt */
    return st;
}
#define WT_NO_NORMS OP_T(NULL), OP_T(NULL), OP_I(0), OP_F(0.0f)

/* C [m, n] (+)= A [m, k] B [k, n] for a long reduction (a head's dx = D W: k = the classes) on
 * gemm_wt in slices of kc rows of B, neither operand packed: A read in place as the broadcast
 * operand (CONV_MB rows, each a sequential stream), B's slice rows in place as bt (copied into
 * whole column blocks only where n is not a multiple of them: the op tests' odd blocks), each
 * slice accumulated into C. A work-group is one column block x all row blocks (up to 64), row
 * blocks fastest: the group's strip of B (kc x 64 B: 8 KiB at kc 128) comes from memory once and
 * then from L1 for every row block, A's slice (m x kc floats, 64 KiB at batch 128) from L2.
 * CONV_WT_SPLIT G > 0: split K instead, one launch (grid dim 2: G groups of whole slices, each
 * work-item summing its group's slices in registers into the group's partial C, column blocks
 * fastest so that a group's A range stays in L2), then gemm_wt_sum adds the G partials into C
 * in a fixed order: 2 launches instead of k / kc (83 at 10575 classes, each re-reading C).
 * CONV_WT_DX C > 0 (CPU256): neither, gemm_wt_dx in one launch (C column blocks x 128 rows a
 * work-item, W's sub-slices copied into private memory; why: cl/gemm_wt.cl). */
/* B [k, n] copied with rows of ld floats (whole column blocks) where n is not a multiple of them
 * (the op tests' odd blocks); pad untouched otherwise */
static fcl_status pad_rows(fcl_ctx *ctx, fcl_tensor *pad, const fcl_tensor *b, size_t n, size_t k, size_t ld, size_t nb)
{
    if (ld == n) return FCL_OK;
    fcl_status st = fcl_op_temp(ctx, pad, k, ld, 0);
    return st ? st : FCL_OP_2D(ctx, &WT, "gemm_wt_bt", ld, k, OP_T(pad), OP_I(ld), OP_I(nb), OP_T(b), OP_I(n), OP_I(k),
                               OP_I(1), OP_I(n));
}
#define FCL_WT_DX_ROWS 128   /* gemm_wt_dx's rows a work-item (WT_DX_ROWS, cl/gemm_wt.cl) */
#define FCL_WT_DX_KB 64      /* its sub-slices of K (WT_DX_KB): A's panels no wider */
/* C [m, n] (+)= A B on gemm_wt_dx (CONV_WT_DX column blocks a work-item, W's sub-slices copied
 * into private memory; why: cl/gemm_wt.cl), A(i, j) = a[i a_m + (j / pw) a_p + j % pw]:
 * row-major (a_m k, pw k) or in panels of pw columns */
static fcl_status gemm_wt_dx(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *c, const fcl_tensor *a,
                             size_t a_m, size_t a_p, size_t pw, const fcl_tensor *b, size_t m, size_t n, size_t k,
                             int accumulate)
{
    size_t nb = (size_t)t->nb, ld = fcl_op_div_up(n, nb) * nb,
           g[2] = {fcl_op_div_up(ld / nb, (size_t)fcl_tuning_int(ctx, FCL_T_CONV_WT_DX)), fcl_op_div_up(m, FCL_WT_DX_ROWS)},
           l[2] = {1, 1};
    fcl_tensor pad = {0};
    fcl_status st = pad_rows(ctx, &pad, b, n, k, ld, nb);
    if (!st)
        st = fcl_op_call(ctx, &WT, "gemm_wt_dx", FCL_GRID_ND, 2, g, l,
                         FCL_OP_VALS(OP_I(m), OP_I(n), OP_I(k), OP_T(a), OP_I(a_m), OP_I(a_p), OP_I(pw),
                                     OP_T(ld != n ? &pad : b), OP_I(ld), OP_T(c), OP_I(accumulate)));
    fcl_tensor_release(ctx, &pad);   /* in-order queue: a later user runs after gemm_wt_dx */
    return st;
}
#define FCL_WT_SPLIT_ROWS 64   /* batch 128: G partials of 256 KiB, a group's A range past L2: slower (CONV_WT_SPLIT) */
static fcl_status gemm_ab_wt(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *c, const fcl_tensor *a,
                             const fcl_tensor *b, size_t m, size_t n, size_t k, int accumulate, size_t kc)
{
    if (fcl_tuning_int(ctx, FCL_T_CONV_WT_DX) > 0)
        return gemm_wt_dx(ctx, t, c, a, k, 0, k, b, m, n, k, accumulate);
    if (!kc) kc = (size_t)65536 / n < 16 ? 16 : (size_t)65536 / n;
    size_t nb = (size_t)t->nb, ld = fcl_op_div_up(n, nb) * nb, cb = ld / nb, rb = fcl_op_div_up(m, (size_t)t->mb),
           lm = rb <= 64 ? rb : 16, g[2] = {cb, fcl_op_div_up(rb, lm) * lm}, l[2] = {1, lm},
           split = m <= FCL_WT_SPLIT_ROWS ? (size_t)fcl_tuning_int(ctx, FCL_T_CONV_WT_SPLIT) : 0;
    fcl_tensor pad = {0};
    if (split) {
        size_t kg = fcl_op_div_up(fcl_op_div_up(k, kc), split) * kc, groups = fcl_op_div_up(k, kg),
               g3[3] = {g[0], g[1], groups}, l3[3] = {1, lm, 1};
        fcl_tensor part = {0};
        fcl_status st = pad_rows(ctx, &pad, b, n, k, ld, nb);
        if (!st && (st = fcl_op_temp(ctx, &part, groups * m, n, 0)) == FCL_OK)
            st = fcl_op_call(ctx, &WT, "gemm_wt", FCL_GRID_ND, 3, g3, l3,
                             FCL_OP_VALS(OP_I(m), OP_I(n), OP_I(k), OP_T(a), OP_I(k), OP_I(1),
                                         OP_T(ld != n ? &pad : b), OP_I(ld), OP_I(nb), OP_T(&part), OP_I(n), OP_I(1),
                                         OP_I(0), OP_I(kg), OP_I(m * n), WT_NO_NORMS, OP_I(0)));
        if (!st)
            st = FCL_OP_1D(ctx, &WT, "gemm_wt_sum", m * n, OP_T(c), OP_T(&part), OP_I(m * n), OP_I(groups),
                           OP_I(accumulate));
        fcl_tensor_release(ctx, &part);   /* in-order queue: gemm_wt_sum runs first */
        fcl_tensor_release(ctx, &pad);
        return st;
    }
    fcl_status st = ld != n ? fcl_op_temp(ctx, &pad, kc, ld, 0) : FCL_OK;
    for (size_t k0 = 0; !st && k0 < k; k0 += kc) {
        size_t len = k - k0 < kc ? k - k0 : kc;
        fcl_tensor av = *a, bv = *b;
        av.offset += k0;
        bv.offset += k0 * n;
        if (ld != n && (st = FCL_OP_2D(ctx, &WT, "gemm_wt_bt", ld, len, OP_T(&pad), OP_I(ld), OP_I(nb), OP_T(&bv),
                                       OP_I(n), OP_I(len), OP_I(1), OP_I(n))))
            break;
        st = fcl_op_call(ctx, &WT, "gemm_wt", FCL_GRID_ND, 2, g, l,
                         FCL_OP_VALS(OP_I(m), OP_I(n), OP_I(len), OP_T(&av), OP_I(k), OP_I(1),
                                     OP_T(ld != n ? &pad : &bv), OP_I(ld), OP_I(nb), OP_T(c), OP_I(n), OP_I(1),
                                     OP_I(accumulate || k0 > 0), OP_I(len), OP_I(0), WT_NO_NORMS, OP_I(0)));
    }
    fcl_tensor_release(ctx, &pad);   /* in-order queue: a later user of the block runs after gemm_wt */
    return st;
}

/* C [m, n] (+)= A [m, k] B [k, n] on conv_gemm_nn in slices of kc rows of B (512 KiB), each
 * packed and accumulated into C. For long reductions (a head's backward: k = the classes): a
 * work-item streams a strip of B (16 floats of every row, n floats apart); over all of a
 * [10575, 512] B that is a new page every two rows for every row block of A, while a slice's
 * strips stay in the TLB and L2 across the row blocks (linear 128x512>10575 bwd_data 41-43 ->
 * 19-21 ms CPU time, loaded machine). */
static fcl_status gemm_ab_sliced(fcl_ctx *ctx, const fcl_conv_tune *t, const fcl_tensor *c, const fcl_tensor *a,
                                 const fcl_tensor *b, size_t m, size_t n, size_t k, int accumulate, size_t kc)
{
    if (!kc) kc = (size_t)131072 / n < 16 ? 16 : (size_t)131072 / n;
    cl_mem packed = NULL;
    size_t cap = 0;
    fcl_status st = FCL_OK;
    for (size_t k0 = 0; !st && k0 < k; k0 += kc) {
        int len = (int)(k - k0 < kc ? k - k0 : kc);
        fcl_tensor av = *a;
        av.offset += k0;
        if (packed) fcl_pool_free(ctx, packed, cap);   /* in-order queue: the last GEMM has read it */
        packed = NULL;
        if ((st = fcl_conv_pack(ctx, t, &packed, &cap, 1, (int)m, len, &av, 0, (int)k, 1)))
            break;
        fcl_conv_operand bo = {b->buf, (int)(b->offset + k0 * n), (int)n, (int)n, 0, 0},
                         co = {c->buf, (int)c->offset, (int)n, (int)n, 0, 0};
        st = fcl_conv_gemm_nn(ctx, t, 1, (int)m, len, (int)n, (int)n, packed, &bo, &co, NULL, accumulate || k0 > 0);
    }
    if (packed) fcl_pool_free(ctx, packed, cap);
    return st;
}

/* CONV_LINEAR (host/runtime/tuning_table.c): 0 CLBlast (up to 2^26 multiply-adds on CPUs); 1 the
 * conv kernels, chosen by shape: A B^T on gemm_wt (a batch against >= 1024 classes) or
 * conv_gemm_nt, A^T B with a long A on gemm_wt, A B with a reduction longer than 1024 and than
 * C's rows on sliced gemm_wt (B's rows whole column blocks) or sliced conv_gemm_nn, the rest on
 * conv_gemm_nn via fcl_conv_rowmajor_gemm; 2 that last path for all; 3 conv_gemm_nt / sliced
 * conv_gemm_nn for all A B^T / A B, in slices of 7; 4 gemm_wt for all A B^T, A^T B and (sliced,
 * in slices of 7) A B (3 and 4: so that the op tests force every path and slice tail on odd
 * shapes). */
static int gemm_mode(fcl_ctx *ctx, size_t m, size_t n, size_t k)
{
    int mode = fcl_tuning_int(ctx, FCL_T_CONV_LINEAR);
    /* a tuned CONV_LINEAR 0 never sends a margin head's GEMM to CLBlast on the CPU kernels (why:
     * fcl_gemm_clblast_may_run, host/runtime/gemm.c) */
    return !mode && !fcl_gemm_clblast_may_run(ctx, m, n, k) ? 1 : mode;
}
/* whether fcl_op_gemm runs C [m, n] = A [m, k] B^T (t: the conv tuning) on gemm_wt */
static int abt_on_wt(const fcl_conv_tune *t, int mode, const fcl_tensor *c, size_t m, size_t n, size_t k)
{
    int fits = !t->gpu && fcl_tensor_numel(c) == m * n && (double)m * k < INT_MAX && (double)n * k < INT_MAX &&
               (double)m * n < INT_MAX;
    return fits && (mode == 4 || (mode == 1 && n >= 1024 && m <= 128)) && (double)(m + 64) * k < INT_MAX;
}

/* whether fcl_op_gemm runs C [m, n] = A [m, k] B (C and A row-major, whole) on gemm_ab_wt: a long
 * reduction whose B rows are whole column blocks (a head's dx = D W, k = the classes) */
static int ab_on_wt(const fcl_conv_tune *t, int mode, size_t m, size_t n, size_t k)
{
    return !t->gpu && (double)m * k < INT_MAX && (double)n * k < INT_MAX && (double)m * n < INT_MAX &&
           ((mode == 1 && k > 1024 && k > n && n % (size_t)t->nb == 0) || mode == 4);
}

fcl_status fcl_op_gemm_abt_norms(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, const fcl_tensor *b,
                                 size_t m, size_t n, size_t k, const fcl_tensor *rb, const fcl_tensor *q, int *done)
{
    fcl_conv_tune t;
    int mode = gemm_mode(ctx, m, n, k);
    fcl_status st = fcl_conv_tune_get(ctx, &t);
    *done = 0;
    if (st || !mode || !abt_on_wt(&t, mode, c, m, n, k))
        return st;
    *done = 1;
    return gemm_wt(ctx, &t, c, a, 0, b, m, n, k, 0, rb, q);
}

/* whether fcl_op_gemm's C [m, n] = A [m, k] B [k, n] runs on gemm_wt_dx (what fcl_op_gemm_ab_panels needs) */
int fcl_op_gemm_ab_panels_ok(fcl_ctx *ctx, size_t m, size_t n, size_t k, size_t pw)
{
    fcl_conv_tune t;
    int mode = gemm_mode(ctx, m, n, k);
    return mode && !fcl_conv_tune_get(ctx, &t) && ab_on_wt(&t, mode, m, n, k) &&
           fcl_tuning_int(ctx, FCL_T_CONV_WT_DX) > 0 && pw && pw <= FCL_WT_DX_KB &&
           (double)(fcl_op_div_up(k, pw) * pw) * m < INT_MAX;
}

fcl_status fcl_op_gemm_ab_panels(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, size_t pw, const fcl_tensor *b,
                                 size_t m, size_t n, size_t k)
{
    fcl_conv_tune t;
    fcl_status st = fcl_conv_tune_get(ctx, &t);
    return st ? st : gemm_wt_dx(ctx, &t, c, a, pw, m * pw, pw, b, m, n, k, 0);
}

fcl_status fcl_op_gemm(fcl_ctx *ctx, const fcl_tensor *c, const fcl_tensor *a, int ta, const fcl_tensor *b, int tb,
                       size_t m, size_t n, size_t k, float beta)
{
    int mode = gemm_mode(ctx, m, n, k);
    if (mode && (beta == 0.0f || beta == 1.0f) && !(ta && tb)) {
        fcl_conv_tune t;
        fcl_status st = fcl_conv_tune_get(ctx, &t);
        if (st)
            return st;
        int fits = !ta && !t.gpu && fcl_tensor_numel(c) == m * n && (double)m * k < INT_MAX &&
                   (double)n * k < INT_MAX && (double)m * n < INT_MAX;
        size_t kc = mode >= 3 ? 7 : 0;
        /* gemm_wt for a classifier's forward (B: >= 1024 classes, A: a batch of <= 128 rows):
         * linear +b fwd, CPU ms against conv_gemm_nt (bench ops --filter +b, loaded Zen 3, 2
         * alternating pairs) 64x512>8631 14.0 / 13.1 -> 9.3 / 7.9, 64x512>10575 16.8 / 13.3 ->
         * 12.4 / 11.0, 128x512>8631 23.9 / 20.0 -> 17.9 / 17.4, 128x512>10575 27.1 / 23.1 ->
         * 21.3 / 20.6 */
        if (!ta && tb && abt_on_wt(&t, mode, c, m, n, k))
            return gemm_wt(ctx, &t, c, a, 0, b, m, n, k, beta != 0.0f, NULL, NULL);
        /* and for its weight gradient dW [m classes, n] = dy^T x, a batch of <= 128 (k) rows:
         * linear +db bwd_weight, CPU ms against conv_gemm_nn (fcl_conv_rowmajor_gemm: dy^T
         * packed, the packed panels streamed once per column block), bench ops --filter +db,
         * loaded, 4 alternating pairs, old -> new: 64x512>8631 14.0 / 14.7 / 11.6 / 12.8 ->
         * 16.6 / 10.1 / 11.2 / 10.6, 64x512>10575 19.4 / 14.3 / 13.6 / 17.7 -> 15.0 / 11.5 /
         * 12.3 / 11.5, 128x512>8631 28.9 / 20.8 / 19.7 / 24.0 -> 23.1 / 20.9 / 23.0 / 22.4,
         * 128x512>10575 35.3 / 23.6 / 24.6 / 28.7 -> 24.4 / 20.3 / 22.1 / 20.9 */
        if (ta && !tb && !t.gpu && (mode == 4 || (mode == 1 && m >= 1024 && k <= 128)) &&
            fcl_tensor_numel(c) == m * n && (double)(n + 64) * k < INT_MAX && (double)m * k < INT_MAX &&
            (double)m * n < INT_MAX)
            return gemm_wt(ctx, &t, c, a, 1, b, m, n, k, beta != 0.0f, NULL, NULL);
        if (fits && tb && (mode == 1 || mode == 3))
            return gemm_abt(ctx, &t, c, a, b, m, n, k, beta != 0.0f, kc);
        /* and for a long reduction A B whose B rows are whole column blocks (a head's dx = D W,
         * k = the classes, n = 512), in slices of 128 rows of B: linear bwd_data (the same
         * product alone), CPU ms of the four 512>8631 / 10575 rows summed, bench ops --filter
         * 512>, loaded Zen 3, alternating rounds: sliced conv_gemm_nn 78.0 / 73.1 / 77.9 / 83.6 /
         * 71.3 / 78.9 / 65.7 (mean 75.5) -> gemm_wt kc 128: 65.2 / 75.2 / 66.5 / 75.5 / 62.2 /
         * 66.5 / 69.0 / 72.3 / 60.6 (mean 68.1); kc 256 mean 72.6 (4), 512 82.5 (3), 64 74.5 (3) */
        if (fits && !tb && ab_on_wt(&t, mode, m, n, k))
            return gemm_ab_wt(ctx, &t, c, a, b, m, n, k, beta != 0.0f, kc);
        if (fits && !tb && ((mode == 1 && k > 1024 && k > n) || mode >= 3))
            return gemm_ab_sliced(ctx, &t, c, a, b, m, n, k, beta != 0.0f, kc);
        return fcl_conv_rowmajor_gemm(ctx, c, a, ta, b, tb, m, n, k, beta != 0.0f);
    }
    fcl_gemm_params g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1.0f, .beta = beta,
                         .a_off = a->offset, .b_off = b->offset, .c_off = c->offset};
    return fcl_gemm(ctx, c->buf, a->buf, b->buf, &g);
}

fcl_status fcl_op_temp(fcl_ctx *ctx, fcl_tensor *t, size_t rows, size_t cols, int zero)
{
    size_t shape[2] = {rows, cols};
    fcl_status st = fcl_tensor_alloc(ctx, t, cols > 1 ? 2 : 1, shape, FCL_F32);
    if (!st && zero)
        st = fcl_tensor_fill(ctx, t, 0.0f);
    return st;
}

void fcl_op_release(fcl_ctx *ctx, fcl_tensor *const *ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fcl_tensor_release(ctx, ts[i]);
}

fcl_status fcl_op_run_1d(fcl_ctx *ctx, cl_kernel k, size_t items)
{
    size_t g = items, l = fcl_ctx_wg1d(ctx);
    return fcl_kernel_run(ctx, k, 1, &g, &l);
}

fcl_status fcl_op_run_2d(fcl_ctx *ctx, cl_kernel k, size_t g0, size_t g1)
{
    size_t g[2] = {g0, g1};
    return fcl_kernel_run(ctx, k, 2, g, NULL);
}

fcl_status fcl_op_rows_kernel(fcl_ctx *ctx, const fcl_op_src *src, const char *name, cl_kernel *k, size_t *wg)
{
    char kname[96];
    int want = fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG);
    snprintf(kname, sizeof kname, want > 0 ? "%s_wg" : "%s", name);
    fcl_status st = fcl_op_kernel(ctx, src, kname, k);
    *wg = 0;
    if (!st && want > 0)
        st = fcl_op_reduce_wg(ctx, *k, (size_t)want, wg);
    return st;
}

/* ---- op descriptors ----------------------------------------------------------------------- */

fcl_status fcl_op_kernel(fcl_ctx *ctx, const fcl_op_src *src, const char *name, cl_kernel *k)
{
    return fcl_kernel_get(ctx, src->program, name, fcl_ctx_tuning(ctx, fcl_tune_family_name(src->family)), k);
}

int fcl_op_vec(const fcl_ctx *ctx, const fcl_op_src *src)
{
    int id = fcl_tune_param_find(src->family, "FCL_VEC");
    return id < 0 ? 1 : fcl_tuning_int(ctx, (fcl_tune_id)id);
}

fcl_status fcl_op_bind(fcl_ctx *ctx, cl_kernel k, const fcl_op_val *vals, int n, unsigned *next)
{
    cl_mem dummy = NULL;   /* for NULL tensors: any valid buffer of the call */
    for (int i = 0; i < n && !dummy; i++)
        if (vals[i].kind == 't' && vals[i].t) dummy = vals[i].t->buf;
    fcl_op_args a;
    fcl_op_args_init(&a, ctx, k, dummy);
    for (int i = 0; i < n; i++) {
        const fcl_op_val *v = &vals[i];
        cl_uint u = (cl_uint)v->i;
        cl_ulong U = (cl_ulong)v->i;
        switch (v->kind) {
        case 't': fcl_op_arg_t(&a, v->t); break;
        case 'i': fcl_op_arg_i(&a, (int)v->i); break;
        case 'f': fcl_op_arg_f(&a, (float)v->f); break;
        case 'u': fcl_op_arg_raw(&a, sizeof u, &u); break;
        case 'U': fcl_op_arg_raw(&a, sizeof U, &U); break;
        default: fcl_op_arg_local(&a, (size_t)v->i); break;
        }
    }
    if (next) *next = a.i;
    return a.st;
}

/* Checks that `bound` arguments are all of k's. */
static fcl_status check_count(fcl_ctx *ctx, cl_kernel k, unsigned bound)
{
    cl_uint want = 0;
    char name[128] = "?";
    cl_int rc = clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof want, &want, NULL);
    if (rc == CL_SUCCESS && want == bound) return FCL_OK;
    clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
    name[sizeof name - 1] = '\0';
    if (rc != CL_SUCCESS)
        return FCL_ERR(ERRP(ctx), FCL_ERR_OPENCL, "clGetKernelInfo(%s, CL_KERNEL_NUM_ARGS): %s", name,
                       fcl_cl_error_name(rc));
    return FCL_ERR(ERRP(ctx), FCL_ERR_INTERNAL, "%s: the launcher bound %u arguments, the kernel takes %u", name,
                   bound, (unsigned)want);
}

fcl_status fcl_op_args_run(fcl_op_args *a, unsigned dims, const size_t *g, const size_t *l)
{
    fcl_status st = a->st;
    if (st || (st = check_count(a->ctx, a->k, a->i)))
        return st;
    return fcl_kernel_run(a->ctx, a->k, dims, g, l);
}

fcl_status fcl_op_run(fcl_ctx *ctx, cl_kernel k, fcl_op_grid grid, unsigned dims, const size_t *g, const size_t *l,
                      const fcl_op_val *vals, int n)
{
    unsigned bound = 0;
    fcl_status st = fcl_op_bind(ctx, k, vals, n, &bound);
    if (st || (st = check_count(ctx, k, bound)))
        return st;
    return grid == FCL_GRID_1D ? fcl_op_run_1d(ctx, k, g[0]) : fcl_kernel_run(ctx, k, dims, g, l);
}

fcl_status fcl_op_call(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_op_grid grid, unsigned dims,
                       const size_t *g, const size_t *l, const fcl_op_val *vals, int n)
{
    cl_kernel k;
    size_t row_wg = 0, items;
    fcl_status st = grid == FCL_GRID_ROWS ? fcl_op_rows_kernel(ctx, src, name, &k, &row_wg)
                                          : fcl_op_kernel(ctx, src, name, &k);
    if (st)
        return st;
    switch (grid) {
    case FCL_GRID_ROWS:
        if (!row_wg) {
            /* a work-item per row, each a long loop: groups small enough that there are at least
             * 16 of them, or a head's 64 rows in the device's 1-D group of 64 ran on ONE core */
            size_t lw = fcl_ctx_wg1d(ctx);
            while (lw > 1 && g[0] / lw < 16) lw /= 2;
            return fcl_op_run(ctx, k, FCL_GRID_ND, 1, g, &lw, vals, n);
        }
        /* the _wg shape: one group per row, its local scratch after the other arguments */
        fcl_op_val all[32];
        if (n >= 32)
            return FCL_ERR(ERRP(ctx), FCL_ERR_INTERNAL, "%s: too many arguments", name);
        memcpy(all, vals, (size_t)n * sizeof *vals);
        all[n] = OP_LOCAL(row_wg * sizeof(float));
        items = g[0] * row_wg;
        return fcl_op_run(ctx, k, FCL_GRID_ND, 1, &items, &row_wg, all, n + 1);
    case FCL_GRID_VEC:
        items = fcl_op_div_up(g[0], (size_t)fcl_op_vec(ctx, src));
        return fcl_op_run(ctx, k, FCL_GRID_1D, 1, &items, NULL, vals, n);
    default:
        return fcl_op_run(ctx, k, grid, dims, g, l, vals, n);
    }
}

fcl_status fcl_op_rows_sum(fcl_ctx *ctx, const fcl_op_src *src, const char *name, fcl_tensor *loss, fcl_tensor *rows,
                           size_t n, float scale, const fcl_op_val *vals, int nv)
{
    fcl_tensor tmp = {0};
    fcl_op_val all[32];
    fcl_status st;
    if (nv >= 31)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INTERNAL, "%s: too many arguments", name);
    if (!rows) {
        if ((st = fcl_op_temp(ctx, &tmp, n, 1, 0)))
            return st;
        rows = &tmp;
    }
    all[0] = OP_T(rows);
    memcpy(all + 1, vals, (size_t)nv * sizeof *vals);
    st = fcl_op_call(ctx, src, name, FCL_GRID_ROWS, 1, &n, NULL, all, nv + 1);
    if (!st)
        st = fcl_sum(ctx, loss, rows, scale);
    fcl_tensor_release(ctx, &tmp);   /* in-order queue: later users of the block run after us */
    return st;
}
