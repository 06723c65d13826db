/* host/nn/net_layers_ext.c: forward/backward of issue 12's layer kinds (drop path, LayerNorm2d, layer scale, radix sum, r-SoftMax, constant scale, weight-standardised conv) in the network engine. */
#include <stdlib.h>

#include "facecl/gemm.h"
#include "facecl/ops.h"
#include "nn/net_layers_ext.h"

int netx_handles(fcl_layer_kind k)
{
    return k == FCL_LAYER_DROP_PATH || k == FCL_LAYER_LAYERNORM || k == FCL_LAYER_PARAM ||
           k == FCL_LAYER_RADIX_SUM || k == FCL_LAYER_RSOFTMAX || k == FCL_LAYER_SCALE;
}

void netx_reads(const fcl_layer *L, int *reads_inputs, int *reads_output)
{
    /* drop path's backward needs only its seed, a parameter's its ones, a constant scale
     * nothing; LayerNorm's and the radix sum's read their inputs, r-SoftMax's its output */
    *reads_output = L->kind == FCL_LAYER_RSOFTMAX;
    *reads_inputs = L->kind == FCL_LAYER_LAYERNORM || L->kind == FCL_LAYER_RADIX_SUM;
}

int netx_init(const fcl_layer *L, const fcl_param_info *pi, float *dst, size_t n)
{
    float v;
    if (L->kind == FCL_LAYER_LAYERNORM) v = pi->kind == FCL_PARAM_WEIGHT ? 1.0f : 0.0f;
    else if (L->kind == FCL_LAYER_PARAM) v = L->ext.init;
    else return 0;
    for (size_t k = 0; k < n; k++) dst[k] = v;
    return 1;
}

/* A learned tensor g [C] broadcast over the batch: y [n x C] = ones [n x 1] * g [1 x C]; the
 * backward sums over the batch: dg [1 x C] += ones^T [1 x n] * dy [n x C] (GEMMs: deterministic). */
static fcl_status param_fwd(fcl_ctx *ctx, const fcl_layer *L, int n, fcl_tensor *y, const fcl_tensor *w,
                            netx_state *s)
{
    size_t nn = (size_t)n;
    fcl_status st = fcl_tensor_alloc(ctx, &s->t0, 1, &nn, FCL_F32);
    if (!st) st = fcl_tensor_fill(ctx, &s->t0, 1.0f);
    if (st) return st;
    fcl_gemm_params g = {0};
    g.m = nn;
    g.n = (size_t)L->out_c;
    g.k = 1;
    g.alpha = 1.0f;
    g.b_off = w->offset;
    g.c_off = y->offset;
    return fcl_gemm(ctx, y->buf, s->t0.buf, w->buf, &g);
}

static fcl_status param_bwd(fcl_ctx *ctx, const fcl_layer *L, const fcl_tensor *dy, fcl_tensor *dw, netx_state *s)
{
    if (!dw) return FCL_OK;
    fcl_gemm_params g = {0};
    g.trans_a = 1;             /* ones stored [n x 1] */
    g.m = 1;
    g.n = (size_t)L->out_c;
    g.k = s->t0.shape[0];
    g.alpha = 1.0f;
    g.beta = 1.0f;             /* gradients accumulate */
    g.b_off = dy->offset;
    g.c_off = dw->offset;
    return fcl_gemm(ctx, dw->buf, s->t0.buf, dy->buf, &g);
}

fcl_status netx_forward(fcl_ctx *ctx, const fcl_layer *L, int n, int training, fcl_tensor *y,
                        const fcl_tensor *const xs[2], const fcl_tensor *w, const fcl_tensor *b, netx_state *s)
{
    const fcl_tensor *x = xs[0];
    netx_release(ctx, s);
    switch (L->kind) {
    case FCL_LAYER_DROP_PATH: {
        /* one keep/drop per image (fcl_drop_path_fwd); a fresh seed per step and layer */
        s->drop.p = L->ext.p;
        s->drop.training = training && L->ext.p > 0;
        s->drop.seed = s->drop.training ? fcl_rng_next(fcl_ctx_rng(ctx)) : 0;
        return fcl_drop_path_fwd(ctx, y, x, &s->drop);
    }
    case FCL_LAYER_LAYERNORM: {
        size_t pixels = (size_t)n * L->in_h * L->in_w;
        fcl_status st = FCL_OK;
        if (training) {
            st = fcl_tensor_alloc(ctx, &s->t0, 1, &pixels, FCL_F32);
            if (!st) st = fcl_tensor_alloc(ctx, &s->t1, 1, &pixels, FCL_F32);
        }
        return st ? st : fcl_ln2d_fwd(ctx, y, training ? &s->t0 : NULL, training ? &s->t1 : NULL, x, w, b, L->ext.eps);
    }
    case FCL_LAYER_PARAM:
        return param_fwd(ctx, L, n, y, w, s);
    case FCL_LAYER_RADIX_SUM:
        return fcl_radix_sum_fwd(ctx, y, x, xs[1], L->ext.radix);
    case FCL_LAYER_RSOFTMAX:
        return fcl_rsoftmax_fwd(ctx, y, x, L->ext.radix, L->ext.cardinality);
    case FCL_LAYER_SCALE: {
        fcl_status st = fcl_tensor_copy(ctx, y, x);
        return st ? st : fcl_scale(ctx, y, L->ext.scale);
    }
    default:
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "netx_forward: kind %d is not an extension kind", (int)L->kind);
    }
}

