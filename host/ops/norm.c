/* host/ops/norm.c: launchers of the LayerNorm2d, layer-scale and weight-standardisation kernels in cl/norm.cl. */
#include <math.h>

#include "facecl/ops_norm.h"
#include "ops/norm_internal.h"
#include "ops/op_util.h"

/* kernel flags: must match cl/norm.cl */
#define NORM_HAS_WEIGHT 1
#define NORM_HAS_BIAS 2
#define NORM_HAS_SAVE 4
#define NORM_HAS_DW 8
#define NORM_HAS_DB 16
#define NORM_NORMALISE 32

/* reduce.cl+norm.cl with the "norm" tuning. */
static const fcl_op_src SRC = {"reduce.cl+norm.cl", FCL_TF_NORM};

/* x [N, C, inner...] (ndim 2..4): the kernels' extents. */
static fcl_status nchw_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *x, int *n, int *c, int *hw)
{
    fcl_status st = fcl_op_check(ctx, op, "x", x, 2, 4);
    if (st) return st;
    size_t in = 1;
    for (int i = 2; i < x->ndim; i++) in *= x->shape[i];
    *n = (int)x->shape[0];
    *c = (int)x->shape[1];
    *hw = (int)in;
    return FCL_OK;
}

/* Every optional per-channel tensor has numel C, every per-pixel one numel N * HW. */
static fcl_status check_vec(fcl_ctx *ctx, const char *op, const char *name, const fcl_tensor *t,
                            size_t want, const char *what)
{
    fcl_status st = fcl_op_check_opt(ctx, op, name, t, 1, FCL_MAX_DIMS);
    if (st) return st;
    return fcl_op_check_numel(ctx, op, name, t, want, what);
}

/* Group size of the per-channel reductions: `forced` (tests), else the "norm" tuning's
 * FCL_NORM_WG (0: the device's 1-D size); fixed per device, so the summation order is too. */
static fcl_status reduce_wg(fcl_ctx *ctx, cl_kernel k, int forced, size_t *wg)
{
    int want = forced > 0 ? forced : fcl_tuning_int(ctx, FCL_T_NORM_WG);
    if (!want) want = (int)fcl_ctx_wg1d(ctx);
    return fcl_op_reduce_wg(ctx, k, want > 0 ? (size_t)want : 1, wg);
}

/* The per-channel sums of chan_param_grad (dw: dy * xhat or dy * x; db: dy). */
static fcl_status chan_grad(fcl_ctx *ctx, fcl_tensor *dw, fcl_tensor *db, const fcl_tensor *dy,
                            const fcl_tensor *x, const fcl_tensor *mean, const fcl_tensor *rstd,
                            int n, int c, int hw, int forced_wg)
{
    cl_kernel k;
    size_t wg;
    fcl_status st;
    if ((st = fcl_op_kernel(ctx, &SRC, "chan_param_grad", &k)) || (st = reduce_wg(ctx, k, forced_wg, &wg))) return st;
    int flags = (dw ? NORM_HAS_DW : 0) | (db ? NORM_HAS_DB : 0) | (mean ? NORM_NORMALISE : 0);
    size_t gs = (size_t)c * wg;
    return FCL_OP_RUN_ND(ctx, k, 1, &gs, &wg, OP_T(dw), OP_T(db), OP_T(dy), OP_T(x), OP_T(mean), OP_T(rstd), OP_I(n),
                         OP_I(c), OP_I(hw), OP_I(flags), OP_LOCAL(wg * sizeof(float)));
}

/* Work-items along a row of hw pixels for ln2d_fwd, ln2d_bwd_data, chan_scale: FCL_NORM_VEC
 * pixels each (cl/norm.cl). */
static size_t pixel_items(const fcl_ctx *ctx, int hw)
{
    return fcl_op_div_up((size_t)hw, (size_t)fcl_tuning_int(ctx, FCL_T_NORM_VEC));
}

