/* host/ops/bn.c: launchers of the batch-normalisation kernels in cl/bn.cl (checks shapes, picks kernels). */
#include <math.h>
#include <stdio.h>

#include "facecl/ops_bn.h"
#include "ops/bn_internal.h"
#include "ops/op_util.h"

/* Kernel flags: keep in sync with cl/bn.cl. */
enum {
    BN_HAS_GAMMA = 1,
    BN_HAS_BETA = 2,
    BN_HAS_SAVE = 4,
    BN_HAS_RUNNING = 8,
    BN_HAS_DX = 16,
    BN_HAS_DGAMMA = 32,
    BN_HAS_DBETA = 64,
    BN_TRAINING = 128,
    BN_HAS_BIAS = 256,
    BN_RELU = 512,
    BN_HAS_RES = 1024,
    BN_RELU6 = 2048,
    BN_MASK_X = 4096,
    BN_DX_SET = 8192,
    BN_DRES_SET = 16384
};

/* The kernel flag of a fused activation. */
static int act_flag(fcl_bn_act act) { return act == FCL_BN_ACT_RELU ? BN_RELU : act == FCL_BN_ACT_RELU6 ? BN_RELU6 : 0; }

/* x [N, C, inner...]: the three extents the kernels use. */
static void bn_dims(const fcl_tensor *x, int *n, int *c, int *inner)
{
    size_t in = 1;
    for (int i = 2; i < x->ndim; i++) in *= x->shape[i];
    *n = (int)x->shape[0];
    *c = (int)x->shape[1];
    *inner = (int)in;
}

static fcl_status check_params(fcl_ctx *ctx, const char *op, const fcl_bn2d_params *p)
{
    if (!p) return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: params are NULL", op);
    if (!(p->eps >= 0.0f) || !isfinite(p->eps))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: eps must be finite and >= 0, got %g", op,
                       (double)p->eps);
    if (p->training && !isfinite(p->momentum))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: momentum must be finite, got %g", op,
                       (double)p->momentum);
    return FCL_OK;
}

/* One per-channel vector operand: its name, the tensor (NULL allowed unless required). */
typedef struct bn_vec {
    const char *name;
    const fcl_tensor *t;
    int required;
} bn_vec;

/* Each of the n vectors: a checked 1-D..4-D f32 tensor of `count` elements (NULL passes where
 * not required); `what` says what the count is ("one per channel"). */
static fcl_status check_vecs(fcl_ctx *ctx, const char *op, const bn_vec *v, int n, size_t count, const char *what)
{
    fcl_status st;
    for (int i = 0; i < n; i++)
        if ((st = v[i].required ? fcl_op_check(ctx, op, v[i].name, v[i].t, 1, 4)
                                : fcl_op_check_opt(ctx, op, v[i].name, v[i].t, 1, 4)))
            return st;
    for (int i = 0; i < n; i++)
        if ((st = fcl_op_check_numel(ctx, op, v[i].name, v[i].t, count, what))) return st;
    return FCL_OK;
}

/* reduce.cl+bn.cl with the "bn" tuning. */
static const fcl_op_src SRC = {"reduce.cl+bn.cl", FCL_TF_BN};

/* Group size of the per-channel reductions: `forced` (tests), else the tuning's FCL_BN_WG (0:
 * the device's 1-D size); fixed per device, so the reduction order (and rounding) is too. */
static fcl_status reduce_wg(fcl_ctx *ctx, cl_kernel k, int forced, size_t *wg)
{
    int want = forced > 0 ? forced : fcl_tuning_int(ctx, FCL_T_BN_WG);
    if (!want) want = (int)fcl_ctx_wg1d(ctx);
    return fcl_op_reduce_wg(ctx, k, want > 0 ? (size_t)want : 1, wg);
}

/* The fused epilogue of a forward / the mask of a backward: act(bn(x) [+ res]); `fused` 0 for
 * the plain ops (act NONE, res NULL), whose messages name fcl_bn2d_fwd / _bwd. Backward: beta
 * and mask_x 1 when the caller gave the forward's beta (fcl_bn2d_act_bwd_wg). */
typedef struct bn_fuse {
    int fused;
    fcl_bn_act act;
    const fcl_tensor *res;
    const fcl_tensor *beta;
    int mask_x;
    int set; /* backward: FCL_BN_SET_DX / FCL_BN_SET_DRES (overwrite instead of accumulate) */
} bn_fuse;

