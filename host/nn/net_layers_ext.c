/* host/nn/net_layers_ext.c: forward/backward of issue 12's layer kinds (drop path) in the network engine. */
#include <stdlib.h>

#include "facecl/ops.h"
#include "nn/net_layers_ext.h"
#include "runtime/internal.h"

int netx_handles(fcl_layer_kind k)
{
    return k == FCL_LAYER_DROP_PATH;
}

void netx_reads(const fcl_layer *L, int *reads_inputs, int *reads_output)
{
    *reads_output = 0;
    /* drop path's backward needs only its scale */
    *reads_inputs = 0;
    (void)L;
}

int netx_init(const fcl_layer *L, const fcl_param_info *pi, float *dst, size_t n)
{
    (void)L; /* drop path has no parameters */
    (void)pi;
    (void)dst;
    (void)n;
    return 0;
}

/* Drop path in training: image i is kept iff fcl_dropout_keep(seed, i, p) (the dropout hash,
 * one draw per image, as torchvision's StochasticDepth "row" mode), then scaled by 1/(1-p).
 * The scale goes through the SE channel multiply as an [n, C, 1, 1] tensor. */
static fcl_status drop_path_fwd(fcl_ctx *ctx, const fcl_layer *L, int n, int training, fcl_tensor *y,
                                const fcl_tensor *x, netx_state *s)
{
    s->active = training && L->ext.p > 0;
    if (!s->active) return fcl_tensor_copy(ctx, y, x);
    uint64_t seed = fcl_rng_next(fcl_ctx_rng(ctx));
    size_t c = (size_t)L->in_c, count = (size_t)n * c;
    float *h = malloc(count * sizeof *h);
    if (!h) return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "drop path: out of host memory");
    float keep_scale = 1.0f / (1.0f - L->ext.p);
    for (int i = 0; i < n; i++) {
        float v = fcl_dropout_keep(seed, (uint64_t)i, L->ext.p) ? keep_scale : 0.0f;
        for (size_t k = 0; k < c; k++) h[(size_t)i * c + k] = v;
    }
    fcl_status st = fcl_tensor_alloc4(ctx, &s->t0, (size_t)n, c, 1, 1);
    if (!st) st = fcl_tensor_upload(ctx, &s->t0, h, count);
    free(h);
    return st ? st : fcl_chmul_fwd(ctx, y, x, &s->t0);
}

fcl_status netx_forward(fcl_ctx *ctx, const fcl_layer *L, int n, int training, fcl_tensor *y,
                        const fcl_tensor *x, const fcl_tensor *w, const fcl_tensor *b, netx_state *s)
{
    (void)w;
    (void)b;
    netx_release(ctx, s);
    switch (L->kind) {
    case FCL_LAYER_DROP_PATH:
        return drop_path_fwd(ctx, L, n, training, y, x, s);
    default:
        return FCL_ERR(&ctx->err, FCL_ERR_INTERNAL, "netx_forward: kind %d is not an extension kind", (int)L->kind);
    }
}

fcl_status netx_backward(fcl_ctx *ctx, const fcl_layer *L, const fcl_tensor *dy, const fcl_tensor *x,
                         fcl_tensor *dx, const fcl_tensor *w, fcl_tensor *dw, fcl_tensor *db, netx_state *s)
{
    (void)w;
    (void)dw;
    (void)db;
    switch (L->kind) {
    case FCL_LAYER_DROP_PATH:
        if (!dx) return FCL_OK;
        return s->active ? fcl_chmul_bwd(ctx, dx, NULL, dy, x, &s->t0) : fcl_add_acc(ctx, dx, dy);
    default:
        return FCL_ERR(&ctx->err, FCL_ERR_INTERNAL, "netx_backward: kind %d is not an extension kind", (int)L->kind);
    }
}

void netx_release(fcl_ctx *ctx, netx_state *s)
{
    fcl_tensor_release(ctx, &s->t0);
    fcl_tensor_release(ctx, &s->t1);
}