fcl_status fcl_ln2d_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_rstd,
                        const fcl_tensor *x, const fcl_tensor *weight, const fcl_tensor *bias,
                        float eps)
{
    const char *op = "fcl_ln2d_fwd";
    fcl_status st;
    int n, c, hw;
    if ((st = nchw_dims(ctx, op, x, &n, &c, &hw)) || (st = fcl_op_check_t(ctx, op, "y", y)) ||
        (st = fcl_op_check_same_shape(ctx, op, "y", y, "x", x)) ||
        (st = check_vec(ctx, op, "weight", weight, (size_t)c, "one per channel")) ||
        (st = check_vec(ctx, op, "bias", bias, (size_t)c, "one per channel")) ||
        (st = check_vec(ctx, op, "save_mean", save_mean, (size_t)n * hw, "one per pixel: N * H * W")) ||
        (st = check_vec(ctx, op, "save_rstd", save_rstd, (size_t)n * hw, "one per pixel: N * H * W")))
        return st;
    if (!(eps >= 0.0f) || !isfinite(eps))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: eps must be finite and >= 0, got %g", op, (double)eps);
    if (!save_mean != !save_rstd)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: save_mean and save_rstd go together", op);
    const fcl_tensor *outs[] = {save_mean, save_rstd};
    const fcl_tensor *ins[] = {x, weight, bias, save_mean, save_rstd};
    if ((fcl_op_overlaps(y, x) && !fcl_op_same(y, x)) || fcl_op_overlaps_any(y, ins + 1, 4) ||
        fcl_op_overlaps_any(save_mean, ins, 3) || fcl_op_overlaps_any(save_rstd, ins, 3) ||
        fcl_op_overlaps_any(save_mean, outs + 1, 1))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: the outputs must not overlap each other or the "
                         "inputs (only y == x is allowed)", op);
    int flags = (weight ? NORM_HAS_WEIGHT : 0) | (bias ? NORM_HAS_BIAS : 0) | (save_mean ? NORM_HAS_SAVE : 0);
    return FCL_OP_2D(ctx, &SRC, "ln2d_fwd", pixel_items(ctx, hw), (size_t)n, OP_T(y), OP_T(x), OP_T(weight), OP_T(bias),
            OP_T(save_mean), OP_T(save_rstd), OP_I(n), OP_I(c), OP_I(hw), OP_F(eps), OP_I(flags));
}

fcl_status fcl_ln2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dweight, fcl_tensor *dbias,
                        const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *weight,
                        const fcl_tensor *save_mean, const fcl_tensor *save_rstd)
{
    return fcl_ln2d_bwd_wg(ctx, dx, dweight, dbias, dy, x, weight, save_mean, save_rstd, 0);
}

fcl_status fcl_ln2d_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dweight, fcl_tensor *dbias,
                           const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *weight,
                           const fcl_tensor *save_mean, const fcl_tensor *save_rstd, int forced_wg)
{
    const char *op = "fcl_ln2d_bwd";
    fcl_status st;
    int n, c, hw;
    if ((st = nchw_dims(ctx, op, x, &n, &c, &hw)) || (st = fcl_op_check_t(ctx, op, "dy", dy)) ||
        (st = fcl_op_check_same_shape(ctx, op, "dy", dy, "x", x)) ||
        (st = fcl_op_check_opt(ctx, op, "dx", dx, 1, FCL_MAX_DIMS)) ||
        (dx && (st = fcl_op_check_same_shape(ctx, op, "dx", dx, "x", x))) ||
        (st = check_vec(ctx, op, "weight", weight, (size_t)c, "one per channel")) ||
        (st = check_vec(ctx, op, "dweight", dweight, (size_t)c, "one per channel")) ||
        (st = check_vec(ctx, op, "dbias", dbias, (size_t)c, "one per channel")) ||
        (st = fcl_op_check_t(ctx, op, "save_mean", save_mean)) ||
        (st = fcl_op_check_t(ctx, op, "save_rstd", save_rstd)) ||
        (st = check_vec(ctx, op, "save_mean", save_mean, (size_t)n * hw, "one per pixel: N * H * W")) ||
        (st = check_vec(ctx, op, "save_rstd", save_rstd, (size_t)n * hw, "one per pixel: N * H * W")))
        return st;
    const fcl_tensor *ins[] = {dy, x, weight, save_mean, save_rstd};
    if (fcl_op_overlaps_any(dx, ins, 5) || fcl_op_overlaps_any(dweight, ins, 5) ||
        fcl_op_overlaps_any(dbias, ins, 5) || fcl_op_overlaps(dx, dweight) || fcl_op_overlaps(dx, dbias) ||
        fcl_op_overlaps(dweight, dbias))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx, dweight and dbias must not overlap each other "
                         "or the inputs (they accumulate)", op);
    if ((dweight || dbias) &&
        (st = chan_grad(ctx, dweight, dbias, dy, x, save_mean, save_rstd, n, c, hw, forced_wg)))
        return st;
    if (dx) {
        if ((st = FCL_OP_2D(ctx, &SRC, "ln2d_bwd_data", pixel_items(ctx, hw), (size_t)n, OP_T(dx), OP_T(dy), OP_T(x),
                OP_T(weight), OP_T(save_mean), OP_T(save_rstd), OP_I(n), OP_I(c), OP_I(hw),
                OP_I(weight ? NORM_HAS_WEIGHT : 0))))
            return st;
    }
    return FCL_OK;
}

