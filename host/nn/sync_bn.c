/* host/nn/sync_bn.c: synchronised batch norm: global-batch statistics in forward and the matching backward terms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/ops.h"
#include "nn/ddp_internal.h"

/* Built from the tested BN and element-wise ops plus per-channel host arithmetic (C values):
 * forward   local mean / var of each rank (fcl_bn2d_fwd, training) are gathered and combined in
 *           rank order (Chan's parallel variance), so every rank gets bit-identical global
 *           statistics; y then comes from fcl_bn2d_fwd in inference form with them, and the
 *           running statistics move with the global batch (unbiased variance over M = sum M_r).
 * backward  fcl_bn2d_bwd in inference form gives gamma * invstd * dy and the local sums
 *           S1 = sum(dy), S2 = sum(dy * xhat); S1, S2 are summed over ranks and the remaining
 *           training term dx += -gamma * invstd / M * (S1 + xhat * S2) = a_c * x + b_c is added
 *           (an affine per channel, again through fcl_bn2d_fwd in inference form). */

static fcl_status scratch(fcl_ddp *p, size_t c)
{
    fcl_ctx *ctx = p->ctx;
    if (c <= p->bn_cap) return FCL_OK;
    fcl_tensor *ts[] = {&p->bn_a, &p->bn_b, &p->bn_c, &p->bn_d};
    for (int i = 0; i < 4; i++) fcl_tensor_release(ctx, ts[i]);
    free(p->bn_host);
    p->bn_cap = 0;
    p->bn_host = malloc((8 * c + 8) * (size_t)fcl_dist_size(p->d) * sizeof *p->bn_host);
    if (!p->bn_host) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    for (int i = 0; i < 4; i++) {
        fcl_status st = fcl_tensor_alloc(ctx, ts[i], 1, &c, FCL_F32);
        if (st) return st;
    }
    p->bn_cap = c;
    return FCL_OK;
}

/* A [c] view of a scratch vector. */
static fcl_status vec(fcl_ddp *p, fcl_tensor *t, size_t c, fcl_tensor *out)
{
    return fcl_tensor_view(p->ctx, t, 0, 1, &c, out);
}

static fcl_status get_f(fcl_ctx *ctx, const fcl_tensor *t, float *h, size_t c) { return fcl_tensor_download(ctx, t, h, c); }

fcl_status fcl_sync_bn_forward(void *user, int layer, fcl_tensor *y, fcl_tensor *save_mean, fcl_tensor *save_invstd,
                               fcl_tensor *running_mean, fcl_tensor *running_var, const fcl_tensor *x,
                               const fcl_tensor *gamma, const fcl_tensor *beta, const fcl_bn2d_params *p)
{
    fcl_ddp *dp = user;
    fcl_ctx *ctx = dp->ctx;
    (void)layer;
    size_t C = x->shape[1], M = fcl_tensor_numel(x) / C;
    int R = fcl_dist_size(dp->d);
    double t0 = fcl_ddp_now();
    fcl_status st = scratch(dp, C);
    if (st) return st;
    float *hf = malloc(4 * C * sizeof *hf);
    if (!hf) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    double *mine = dp->bn_host, *all = dp->bn_host + (2 * C + 1);
    fcl_tensor mu, var, run_m;
    /* local statistics (y is overwritten below) */
    st = fcl_bn2d_fwd(ctx, y, save_mean, save_invstd, NULL, NULL, x, NULL, NULL, p);
    if (!st) st = get_f(ctx, save_mean, hf, C);
    if (!st) st = get_f(ctx, save_invstd, hf + C, C);
    if (st) goto done;
    mine[0] = (double)M;
    for (size_t c = 0; c < C; c++) {
        double is = hf[C + c];
        mine[1 + c] = hf[c];
        mine[1 + C + c] = 1.0 / (is * is) - (double)p->eps; /* biased local variance */
    }
    st = fcl_dist_allgather_d(dp->d, mine, 2 * C + 1, all, (2 * C + 1) * (size_t)R, fcl_ctx_error(ctx));
    if (st) goto done;
    { /* combine in rank order: identical on every rank */
        double Mt = 0;
        for (int r = 0; r < R; r++) Mt += all[(size_t)r * (2 * C + 1)];
        for (size_t c = 0; c < C; c++) {
            double m = 0, v = 0;
            for (int r = 0; r < R; r++) m += all[(size_t)r * (2 * C + 1)] * all[(size_t)r * (2 * C + 1) + 1 + c];
            m /= Mt;
            for (int r = 0; r < R; r++) {
                const double *a = all + (size_t)r * (2 * C + 1);
                double dm = a[1 + c] - m;
                v += a[0] * (a[1 + C + c] + dm * dm);
            }
            v /= Mt;
            if (v < 0) v = 0;
            hf[c] = (float)m;
            hf[C + c] = (float)v;
            hf[2 * C + c] = (float)(v * Mt / (Mt > 1 ? Mt - 1 : 1)); /* unbiased, for the running variance */
        }
    }
    st = vec(dp, &dp->bn_a, C, &mu);
    if (!st) st = vec(dp, &dp->bn_b, C, &var);
    if (!st) st = fcl_tensor_upload(ctx, &mu, hf, C);
    if (!st) st = fcl_tensor_upload(ctx, &var, hf + C, C);
    if (!st) { /* y with the global statistics; save_* receive them for the backward */
        fcl_bn2d_params q = *p;
        q.training = 0;
        st = fcl_bn2d_fwd(ctx, y, save_mean, save_invstd, &mu, &var, x, gamma, beta, &q);
    }
    if (!st && running_mean) { /* running = (1 - m) running + m * batch, on the device */
        st = vec(dp, &dp->bn_c, C, &run_m);
        if (!st) st = fcl_tensor_upload(ctx, &run_m, hf + 2 * C, C);
        if (!st) st = fcl_axpby(ctx, running_mean, p->momentum, &mu, 1.0f - p->momentum);
        if (!st) st = fcl_axpby(ctx, running_var, p->momentum, &run_m, 1.0f - p->momentum);
    }
done:
    free(hf);
    dp->stats.sync_bn_s += fcl_ddp_now() - t0;
    return st;
}