static fcl_status bn_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                         fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x, bn_fuse fu,
                         const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p, int forced_wg);
static fcl_status bn_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta, fcl_tensor *dres,
                         const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *gamma,
                         const fcl_tensor *save_mean, const fcl_tensor *save_invstd, const fcl_bn2d_params *p,
                         bn_fuse fu, int forced_wg);

fcl_status fcl_bn2d_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                        fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                        const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p)
{
    return bn_fwd(ctx, y, save_mean, save_invstd, running_mean, running_var, x, (bn_fuse){0, FCL_BN_ACT_NONE, NULL, NULL, 0, 0}, gamma, beta, p, 0);
}

fcl_status fcl_bn2d_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                        const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                        const fcl_tensor *save_mean, const fcl_tensor *save_invstd,
                        const fcl_bn2d_params *p)
{
    return bn_bwd(ctx, dx, dgamma, dbeta, NULL, dy, NULL, x, gamma, save_mean, save_invstd, p,
                  (bn_fuse){0, FCL_BN_ACT_NONE, NULL, NULL, 0, 0}, 0);
}

fcl_status fcl_bn2d_fwd_wg(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                           fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                           const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p,
                           int forced_wg)
{
    return bn_fwd(ctx, y, save_mean, save_invstd, running_mean, running_var, x, (bn_fuse){0, FCL_BN_ACT_NONE, NULL, NULL, 0, 0}, gamma, beta, p,
                  forced_wg);
}

fcl_status fcl_bn2d_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                           const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                           const fcl_tensor *save_mean, const fcl_tensor *save_invstd,
                           const fcl_bn2d_params *p, int forced_wg)
{
    return bn_bwd(ctx, dx, dgamma, dbeta, NULL, dy, NULL, x, gamma, save_mean, save_invstd, p,
                  (bn_fuse){0, FCL_BN_ACT_NONE, NULL, NULL, 0, 0}, forced_wg);
}

fcl_status fcl_bn2d_relu_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                             fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                             const fcl_tensor *res, const fcl_tensor *gamma, const fcl_tensor *beta,
                             const fcl_bn2d_params *p)
{
    return fcl_bn2d_relu_fwd_wg(ctx, y, save_mean, save_invstd, running_mean, running_var, x, res, gamma, beta, p, 0);
}

fcl_status fcl_bn2d_relu_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                             fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                             const fcl_tensor *gamma, const fcl_tensor *save_mean,
                             const fcl_tensor *save_invstd, const fcl_bn2d_params *p)
{
    return fcl_bn2d_relu_bwd_wg(ctx, dx, dgamma, dbeta, dres, dy, y, x, gamma, save_mean, save_invstd, p, 0);
}

fcl_status fcl_bn2d_relu_fwd_wg(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                                fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                                const fcl_tensor *res, const fcl_tensor *gamma, const fcl_tensor *beta,
                                const fcl_bn2d_params *p, int forced_wg)
{
    return fcl_bn2d_act_fwd_wg(ctx, y, save_mean, save_invstd, running_mean, running_var, x, res, gamma, beta, p,
                               FCL_BN_ACT_RELU, forced_wg);
}

fcl_status fcl_bn2d_relu_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                                fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                                const fcl_tensor *gamma, const fcl_tensor *save_mean,
                                const fcl_tensor *save_invstd, const fcl_bn2d_params *p, int forced_wg)
{
    return bn_bwd(ctx, dx, dgamma, dbeta, dres, dy, y, x, gamma, save_mean, save_invstd, p,
                  (bn_fuse){1, FCL_BN_ACT_RELU, NULL, NULL, 0, 0}, forced_wg);
}

fcl_status fcl_bn2d_act_fwd_wg(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                               fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                               const fcl_tensor *res, const fcl_tensor *gamma, const fcl_tensor *beta,
                               const fcl_bn2d_params *p, fcl_bn_act act, int forced_wg)
{
    return bn_fwd(ctx, y, save_mean, save_invstd, running_mean, running_var, x, (bn_fuse){1, act, res, NULL, 0, 0}, gamma,
                  beta, p, forced_wg);
}

