/* host/ops/linear.c: fully connected layer: the products through fcl_gemm, the bias through cl/linear.cl. */
#include "facecl/gemm.h"
#include "facecl/ops_linear.h"
#include "ops/op_util.h"

#define ERRP(ctx) fcl_ctx_error(ctx)

/* The layer's sizes, from w [out, in]. */
typedef struct dims {
    size_t n, in, out;
} dims;

/* Checks that `t` is a [n, cols] matrix (shape[0] == n, numel n * cols). */
static fcl_status check_rows(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                             size_t n, size_t cols)
{
    fcl_status st = fcl_op_check_t(ctx, op, name, t);
    if (st)
        return st;
    if (t->shape[0] == n && fcl_tensor_numel(t) == n * cols)
        return FCL_OK;
    char s[96];
    fcl_tensor_shape_str(t, s, sizeof s);
    if (cols == 1)
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s is %s, expected [%zu]", op, name, s, n);
    return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s is %s, expected [%zu, %zu] (or [%zu, ...] with %zu "
                   "values per row)", op, name, s, n, cols, n, cols);
}

/* Sizes from w [out, in] and a batch-major tensor whose rows have `in` (x) values. */
static fcl_status weight_dims(fcl_ctx *ctx, const char *op, const char *wname, const fcl_tensor *w,
                              size_t n, dims *d)
{
    fcl_status st = fcl_op_check_t(ctx, op, wname, w);
    if (st)
        return st;
    if (w->ndim != 2) {
        char s[96];
        fcl_tensor_shape_str(w, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s is %s, expected [out, in]", op, wname, s);
    }
    d->n = n;
    d->out = w->shape[0];
    d->in = w->shape[1];
    return FCL_OK;
}

/* The kernel of linear.cl with the "eltwise" tuning defines and their FCL_VEC. */
static fcl_status get_kernel(fcl_ctx *ctx, const char *name, cl_kernel *k, int *vec)
{
    *vec = fcl_tuning_int(ctx, FCL_T_ELTWISE_VEC);
    return fcl_kernel_get(ctx, "linear.cl", name, fcl_ctx_tuning(ctx, "eltwise"), k);
}

/* Sets (buffer, offset) x 2, rows, cols: the arguments of both bias kernels. */
static fcl_status bias_args(fcl_ctx *ctx, cl_kernel k, const fcl_tensor *out, const fcl_tensor *in,
                            size_t rows, size_t cols)
{
    fcl_op_args g;
    fcl_op_args_init(&g, ctx, k, NULL);
    fcl_op_arg_t(&g, out);
    fcl_op_arg_t(&g, in);
    fcl_op_arg_i(&g, (int)rows);
    fcl_op_arg_i(&g, (int)cols);
    return g.st;
}

fcl_status fcl_linear_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_tensor *b)
{
    const char *op = "fcl_linear_fwd";
    dims d;
    cl_kernel k;
    int vec;
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "x", x)) || (st = weight_dims(ctx, op, "w", w, x->shape[0], &d)) ||
        (st = check_rows(ctx, op, "x", x, d.n, d.in)) || (st = check_rows(ctx, op, "y", y, d.n, d.out)))
        goto fail;
    if (b && (st = check_rows(ctx, op, "bias b", b, d.out, 1)))
        goto fail;
    if (y->buf == x->buf || y->buf == w->buf || (b && y->buf == b->buf)) {
        /* GEMM output must not alias its inputs; same-buffer views could, so refuse them all */
        st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y shares a buffer with x, w or b", op);
        goto fail;
    }
    /* y [n, out] = x [n, in] * w^T (w stored [out, in]); beta 0: y is not read */
    fcl_gemm_params g = {0};
    g.trans_b = 1;
    g.m = d.n;
    g.n = d.out;
    g.k = d.in;
    g.alpha = 1.0f;
    g.beta = 0.0f;
    g.a_off = x->offset;
    g.b_off = w->offset;
    g.c_off = y->offset;
    if ((st = fcl_gemm(ctx, y->buf, x->buf, w->buf, &g)))
        goto fail;
    if (b) {
        if ((st = get_kernel(ctx, "linear_bias_fwd", &k, &vec)) ||
            (st = bias_args(ctx, k, y, b, d.n, d.out)))
            goto fail;
        if ((st = fcl_op_run_2d(ctx, k, fcl_op_div_up(d.out, (size_t)vec), d.n)))
            goto fail;
    }
    return FCL_OK;
