/* host/ops/linear.c: fully connected layer: the products through fcl_gemm, the bias through cl/linear.cl. */
#include "facecl/gemm.h"
#include "facecl/ops_linear.h"
#include "ops/op_util.h"

/* The layer's sizes, from w [out, in]. */
typedef struct dims {
    size_t n, in, out;
} dims;

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

/* linear.cl with the "eltwise" tuning. */
static const fcl_op_src SRC = {"linear.cl", FCL_TF_ELTWISE};

fcl_status fcl_linear_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *w,
                          const fcl_tensor *b)
{
    const char *op = "fcl_linear_fwd";
    dims d = {0};
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "x", x)) || (st = weight_dims(ctx, op, "w", w, x->shape[0], &d)) ||
        (st = fcl_op_check_rows(ctx, op, "x", x, d.n, d.in)) || (st = fcl_op_check_rows(ctx, op, "y", y, d.n, d.out)))
        return st;
    if (b && (st = fcl_op_check_rows(ctx, op, "bias b", b, d.out, 1)))
        return st;
    if (y->buf == x->buf || y->buf == w->buf || (b && y->buf == b->buf)) {
        /* GEMM output must not alias its inputs; same-buffer views could, so refuse them all */
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y shares a buffer with x, w or b", op);
    }
    /* y [n, out] = x [n, in] * w^T (w stored [out, in]); beta 0: y is not read */
    if ((st = fcl_op_gemm(ctx, y, x, 0, w, 1, d.n, d.out, d.in, 0.0f)) || !b)
        return st;
    return FCL_OP_2D(ctx, &SRC, "linear_bias_fwd", fcl_op_div_up(d.out, (size_t)fcl_op_vec(ctx, &SRC)), d.n, OP_T(y),
                     OP_T(b), OP_I(d.n), OP_I(d.out));
}

/* A gradient g [m, n] += op(a) op(b) (a GEMM with beta 1); g, named ng, must not share a buffer
 * with a or b (named nab): the GEMM reads them while it writes g. */
static fcl_status grad_gemm(fcl_ctx *ctx, const char *op, const char *ng, fcl_tensor *g, const char *nab,
                            const fcl_tensor *a, int ta, const fcl_tensor *b, int tb, size_t m, size_t n, size_t k)
{
    fcl_status st = fcl_op_check_rows(ctx, op, ng, g, m, n);
    if (st)
        return st;
    if (g->buf == a->buf || g->buf == b->buf)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: %s shares a buffer with %s", op, ng, nab);
    return fcl_op_gemm(ctx, g, a, ta, b, tb, m, n, k, 1.0f);
}

fcl_status fcl_linear_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dw, fcl_tensor *db,
                          const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *w)
{
    const char *op = "fcl_linear_bwd";
    dims d = {0, 0, 0};
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "dy", dy)))
        return st;
    d.n = dy->shape[0];
    /* the sizes come from w when present, else from dw (shape of w) */
    const fcl_tensor *wshape = w ? w : dw;
    if (wshape) {
        if ((st = weight_dims(ctx, op, w ? "w" : "dw", wshape, d.n, &d)))
            return st;
    } else if (x) {
        if ((st = fcl_op_check_t(ctx, op, "x", x)))
            return st;
        d.in = fcl_tensor_numel(x) / x->shape[0];
        d.out = fcl_tensor_numel(dy) / d.n;
    } else {
        d.out = fcl_tensor_numel(dy) / d.n;
    }
    if ((st = fcl_op_check_rows(ctx, op, "dy", dy, d.n, d.out)))
        return st;

    if (dx) {
        if (!w)
            return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx needs the weights w", op);
        /* dx [n, in] += dy [n, out] * w [out, in] */
        if ((st = grad_gemm(ctx, op, "dx", dx, "dy or w", dy, 0, w, 0, d.n, d.in, d.out)))
            return st;
    }
    if (dw) {
        if (!x)
            return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dw needs the input x", op);
        /* dw [out, in] += dy^T (dy stored [n, out]) * x [n, in] */
        if ((st = fcl_op_check_rows(ctx, op, "x", x, d.n, d.in)) ||
            (st = grad_gemm(ctx, op, "dw", dw, "dy or x", dy, 1, x, 0, d.out, d.in, d.n)))
            return st;
    }
    if (db) {
        if ((st = fcl_op_check_rows(ctx, op, "db", db, d.out, 1)))
            return st;
        if (db->buf == dy->buf && db->offset < dy->offset + d.n * d.out && dy->offset < db->offset + d.out)
            return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: db overlaps dy", op);
        if ((st = FCL_OP_VEC(ctx, &SRC, "linear_bias_bwd", d.out, OP_T(db), OP_T(dy), OP_I(d.n), OP_I(d.out))))
            return st;
    }
    return FCL_OK;
}