fcl_status fcl_bn2d_act_bwd_wg(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                               fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                               const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_tensor *save_mean,
                               const fcl_tensor *save_invstd, const fcl_bn2d_params *p, fcl_bn_act act,
                               int forced_wg)
{
    return fcl_bn2d_act_bwd_set(ctx, dx, dgamma, dbeta, dres, dy, y, x, gamma, beta, save_mean, save_invstd, p, act,
                                forced_wg, 0);
}

fcl_status fcl_bn2d_act_bwd_set(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                                fcl_tensor *dres, const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x,
                                const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_tensor *save_mean,
                                const fcl_tensor *save_invstd, const fcl_bn2d_params *p, fcl_bn_act act,
                                int forced_wg, int set)
{
    return bn_bwd(ctx, dx, dgamma, dbeta, dres, dy, y, x, gamma, save_mean, save_invstd, p,
                  (bn_fuse){1, act, NULL, beta, 1, set}, forced_wg);
}

static fcl_status bn_fwd(fcl_ctx *ctx, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                         fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x, bn_fuse fu,
                         const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p, int forced_wg)
{
    const char *op = !fu.fused ? "fcl_bn2d_fwd" : fu.act == FCL_BN_ACT_RELU ? "fcl_bn2d_relu_fwd" : "fcl_bn2d_act_fwd";
    const fcl_tensor *res = fu.res;
    fcl_status st;
    cl_kernel k;
    int n, c, inner;
    if (fu.act < FCL_BN_ACT_NONE || fu.act > FCL_BN_ACT_RELU6)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: unknown activation %d", op, (int)fu.act);
    if (forced_wg < 0)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: forced group size %d < 0", op, forced_wg);
    if ((st = check_params(ctx, op, p)) || (st = fcl_op_check(ctx, op, "x", x, 2, 4)) ||
        (st = fcl_op_check(ctx, op, "y", y, 2, 4)) ||
        (st = fcl_op_check_same_shape(ctx, op, "y", y, "x", x)) ||
        (res && (st = fcl_op_check(ctx, op, "res", res, 2, 4))) ||
        (res && (st = fcl_op_check_same_shape(ctx, op, "res", res, "x", x))) ||
        (st = fcl_op_check_apart(ctx, op, "y", y, "res", res)))
        return st;
    bn_dims(x, &n, &c, &inner);
    const bn_vec vecs[] = {{"gamma", gamma, 0}, {"beta", beta, 0}, {"save_mean", save_mean, 0},
                           {"save_invstd", save_invstd, 0}, {"running_mean", running_mean, 0},
                           {"running_var", running_var, 0}};
    if ((st = check_vecs(ctx, op, vecs, 6, (size_t)c, "one per channel")))
        return st;
    if (!save_mean != !save_invstd || !running_mean != !running_var)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: save_mean/save_invstd and running_mean/"
                         "running_var come in pairs (both or neither)", op);
    if (fcl_op_overlaps(y, x) && !fcl_op_same(y, x))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: y partly overlaps x (only y == x is allowed)", op);
    if (!p->training && !running_mean)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: inference mode needs running_mean and running_var", op);
    if (p->training && (size_t)n * (size_t)inner < 2) {
        char s[96];
        fcl_tensor_shape_str(x, s, sizeof s);
        return FCL_ERR(ERRP(ctx), FCL_ERR_SHAPE, "%s: training needs more than 1 value per channel, x is %s",
                         op, s);
    }

    int flags = (gamma ? BN_HAS_GAMMA : 0) | (beta ? BN_HAS_BETA : 0) | (save_mean ? BN_HAS_SAVE : 0) |
                (running_mean ? BN_HAS_RUNNING : 0) | act_flag(fu.act) | (res ? BN_HAS_RES : 0);
    if (p->training) {
        size_t wg;
        if ((st = fcl_op_kernel(ctx, &SRC, "bn_fwd_train", &k)) || (st = reduce_wg(ctx, k, forced_wg, &wg)))
            return st;
        size_t g = (size_t)c * wg;
        if ((st = FCL_OP_RUN_ND(ctx, k, 1, &g, &wg, OP_T(y), OP_T(x), OP_T(res), OP_T(gamma), OP_T(beta),
                OP_T(save_mean), OP_T(save_invstd), OP_T(running_mean), OP_T(running_var), OP_I(n), OP_I(c), OP_I(inner), OP_F(p->eps),
                OP_F(p->momentum), OP_I(flags), OP_LOCAL(wg * sizeof(float)))))
            return st;
    } else {
        size_t g0 = fcl_op_div_up((size_t)inner, (size_t)fcl_op_vec(ctx, &SRC));
        if ((st = FCL_OP_2D(ctx, &SRC, "bn_fwd_infer", g0, (size_t)n * (size_t)c, OP_T(y), OP_T(x), OP_T(res),
                OP_T(gamma), OP_T(beta), OP_T(save_mean), OP_T(save_invstd), OP_T(running_mean), OP_T(running_var), OP_I(n),
                OP_I(c), OP_I(inner), OP_F(p->eps), OP_I(flags))))
            return st;
    }
    return FCL_OK;
}

