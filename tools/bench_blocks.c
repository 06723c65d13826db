/* tools/bench_blocks.c: `facecl bench ops` rows of the ConvNeXt / EfficientNet / ResNeSt / NFNet block ops
 * (GELU, LayerNorm2d, layer scale, drop path, r-SoftMax, radix sums, weight standardisation, AGC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Memory-bound rows: GB/s over the minimum traffic (every tensor the op must read or write, once). */

enum { K_GELU, K_GELU_BWD, K_LN, K_LN_BWD, K_LS, K_LS_BWD, K_DROP_PATH, K_RSOFTMAX, K_RSOFTMAX_BWD,
       K_RSUM, K_RSUM_BWD, K_WSTD, K_WSTD_BWD, K_AGC };

typedef struct blk_bench {
    int kind;
    size_t n, c, h, w;   /* activations [n, c, h, w]; for wstd / agc: weight [n, c, h, w] */
    int radix;
} blk_bench;

/* big[0..2]: [n, c, h, w]; small[0..5]: per-channel / per-pixel / per-sample vectors */
typedef struct blk_state {
    fcl_tensor big[3], small[6];
    fcl_agc *agc;
} blk_state;

static void blk_teardown(fcl_ctx *ctx, void *state)
{
    blk_state *s = state;
    if (!s) return;
    for (int i = 0; i < 3; i++) fcl_tensor_release(ctx, &s->big[i]);
    for (int i = 0; i < 6; i++) fcl_tensor_release(ctx, &s->small[i]);
    fcl_agc_destroy(ctx, s->agc);
    free(s);
}

/* the sizes of the small vectors of a row: [0], [1], [4], [5] per channel (or per output row),
 * [2], [3] per pixel (LayerNorm statistics) or the [n, radix * c] attention of the radix sums */
static void small_sizes(const blk_bench *b, size_t *sz)
{
    sz[0] = sz[1] = sz[4] = sz[5] = b->c;
    sz[2] = sz[3] = b->n * b->h * b->w;
    if (b->kind == K_WSTD || b->kind == K_WSTD_BWD) sz[0] = sz[1] = b->n;
    if (b->kind == K_RSUM || b->kind == K_RSUM_BWD) sz[2] = sz[3] = b->n * b->c;
}

static fcl_status blk_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const blk_bench *b = c->params;
    blk_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench %s: out of memory", c->op);
    size_t sz[6];
    small_sizes(b, sz);
    fcl_status st = FCL_OK;
    for (int i = 0; i < 3 && !st; i++) {
        st = fcl_tensor_alloc4(ctx, &s->big[i], b->n, b->c, b->h, b->w);
        if (!st) st = fcl_tensor_fill(ctx, &s->big[i], 0.25f * (float)(i + 1));
    }
    for (int i = 0; i < 6 && !st; i++) {
        st = fcl_tensor_alloc(ctx, &s->small[i], 1, &sz[i], FCL_F32);
        if (!st) st = fcl_tensor_fill(ctx, &s->small[i], 0.5f);
    }
    /* the backward of LayerNorm reads real statistics */
    if (!st && b->kind == K_LN_BWD)
        st = fcl_ln2d_fwd(ctx, &s->big[1], &s->small[2], &s->small[3], &s->big[0], &s->small[0], &s->small[1],
                          1e-6f);
    if (!st && b->kind == K_AGC) {
        /* the weight as one tensor of n units (conv output channels) */
        fcl_agc_tensor t = {0, fcl_tensor_numel(&s->big[0]), b->n};
        st = fcl_agc_create(ctx, &s->agc, t.numel, &t, 1, 0.01, 1e-3);
    }
    if (st) {
        blk_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

/* a view of big tensor t as [n, c / div, h, w] (the radix sum's output) */
static fcl_tensor narrow(const fcl_tensor *t, const blk_bench *b, int div)
{
    size_t shape[4] = {b->n, b->c / (size_t)div, b->h, b->w};
    fcl_tensor v = *t;
    v.owned = 0;   /* a view: never released */
    v.ndim = 4;
    memcpy(v.shape, shape, sizeof shape);
    return v;
}

static fcl_status blk_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const blk_bench *b = c->params;
    blk_state *s = state;
    fcl_act_params gelu = {FCL_ACT_GELU, 0};
    fcl_dropout_params dp = {0.2f, 12345, 1};
    fcl_tensor y;
    switch (b->kind) {
    case K_GELU: return fcl_act_fwd(ctx, &s->big[1], &s->big[0], &gelu);
    case K_GELU_BWD: return fcl_act_bwd(ctx, &s->big[2], &s->big[1], &s->big[0], &gelu);
    case K_LN:
        return fcl_ln2d_fwd(ctx, &s->big[1], &s->small[2], &s->small[3], &s->big[0], &s->small[0], &s->small[1],
                            1e-6f);
    case K_LN_BWD:
        return fcl_ln2d_bwd(ctx, &s->big[2], &s->small[4], &s->small[5], &s->big[1], &s->big[0], &s->small[0],
                            &s->small[2], &s->small[3]);
    case K_LS: return fcl_layer_scale_fwd(ctx, &s->big[1], &s->big[0], &s->small[0]);
    case K_LS_BWD: return fcl_layer_scale_bwd(ctx, &s->big[2], &s->small[1], &s->big[1], &s->big[0], &s->small[0]);
    case K_DROP_PATH: return fcl_drop_path_fwd(ctx, &s->big[1], &s->big[0], &dp);
    case K_RSOFTMAX: return fcl_rsoftmax_fwd(ctx, &s->big[1], &s->big[0], b->radix, 1);
    case K_RSOFTMAX_BWD: return fcl_rsoftmax_bwd(ctx, &s->big[2], &s->big[1], &s->big[0], b->radix, 1);
    case K_RSUM:
        y = narrow(&s->big[1], b, b->radix);
        return fcl_radix_sum_fwd(ctx, &y, &s->big[0], &s->small[2], b->radix);
    case K_RSUM_BWD:
        y = narrow(&s->big[1], b, b->radix);
        return fcl_radix_sum_bwd(ctx, &s->big[2], &s->small[3], &y, &s->big[0], &s->small[2], b->radix);
    case K_WSTD: return fcl_wstd_fwd(ctx, &s->big[1], &s->big[0], &s->small[0], 0.0295f, 1e-5f);
    case K_WSTD_BWD:
        return fcl_wstd_bwd(ctx, &s->big[2], &s->small[1], &s->big[1], &s->big[0], &s->small[0], 0.0295f, 1e-5f);
    case K_AGC: return fcl_agc_apply(ctx, s->agc, &s->big[0], &s->big[1]);
    default: return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "bench: unknown row kind %d", b->kind);
    }
}

