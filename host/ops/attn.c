/* host/ops/attn.c: launchers of the split-attention kernels in cl/attn.cl (r-SoftMax, radix sums). */
#include "facecl/ops_attn.h"
#include "ops/attn_internal.h"
#include "ops/op_util.h"

/* reduce.cl+attn.cl with the "attn" tuning. */
static const fcl_op_src SRC = {"reduce.cl+attn.cl", FCL_TF_ATTN};

/* t [B, ...] with numel per sample divisible by radix * cardinality: B and rest. */
static fcl_status rsoftmax_dims(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                                int radix, int card, int *b, int *rest)
{
    fcl_status st = fcl_op_check_t(ctx, op, name, t);
    if (st) return st;
    if (radix < 1 || card < 1)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: radix %d and cardinality %d must be >= 1", op,
                       radix, card);
    size_t per = fcl_tensor_numel(t) / t->shape[0];
    if (per % ((size_t)radix * (size_t)card)) {
        char s[96];
        fcl_tensor_shape_str(t, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: %s %s: %zu values per sample are not a multiple of "
                       "radix %d x cardinality %d", op, name, s, per, radix, card);
    }
    *b = (int)t->shape[0];
    *rest = (int)(per / ((size_t)radix * (size_t)card));
    return FCL_OK;
}

/* rsoftmax_fwd (out y, in x) or rsoftmax_bwd (out dx, in dy, saved y) over (rest, card, B). */
static fcl_status rsoftmax_run(fcl_ctx *ctx, const char *name, fcl_tensor *out, const fcl_tensor *in,
                               const fcl_tensor *saved, int b, int card, int radix, int rest)
{
    size_t g[3] = {(size_t)rest, (size_t)card, (size_t)b};
    if (saved)
        return fcl_op_call(ctx, &SRC, name, FCL_GRID_ND, 3, g, NULL, FCL_OP_VALS(OP_T(out), OP_T(in), OP_T(saved),
                           OP_I(b), OP_I(card), OP_I(radix), OP_I(rest)));
    return fcl_op_call(ctx, &SRC, name, FCL_GRID_ND, 3, g, NULL,
                       FCL_OP_VALS(OP_T(out), OP_T(in), OP_I(b), OP_I(card), OP_I(radix), OP_I(rest)));
}

fcl_status fcl_rsoftmax_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, int radix, int cardinality)
{
    const char *op = "fcl_rsoftmax_fwd";
    fcl_status st;
    int b = 0, rest = 0;
    if ((st = rsoftmax_dims(ctx, op, "x", x, radix, cardinality, &b, &rest)) ||
        (st = fcl_op_check_t(ctx, op, "y", y)) || (st = fcl_op_check_same_numel(ctx, op, "y", y, "x", x)))
        return st;
    if (fcl_op_overlaps(y, x))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y must not overlap x (the layout changes)", op);
    if ((st = rsoftmax_run(ctx, "rsoftmax_fwd", y, x, NULL, b, cardinality, radix, rest))) return st;
    return FCL_OK;
}

fcl_status fcl_rsoftmax_bwd(fcl_ctx *ctx, fcl_tensor *dx, const fcl_tensor *dy, const fcl_tensor *y,
                            int radix, int cardinality)
{
    const char *op = "fcl_rsoftmax_bwd";
    fcl_status st;
    int b = 0, rest = 0;
    if ((st = rsoftmax_dims(ctx, op, "y", y, radix, cardinality, &b, &rest)) ||
        (st = fcl_op_check_t(ctx, op, "dy", dy)) || (st = fcl_op_check_t(ctx, op, "dx", dx)) ||
        (st = fcl_op_check_same_numel(ctx, op, "dy", dy, "y", y)) ||
        (st = fcl_op_check_same_numel(ctx, op, "dx", dx, "y", y)))
        return st;
    if (fcl_op_overlaps(dx, dy) || fcl_op_overlaps(dx, y))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx must not overlap dy or y (dx accumulates)", op);
    if ((st = rsoftmax_run(ctx, "rsoftmax_bwd", dx, dy, y, b, cardinality, radix, rest))) return st;
    return FCL_OK;
}

/* ---- radix sums --------------------------------------------------------------------------------- */

/* x [B, R * C, inner...] (ndim 2..4), y [B, C, inner...], a numel B * R * C or NULL. */
static fcl_status radix_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *a, int radix, int *b, int *c, int *hw)
{
    fcl_status st;
    if ((st = fcl_op_check(ctx, op, "x", x, 2, 4)) || (st = fcl_op_check(ctx, op, "y", y, 2, 4)) ||
        (st = fcl_op_check_opt(ctx, op, "a", a, 1, FCL_MAX_DIMS)))
        return st;
    if (radix < 1) return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: radix %d must be >= 1", op, radix);
    size_t inner = 1;
    for (int i = 2; i < x->ndim; i++) inner *= x->shape[i];
    int ok = x->shape[1] % (size_t)radix == 0 && y->ndim == x->ndim && y->shape[0] == x->shape[0] &&
             y->shape[1] * (size_t)radix == x->shape[1];
    for (int i = 2; ok && i < x->ndim; i++) ok = y->shape[i] == x->shape[i];
    if (!ok) {
        char sx[96], sy[96];
        fcl_tensor_shape_str(x, sx, sizeof sx);
        fcl_tensor_shape_str(y, sy, sizeof sy);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: x %s must be [B, radix %d x C, ...] and y %s [B, C, ...]",
                       op, sx, radix, sy);
    }
    if ((st = fcl_op_check_numel(ctx, op, "a", a, x->shape[0] * x->shape[1], "one per sample and channel of x")))
        return st;
    *b = (int)x->shape[0];
    *c = (int)y->shape[1];
    *hw = (int)inner;
    return FCL_OK;
}