/* y: the saved output, read for the mask of a fused activation (required then; ignored for
 * act NONE, where the backward does not depend on it). */
static fcl_status bn_bwd(fcl_ctx *ctx, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta, fcl_tensor *dres,
                         const fcl_tensor *dy, const fcl_tensor *y, const fcl_tensor *x, const fcl_tensor *gamma,
                         const fcl_tensor *save_mean, const fcl_tensor *save_invstd, const fcl_bn2d_params *p,
                         bn_fuse fu, int forced_wg)
{
    const char *op = !fu.fused ? "fcl_bn2d_bwd" : fu.act == FCL_BN_ACT_RELU ? "fcl_bn2d_relu_bwd" : "fcl_bn2d_act_bwd";
    fcl_status st;
    cl_kernel k;
    int n, c, inner;
    size_t wg;
    if (fu.act < FCL_BN_ACT_NONE || fu.act > FCL_BN_ACT_RELU6)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: unknown activation %d", op, (int)fu.act);
    /* Without a residual the activation's input is bn(x) itself: recomputed from x (mask_x), y is
     * not read. With one it is bn(x) + r, and r is not at hand: the mask reads y. */
    int mask_x = fu.mask_x && fu.act != FCL_BN_ACT_NONE && !dres;
    if (fu.act != FCL_BN_ACT_NONE && !mask_x && (st = fcl_op_check(ctx, op, "y", y, 2, 4))) return st;
    if (fu.act == FCL_BN_ACT_NONE || mask_x) y = NULL;
    if (forced_wg < 0)
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: forced group size %d < 0", op, forced_wg);
    if ((st = check_params(ctx, op, p)) || (st = fcl_op_check(ctx, op, "dy", dy, 2, 4)) ||
        (st = fcl_op_check(ctx, op, "x", x, 2, 4)) ||
        (st = fcl_op_check_same_shape(ctx, op, "dy", dy, "x", x)) ||
        (st = fcl_op_check_opt(ctx, op, "dx", dx, 2, 4)) ||
        (dx && (st = fcl_op_check_same_shape(ctx, op, "dx", dx, "x", x))) ||
        (y && (st = fcl_op_check_same_shape(ctx, op, "y", y, "x", x))) ||
        (st = fcl_op_check_opt(ctx, op, "dres", dres, 2, 4)) ||
        (dres && (st = fcl_op_check_same_shape(ctx, op, "dres", dres, "x", x))))
        return st;
    bn_dims(x, &n, &c, &inner);
    const bn_vec vecs[] = {{"save_mean", save_mean, 1}, {"save_invstd", save_invstd, 1}, {"gamma", gamma, 0},
                           {"dgamma", dgamma, 0}, {"dbeta", dbeta, 0}, {"beta", fu.beta, 0}};
    if ((st = check_vecs(ctx, op, vecs, 6, (size_t)c, "one per channel")))
        return st;
    const fcl_tensor *read[3] = {dy, x, y};
    if (fcl_op_overlaps_any(dx, read, 3) || fcl_op_overlaps_any(dres, read, 3) || fcl_op_overlaps(dx, dres))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: dx and dres must not overlap dy, x, y or each "
                         "other (the reductions read them while dx is written)", op);
    if ((fu.set & ~(FCL_BN_SET_DX | FCL_BN_SET_DRES)) || ((fu.set & FCL_BN_SET_DX) && !dx) ||
        ((fu.set & FCL_BN_SET_DRES) && !dres))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: overwrite flags %d name an output that is not given "
                         "(1: dx, 2: dres)", op, fu.set);
    if (!dx && !dgamma && !dbeta && !dres) return FCL_OK;

    int flags = (gamma ? BN_HAS_GAMMA : 0) | (dx ? BN_HAS_DX : 0) | (dgamma ? BN_HAS_DGAMMA : 0) |
                (dbeta ? BN_HAS_DBETA : 0) | (p->training ? BN_TRAINING : 0) | act_flag(fu.act) |
                (dres ? BN_HAS_RES : 0) | (mask_x ? BN_MASK_X : 0) | (mask_x && fu.beta ? BN_HAS_BETA : 0) |
                ((fu.set & FCL_BN_SET_DX) ? BN_DX_SET : 0) | ((fu.set & FCL_BN_SET_DRES) ? BN_DRES_SET : 0);
    if ((st = fcl_op_kernel(ctx, &SRC, "bn_bwd", &k)) || (st = reduce_wg(ctx, k, forced_wg, &wg))) return st;
    size_t g = (size_t)c * wg;
    return FCL_OP_RUN_ND(ctx, k, 1, &g, &wg, OP_T(dx), OP_T(dgamma), OP_T(dbeta), OP_T(dres), OP_T(dy), OP_T(x),
            OP_T(y), OP_T(gamma), OP_T(fu.beta),
            OP_T(save_mean), OP_T(save_invstd), OP_I(n), OP_I(c), OP_I(inner), OP_I(flags),
            OP_LOCAL(wg * sizeof(float)));
}