/* ---- layer scale ------------------------------------------------------------------------------- */

static fcl_status chan_scale(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *gamma,
                             int n, int c, int hw, int accumulate)
{
    return FCL_OP_2D(ctx, &SRC, "chan_scale", pixel_items(ctx, hw), (size_t)n * (size_t)c, OP_T(y), OP_T(x), OP_T(gamma),
                     OP_I(n * c), OP_I(c), OP_I(hw), OP_I(accumulate));
}

/* Layer scale's sizes: x [N, C, ...], t (named nt: y or dy) of x's shape, gamma one per channel. */
static fcl_status scale_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *x, const char *nt, const fcl_tensor *t,
                             const fcl_tensor *gamma, int *n, int *c, int *hw)
{
    fcl_status st;
    if ((st = nchw_dims(ctx, op, x, n, c, hw)) || (st = fcl_op_check_t(ctx, op, nt, t)) ||
        (st = fcl_op_check_t(ctx, op, "gamma", gamma)) || (st = fcl_op_check_same_shape(ctx, op, nt, t, "x", x)))
        return st;
    return check_vec(ctx, op, "gamma", gamma, (size_t)*c, "one per channel");
}

fcl_status fcl_layer_scale_fwd(fcl_ctx *ctx, fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *gamma)
{
    const char *op = "fcl_layer_scale_fwd";
    fcl_status st;
    int n, c, hw;
    if ((st = scale_dims(ctx, op, x, "y", y, gamma, &n, &c, &hw)))
        return st;
    if ((fcl_op_overlaps(y, x) && !fcl_op_same(y, x)) || fcl_op_overlaps(y, gamma))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y may be x but must not partly overlap x or gamma", op);
    if ((st = chan_scale(ctx, y, x, gamma, n, c, hw, 0))) return st;
    return FCL_OK;
}

fcl_status fcl_layer_scale_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, const fcl_tensor *dy,
                               const fcl_tensor *x, const fcl_tensor *gamma)
{
    return fcl_layer_scale_bwd_wg(ctx, dx, dgamma, dy, x, gamma, 0);
}

fcl_status fcl_layer_scale_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, const fcl_tensor *dy,
                                  const fcl_tensor *x, const fcl_tensor *gamma, int forced_wg)
{
    const char *op = "fcl_layer_scale_bwd";
    fcl_status st;
    int n, c, hw;
    const fcl_tensor *ins[] = {dy, x, gamma};
    if ((st = scale_dims(ctx, op, x, "dy", dy, gamma, &n, &c, &hw)) ||
        (st = fcl_op_check_opt(ctx, op, "dx", dx, 1, FCL_MAX_DIMS)) ||
        (dx && (st = fcl_op_check_same_shape(ctx, op, "dx", dx, "x", x))) ||
        (st = check_vec(ctx, op, "dgamma", dgamma, (size_t)c, "one per channel")) ||
        (st = fcl_op_check_grads_apart(ctx, op, "dx", dx, "dgamma", dgamma, ins, 3)))   /* they accumulate */
        return st;
    if (dgamma && (st = chan_grad(ctx, dgamma, NULL, dy, x, NULL, NULL, n, c, hw, forced_wg))) return st;
    if (dx && (st = chan_scale(ctx, dx, dy, gamma, n, c, hw, 1))) return st;
    return FCL_OK;
}

/* ---- scaled weight standardisation -------------------------------------------------------------- */

/* w [O, ...] (ndim >= 1): O and K; gain (optional) numel O; scale and eps finite, eps >= 0. */
static fcl_status wstd_dims(fcl_ctx *ctx, const char *op, const fcl_tensor *w, const fcl_tensor *gain,
                            float scale, float eps, int *o, int *k)
{
    fcl_status st;
    if ((st = fcl_op_check_t(ctx, op, "w", w))) return st;
    *o = (int)w->shape[0];
    *k = (int)(fcl_tensor_numel(w) / w->shape[0]);
    if ((st = check_vec(ctx, op, "gain", gain, (size_t)*o, "one per output channel (dim 0 of w)"))) return st;
    if (!isfinite(scale) || !isfinite(eps) || !(eps >= 0.0f))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: scale %g and eps %g must be finite, eps >= 0", op,
                       (double)scale, (double)eps);
    return FCL_OK;
}