/* Group size of the da sums: forced (tests), else the "attn" tuning's FCL_ATTN_WG (0: the 1-D size). */
static fcl_status reduce_wg(fcl_ctx *ctx, cl_kernel k, int forced, size_t *wg)
{
    int want = forced > 0 ? forced : fcl_tuning_int(ctx, FCL_T_ATTN_WG);
    if (!want) want = (int)fcl_ctx_wg1d(ctx);
    return fcl_op_reduce_wg(ctx, k, want > 0 ? (size_t)want : 1, wg);
}

/* Work-items along a row of hw pixels of the radix sums: FCL_ATTN_VEC pixels each (cl/attn.cl). */
static size_t pixel_items(const fcl_ctx *ctx, int hw)
{
    return fcl_op_div_up((size_t)hw, (size_t)fcl_tuning_int(ctx, FCL_T_ATTN_VEC));
}

fcl_status fcl_radix_sum_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *a, int radix)
{
    const char *op = "fcl_radix_sum_fwd";
    fcl_status st;
    int b = 0, c = 0, hw = 0;
    if ((st = radix_dims(ctx, op, y, x, a, radix, &b, &c, &hw))) return st;
    if (fcl_op_overlaps(y, x) || fcl_op_overlaps(y, a))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y must not overlap x or a", op);
    return FCL_OP_3D(ctx, &SRC, "radix_sum_fwd", pixel_items(ctx, hw), (size_t)c, (size_t)b, OP_T(y), OP_T(x), OP_T(a), OP_I(b),
                     OP_I(radix), OP_I(c), OP_I(hw), OP_I(a != NULL));
}

fcl_status fcl_radix_sum_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *da, const fcl_tensor *dy,
                             const fcl_tensor *x, const fcl_tensor *a, int radix)
{
    return fcl_radix_sum_bwd_wg(ctx, dx, da, dy, x, a, radix, 0);
}

fcl_status fcl_radix_sum_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *da, const fcl_tensor *dy,
                                const fcl_tensor *x, const fcl_tensor *a, int radix, int forced_wg)
{
    const char *op = "fcl_radix_sum_bwd";
    fcl_status st;
    cl_kernel k;
    int b = 0, c = 0, hw = 0;
    if ((st = radix_dims(ctx, op, dy, x, a, radix, &b, &c, &hw)) ||
        (st = fcl_op_check_opt(ctx, op, "dx", dx, 1, FCL_MAX_DIMS)) ||
        (dx && (st = fcl_op_check_same_shape(ctx, op, "dx", dx, "x", x))) ||
        (st = fcl_op_check_opt(ctx, op, "da", da, 1, FCL_MAX_DIMS)) ||
        (st = fcl_op_check_numel(ctx, op, "da", da, x->shape[0] * x->shape[1], "one per sample and channel of x")))
        return st;
    if (da && !a)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: da asked for without the attention a", op);
    const fcl_tensor *ins[] = {dy, x, a};
    if (fcl_op_overlaps_any(dx, ins, 3) || fcl_op_overlaps_any(da, ins, 3) || fcl_op_overlaps(dx, da))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx and da must not overlap each other or the "
                         "inputs (they accumulate)", op);
    if (da) {
        size_t wg;
        if ((st = fcl_op_kernel(ctx, &SRC, "radix_sum_bwd_attn", &k)) || (st = reduce_wg(ctx, k, forced_wg, &wg)))
            return st;
        size_t gs = (size_t)b * (size_t)radix * (size_t)c * wg;
        if ((st = FCL_OP_RUN_ND(ctx, k, 1, &gs, &wg, OP_T(da), OP_T(dy), OP_T(x), OP_I(b), OP_I(radix), OP_I(c),
                OP_I(hw), OP_LOCAL(wg * sizeof(float)))))
            return st;
    }
    if (dx) {
        if ((st = FCL_OP_3D(ctx, &SRC, "radix_sum_bwd_data", pixel_items(ctx, hw), (size_t)radix * (size_t)c, (size_t)b, OP_T(dx),
                            OP_T(dy), OP_T(a), OP_I(b), OP_I(radix), OP_I(c), OP_I(hw), OP_I(a != NULL))))
            return st;
    }
    return FCL_OK;
}