fcl_status fcl_bn2d_fold(fcl_ctx *ctx, fcl_tensor *w_out, fcl_tensor *b_out, const fcl_tensor *w,
                         const fcl_tensor *b, const fcl_tensor *gamma, const fcl_tensor *beta,
                         const fcl_tensor *running_mean, const fcl_tensor *running_var, float eps)
{
    const char *op = "fcl_bn2d_fold";
    fcl_status st;
    if ((st = fcl_op_check(ctx, op, "w", w, 1, 4)) || (st = fcl_op_check(ctx, op, "w_out", w_out, 1, 4)) ||
        (st = fcl_op_check_same_shape(ctx, op, "w_out", w_out, "w", w)))
        return st;
    size_t cout = w->shape[0], per_out = fcl_tensor_numel(w) / cout;
    const bn_vec vecs[] = {{"b_out", b_out, 1}, {"running_mean", running_mean, 1}, {"running_var", running_var, 1},
                           {"b", b, 0}, {"gamma", gamma, 0}, {"beta", beta, 0}};
    if ((st = check_vecs(ctx, op, vecs, 6, cout, "one per output channel of w")))
        return st;
    if (!(eps >= 0.0f) || !isfinite(eps))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: eps must be finite and >= 0, got %g", op, (double)eps);
    /* In place is safe only for w_out == w and b_out == b (one work-item reads and writes each
     * element). Any other overlap races: b_out[co] is written by the first work-item of row co
     * while the others of that row still read gamma/running_var[co] (oclgrind --data-races). */
    const fcl_tensor *stats[4] = {gamma, beta, running_mean, running_var};
    if ((fcl_op_overlaps(w_out, w) && !fcl_op_same(w_out, w)) ||
        (b && fcl_op_overlaps(b_out, b) && !fcl_op_same(b_out, b)) || fcl_op_overlaps(w_out, b_out) ||
        fcl_op_overlaps(w_out, b) || fcl_op_overlaps(b_out, w) || fcl_op_overlaps_any(w_out, stats, 4) ||
        fcl_op_overlaps_any(b_out, stats, 4))
        return FCL_ERR(ERRP(ctx), FCL_ERR_INVALID_ARG, "%s: outputs may only alias their own input "
                         "(w_out == w, b_out == b), not gamma, beta or the running statistics", op);
    int flags = (gamma ? BN_HAS_GAMMA : 0) | (beta ? BN_HAS_BETA : 0) | (b ? BN_HAS_BIAS : 0);
    return FCL_OP_1D(ctx, &SRC, "bn_fold", cout * per_out, OP_T(w_out), OP_T(b_out), OP_T(w), OP_T(b), OP_T(gamma),
            OP_T(beta), OP_T(running_mean), OP_T(running_var), OP_I(cout), OP_I(per_out), OP_F(eps), OP_I(flags));
}