fcl_status netx_backward(fcl_ctx *ctx, const fcl_layer *L, const fcl_tensor *dy, const fcl_tensor *y,
                         const fcl_tensor *const xs[2], fcl_tensor *const dxs[2], const fcl_tensor *w, fcl_tensor *dw,
                         fcl_tensor *db, netx_state *s)
{
    const fcl_tensor *x = xs[0];
    fcl_tensor *dx = dxs[0];
    switch (L->kind) {
    case FCL_LAYER_DROP_PATH:
        return dx ? fcl_drop_path_bwd(ctx, dx, dy, &s->drop) : FCL_OK;
    case FCL_LAYER_LAYERNORM:
        return fcl_ln2d_bwd(ctx, dx, dw, db, dy, x, w, &s->t0, &s->t1);
    case FCL_LAYER_PARAM:
        return param_bwd(ctx, L, dy, dw, s);
    case FCL_LAYER_RADIX_SUM:
        if (!dx && !dxs[1]) return FCL_OK;
        return fcl_radix_sum_bwd(ctx, dx, dxs[1], dy, x, xs[1], L->ext.radix);
    case FCL_LAYER_RSOFTMAX:
        return dx ? fcl_rsoftmax_bwd(ctx, dx, dy, y, L->ext.radix, L->ext.cardinality) : FCL_OK;
    case FCL_LAYER_SCALE:
        return dx ? fcl_axpy(ctx, dx, L->ext.scale, dy) : FCL_OK;
    default:
        return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "netx_backward: kind %d is not an extension kind", (int)L->kind);
    }
}

void netx_release(fcl_ctx *ctx, netx_state *s)
{
    fcl_tensor_release(ctx, &s->t0);
    fcl_tensor_release(ctx, &s->t1);
}

/* The standardised weight w_hat [cout, cin/groups, kh, kw] of a ws conv, in a fresh tensor. */
static fcl_status wsconv_weight(fcl_ctx *ctx, const fcl_layer *L, const fcl_tensor *w, const fcl_tensor *gain,
                                fcl_tensor *w_hat)
{
    fcl_status st = fcl_tensor_alloc(ctx, w_hat, w->ndim, w->shape, FCL_F32);
    return st ? st : fcl_wstd_fwd(ctx, w_hat, w, gain, L->conv.ws_scale, L->conv.ws_eps);
}

fcl_status netx_wsconv_fwd(fcl_ctx *ctx, const fcl_layer *L, const fcl_conv2d_params *p, fcl_tensor *y,
                           const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *b, const fcl_tensor *gain)
{
    fcl_tensor w_hat = {0};
    fcl_status st = wsconv_weight(ctx, L, w, gain, &w_hat);
    if (!st) st = fcl_conv2d_fwd(ctx, y, x, &w_hat, b, p);
    fcl_tensor_release(ctx, &w_hat);
    return st;
}

fcl_status netx_wsconv_bwd(fcl_ctx *ctx, const fcl_layer *L, const fcl_conv2d_params *p, fcl_tensor *dx,
                           fcl_tensor *dw, fcl_tensor *db, fcl_tensor *dgain, const fcl_tensor *dy, const fcl_tensor *x,
                           const fcl_tensor *w, const fcl_tensor *gain)
{
    fcl_tensor w_hat = {0}, dw_hat = {0};
    fcl_status st = wsconv_weight(ctx, L, w, gain, &w_hat);
    if (!st) st = fcl_tensor_alloc(ctx, &dw_hat, w->ndim, w->shape, FCL_F32);
    if (!st) st = fcl_tensor_fill(ctx, &dw_hat, 0.0f);
    /* the conv's gradients with respect to w_hat, then through the standardisation to w, gain */
    if (!st) st = fcl_conv2d_bwd(ctx, dx, &dw_hat, db, dy, x, &w_hat, p);
    if (!st) st = fcl_wstd_bwd(ctx, dw, dgain, &dw_hat, w, gain, L->conv.ws_scale, L->conv.ws_eps);
    fcl_tensor_release(ctx, &w_hat);
    fcl_tensor_release(ctx, &dw_hat);
    return st;
}