fcl_status fcl_sync_bn_backward(void *user, int layer, fcl_tensor *dx, fcl_tensor *dgamma, fcl_tensor *dbeta,
                                const fcl_tensor *dy, const fcl_tensor *x, const fcl_tensor *gamma,
                                const fcl_tensor *save_mean, const fcl_tensor *save_invstd, const fcl_bn2d_params *p)
{
    fcl_ddp *dp = user;
    fcl_ctx *ctx = dp->ctx;
    (void)layer;
    size_t C = x->shape[1], M = fcl_tensor_numel(x) / C;
    double t0 = fcl_ddp_now();
    fcl_status st = scratch(dp, C);
    if (st) return st;
    float *hf = malloc(5 * C * sizeof *hf);
    if (!hf) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "out of host memory");
    double *S = dp->bn_host;
    fcl_tensor s1, s2, a, b, tmp = {0};
    fcl_bn2d_params q = *p;
    q.training = 0;
    st = vec(dp, &dp->bn_a, C, &s2);
    if (!st) st = vec(dp, &dp->bn_b, C, &s1);
    if (!st) st = fcl_tensor_fill(ctx, &s2, 0.0f);
    if (!st) st = fcl_tensor_fill(ctx, &s1, 0.0f);
    /* dx += gamma * invstd * dy; s2 = sum(dy * xhat), s1 = sum(dy) over this rank's rows */
    if (!st) st = fcl_bn2d_bwd(ctx, dx, &s2, &s1, dy, x, gamma, save_mean, save_invstd, &q);
    if (!st && dgamma) st = fcl_add_acc(ctx, dgamma, &s2);
    if (!st && dbeta) st = fcl_add_acc(ctx, dbeta, &s1);
    if (!st) st = get_f(ctx, &s1, hf, C);
    if (!st) st = get_f(ctx, &s2, hf + C, C);
    if (st || !dx) goto done;
    /* dx is wanted: every rank joins the sum */
    S[0] = (double)M;
    for (size_t c = 0; c < 2 * C; c++) S[1 + c] = hf[c];
    st = fcl_dist_sum_d(dp->d, S, 2 * C + 1, fcl_ctx_error(ctx));
    if (!st) st = get_f(ctx, save_mean, hf + 2 * C, C);
    if (!st) st = get_f(ctx, save_invstd, hf + 3 * C, C);
    if (!st && gamma) st = get_f(ctx, gamma, hf + 4 * C, C);
    if (st) goto done;
    {
        double Mt = S[0];
        float *ac = hf, *bc = hf + C; /* reuse: a_c, b_c */
        for (size_t c = 0; c < C; c++) {
            double g = gamma ? hf[4 * C + c] : 1.0, is = hf[3 * C + c], mean = hf[2 * C + c];
            double s1c = S[1 + c], s2c = S[1 + C + c];
            double ak = -g * is * is * s2c / Mt;
            double bk = -g * is * s1c / Mt - ak * mean;
            ac[c] = (float)ak;
            bc[c] = (float)bk;
        }
    }
    st = vec(dp, &dp->bn_c, C, &a);
    if (!st) st = vec(dp, &dp->bn_d, C, &b);
    if (!st) st = fcl_tensor_upload(ctx, &a, hf, C);
    if (!st) st = fcl_tensor_upload(ctx, &b, hf + C, C);
    if (!st) st = fcl_tensor_alloc(ctx, &tmp, x->ndim, x->shape, FCL_F32);
    if (!st) { /* tmp = a_c * x + b_c: BN inference with mean 0, var 1, eps 0 */
        fcl_tensor zero, one;
        st = vec(dp, &dp->bn_a, C, &zero);
        if (!st) st = vec(dp, &dp->bn_b, C, &one);
        if (!st) st = fcl_tensor_fill(ctx, &zero, 0.0f);
        if (!st) st = fcl_tensor_fill(ctx, &one, 1.0f);
        fcl_bn2d_params r = {0, 0.0f, 0.0f};
        if (!st) st = fcl_bn2d_fwd(ctx, &tmp, NULL, NULL, &zero, &one, x, &a, &b, &r);
    }
    if (!st) st = fcl_add_acc(ctx, dx, &tmp);
    fcl_tensor_release(ctx, &tmp);
done:
    free(hf);
    dp->stats.sync_bn_s += fcl_ddp_now() - t0;
    return st;
}

void fcl_sync_bn_free(fcl_ddp *p)
{
    fcl_tensor *ts[] = {&p->bn_a, &p->bn_b, &p->bn_c, &p->bn_d};
    for (int i = 0; i < 4; i++) fcl_tensor_release(p->ctx, ts[i]);
    free(p->bn_host);
}