/* One row; big: how many [n, c, h, w] tensors the op moves at least (reads + writes). */
static int row(bench_list *list, int kind, const char *op, const char *dir, const char *where, size_t n,
               size_t ch, size_t h, size_t w, int radix, double big)
{
    blk_bench *b = calloc(1, sizeof *b);
    if (!b) return -1;
    b->kind = kind, b->n = n, b->c = ch, b->h = h, b->w = w, b->radix = radix;
    bench_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", op);
    snprintf(c.shape, sizeof c.shape, "%s %zux%zux%zux%zu", where, n, ch, h, w);
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    c.bytes = big * (double)(n * ch * h * w) * sizeof(float);
    c.setup = blk_setup;
    c.run = blk_run;
    c.teardown = blk_teardown;
    c.params = b;
    return bench_add(list, &c);
}

int bench_blocks_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch, s4 = (size_t)env->size / 4;
    if (s4 < 1) return 0;
    /* ConvNeXt-T stage 1 (stem /4, 96 channels, 384 in the MLP), ResNeSt-50 layer1 (radix 2,
     * 64 channels at /4), NFNet-F0 stage weights (a grouped 3x3 conv [768, 128, 3, 3]) */
    if (row(list, K_GELU, "gelu", "fwd", "cnxt s1 mlp", n, 384, s4, s4, 0, 2) ||
        row(list, K_GELU_BWD, "gelu", "bwd_data", "cnxt s1 mlp", n, 384, s4, s4, 0, 4) ||
        row(list, K_LN, "ln2d", "fwd", "cnxt s1", n, 96, s4, s4, 0, 2) ||
        row(list, K_LN_BWD, "ln2d", "bwd", "cnxt s1", n, 96, s4, s4, 0, 5) ||
        row(list, K_LS, "layer_scale", "fwd", "cnxt s1", n, 96, s4, s4, 0, 2) ||
        row(list, K_LS_BWD, "layer_scale", "bwd", "cnxt s1", n, 96, s4, s4, 0, 5) ||
        row(list, K_DROP_PATH, "drop_path", "fwd", "cnxt s1", n, 96, s4, s4, 0, 2) ||
        row(list, K_RSUM, "radix_sum", "fwd", "rnst layer1", n, 128, s4, s4, 2, 1.5) ||
        row(list, K_RSUM_BWD, "radix_sum", "bwd", "rnst layer1", n, 128, s4, s4, 2, 3.5) ||
        row(list, K_RSOFTMAX, "rsoftmax", "fwd", "rnst layer4 attn", n, 2 * 512, 1, 1, 2, 2) ||
        row(list, K_RSOFTMAX_BWD, "rsoftmax", "bwd_data", "rnst layer4 attn", n, 2 * 512, 1, 1, 2, 4) ||
        row(list, K_WSTD, "wstd", "fwd", "nfnet s3 conv2 w", 768, 128, 3, 3, 0, 2) ||
        row(list, K_WSTD_BWD, "wstd", "bwd", "nfnet s3 conv2 w", 768, 128, 3, 3, 0, 4) ||
        row(list, K_AGC, "agc", "clip", "nfnet s3 conv2 w", 768, 128, 3, 3, 0, 3))
        return -1;
    return 0;
}