fcl_status fcl_wstd_fwd(fcl_ctx *ctx, fcl_tensor *w_hat, const fcl_tensor *w, const fcl_tensor *gain,
                        float scale, float eps)
{
    return fcl_wstd_fwd_wg(ctx, w_hat, w, gain, scale, eps, 0);
}

fcl_status fcl_wstd_fwd_wg(fcl_ctx *ctx, fcl_tensor *w_hat, const fcl_tensor *w, const fcl_tensor *gain,
                           float scale, float eps, int forced_wg)
{
    const char *op = "fcl_wstd_fwd";
    fcl_status st;
    cl_kernel k;
    size_t wg;
    int o, kk;
    if ((st = wstd_dims(ctx, op, w, gain, scale, eps, &o, &kk)) || (st = fcl_op_check_t(ctx, op, "w_hat", w_hat)) ||
        (st = fcl_op_check_same_numel(ctx, op, "w_hat", w_hat, "w", w)))
        return st;
    if (fcl_op_overlaps(w_hat, w) || fcl_op_overlaps(w_hat, gain))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: w_hat must not overlap w or gain", op);
    if ((st = fcl_op_kernel(ctx, &SRC, "wstd_fwd", &k)) || (st = reduce_wg(ctx, k, forced_wg, &wg))) return st;
    size_t gs = (size_t)o * wg;
    return FCL_OP_RUN_ND(ctx, k, 1, &gs, &wg, OP_T(w_hat), OP_T(w), OP_T(gain), OP_I(o), OP_I(kk), OP_F(scale),
            OP_F(eps), OP_I(gain != NULL), OP_LOCAL(wg * sizeof(float)));
}

fcl_status fcl_wstd_bwd(fcl_ctx *ctx, fcl_tensor *dw, fcl_tensor *dgain, const fcl_tensor *dw_hat,
                        const fcl_tensor *w, const fcl_tensor *gain, float scale, float eps)
{
    return fcl_wstd_bwd_wg(ctx, dw, dgain, dw_hat, w, gain, scale, eps, 0);
}

fcl_status fcl_wstd_bwd_wg(fcl_ctx *ctx, fcl_tensor *dw, fcl_tensor *dgain, const fcl_tensor *dw_hat,
                           const fcl_tensor *w, const fcl_tensor *gain, float scale, float eps,
                           int forced_wg)
{
    const char *op = "fcl_wstd_bwd";
    fcl_status st;
    cl_kernel k;
    size_t wg;
    int o, kk;
    if ((st = wstd_dims(ctx, op, w, gain, scale, eps, &o, &kk)) ||
        (st = fcl_op_check_t(ctx, op, "dw_hat", dw_hat)) ||
        (st = fcl_op_check_same_numel(ctx, op, "dw_hat", dw_hat, "w", w)) ||
        (st = fcl_op_check_opt(ctx, op, "dw", dw, 1, FCL_MAX_DIMS)) ||
        (dw && (st = fcl_op_check_same_numel(ctx, op, "dw", dw, "w", w))) ||
        (st = check_vec(ctx, op, "dgain", dgain, (size_t)o, "one per output channel (dim 0 of w)")))
        return st;
    const fcl_tensor *ins[] = {dw_hat, w, gain};
    if (fcl_op_overlaps_any(dw, ins, 3) || fcl_op_overlaps_any(dgain, ins, 3) || fcl_op_overlaps(dw, dgain))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dw and dgain must not overlap each other or the "
                         "inputs (they accumulate)", op);
    if (!dw && !dgain) return FCL_OK;
    if ((st = fcl_op_kernel(ctx, &SRC, "wstd_bwd", &k)) || (st = reduce_wg(ctx, k, forced_wg, &wg))) return st;
    int flags = (dw ? NORM_HAS_DW : 0) | (dgain ? NORM_HAS_DB : 0) | (gain ? NORM_HAS_WEIGHT : 0);
    size_t gs = (size_t)o * wg;
    return FCL_OP_RUN_ND(ctx, k, 1, &gs, &wg, OP_T(dw), OP_T(dgain), OP_T(dw_hat), OP_T(w), OP_T(gain), OP_I(o),
            OP_I(kk), OP_F(scale), OP_F(eps), OP_I(flags), OP_LOCAL(wg * sizeof(float)));
}