fail:
    return st;
}

fcl_status fcl_linear_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, fcl_tensor *db,
                          const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *w)
{
    const char *op = "fcl_linear_bwd";
    dims d = {0, 0, 0};
    cl_kernel k;
    int vec;
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "dy", dy)))
        goto fail;
    d.n = dy->shape[0];
    /* the sizes come from w when present, else from dw (shape of w) */
    const fcl_tensor *wshape = w ? w : dw;
    if (wshape) {
        if ((st = weight_dims(ctx, op, w ? "w" : "dw", wshape, d.n, &d)))
            goto fail;
    } else if (x) {
        if ((st = fcl_op_check_t(ctx, op, "x", x)))
            goto fail;
        d.in = fcl_tensor_numel(x) / x->shape[0];
        d.out = fcl_tensor_numel(dy) / d.n;
    } else {
        d.out = fcl_tensor_numel(dy) / d.n;
    }
    if ((st = check_rows(ctx, op, "dy", dy, d.n, d.out)))
        goto fail;

    if (dx) {
        if (!w) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx needs the weights w", op);
            goto fail;
        }
        if ((st = check_rows(ctx, op, "dx", dx, d.n, d.in)))
            goto fail;
        if (dx->buf == dy->buf || dx->buf == w->buf) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx shares a buffer with dy or w", op);
            goto fail;
        }
        /* dx [n, in] += dy [n, out] * w [out, in] */
        fcl_gemm_params g = {0};
        g.m = d.n;
        g.n = d.in;
        g.k = d.out;
        g.alpha = 1.0f;
        g.beta = 1.0f;
        g.a_off = dy->offset;
        g.b_off = w->offset;
        g.c_off = dx->offset;
        if ((st = fcl_gemm(ctx, dx->buf, dy->buf, w->buf, &g)))
            goto fail;
    }
    if (dw) {
        if (!x) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dw needs the input x", op);
            goto fail;
        }
        if ((st = check_rows(ctx, op, "x", x, d.n, d.in)) ||
            (st = check_rows(ctx, op, "dw", dw, d.out, d.in)))
            goto fail;
        if (dw->buf == dy->buf || dw->buf == x->buf) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dw shares a buffer with dy or x", op);
            goto fail;
        }
        /* dw [out, in] += dy^T (dy stored [n, out]) * x [n, in] */
        fcl_gemm_params g = {0};
        g.trans_a = 1;
        g.m = d.out;
        g.n = d.in;
        g.k = d.n;
        g.alpha = 1.0f;
        g.beta = 1.0f;
        g.a_off = dy->offset;
        g.b_off = x->offset;
        g.c_off = dw->offset;
        if ((st = fcl_gemm(ctx, dw->buf, dy->buf, x->buf, &g)))
            goto fail;
    }
    if (db) {
        if ((st = check_rows(ctx, op, "db", db, d.out, 1)))
            goto fail;
        if (db->buf == dy->buf && db->offset < dy->offset + d.n * d.out && dy->offset < db->offset + d.out) {
            st = FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: db overlaps dy", op);
            goto fail;
        }
        if ((st = get_kernel(ctx, "linear_bias_bwd", &k, &vec)) ||
            (st = bias_args(ctx, k, db, dy, d.n, d.out)))
            goto fail;
        if ((st = fcl_op_run_1d(ctx, k, fcl_op_div_up(d.out, (size_t)vec))))
            goto fail;
    }
    return FCL_OK;
fail:
    return st;
}
