/* tools/bench_blocks.c: `facecl bench ops` rows of the ConvNeXt / EfficientNet / ResNeSt / NFNet block ops
 * (GELU, LayerNorm2d, layer scale, drop path, r-SoftMax, radix sums, weight standardisation, AGC). */
#include <stdio.h>

#include "bench.h"

/* Memory-bound rows: GB/s over the minimum traffic (every tensor the op must read or write, once). */

enum { K_GELU, K_GELU_BWD, K_LN, K_LN_BWD, K_LS, K_LS_BWD, K_DROP_PATH, K_RSOFTMAX, K_RSOFTMAX_BWD,
       K_RSUM, K_RSUM_BWD, K_WSTD, K_WSTD_BWD, K_AGC };

/* operands: big[0..2] [n, c, h, w] (0.25, 0.5, 0.75); small[0..5] 0.5: [0], [1], [4], [5] per channel
 * (wstd / agc: per output row), [2], [3] per pixel (LayerNorm statistics) or the [n, radix * c]
 * attention of the radix sums; the radix sum's output [n, c / radix, h, w] */
enum { BIG = 0, SMALL = 3, RSUM_Y = 9 };

static fcl_status blk_prep(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void **state)
{
    fcl_tensor *b = &t[BIG], *s = &t[SMALL];
    if (c->kind == K_LN_BWD)   /* the backward of LayerNorm reads real statistics */
        return fcl_ln2d_fwd(ctx, &b[1], &s[2], &s[3], &b[0], &s[0], &s[1], 1e-6f);
    if (c->kind != K_AGC) return FCL_OK;
    /* the weight as one tensor of n units (conv output channels) */
    fcl_agc_tensor at = {0, fcl_tensor_numel(&b[0]), c->t[BIG].shape[0]};
    fcl_agc *agc = NULL;
    fcl_status st = fcl_agc_create(ctx, &agc, at.numel, &at, 1, 0.01, 1e-3);
    *state = agc;
    return st;
}

static void blk_drop(fcl_ctx *ctx, void *state) { fcl_agc_destroy(ctx, state); }

static fcl_status blk_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    fcl_act_params gelu = {FCL_ACT_GELU, 0};
    fcl_dropout_params dp = {0.2f, 12345, 1};
    fcl_tensor *b = &t[BIG], *s = &t[SMALL];
    int radix = *BENCH_P(c, int);
    switch (c->kind) {
    case K_GELU: return fcl_act_fwd(ctx, &b[1], &b[0], &gelu);
    case K_GELU_BWD: return fcl_act_bwd(ctx, &b[2], &b[1], &b[0], &gelu);
    case K_LN: return fcl_ln2d_fwd(ctx, &b[1], &s[2], &s[3], &b[0], &s[0], &s[1], 1e-6f);
    case K_LN_BWD: return fcl_ln2d_bwd(ctx, &b[2], &s[4], &s[5], &b[1], &b[0], &s[0], &s[2], &s[3]);
    case K_LS: return fcl_layer_scale_fwd(ctx, &b[1], &b[0], &s[0]);
    case K_LS_BWD: return fcl_layer_scale_bwd(ctx, &b[2], &s[1], &b[1], &b[0], &s[0]);
    case K_DROP_PATH: return fcl_drop_path_fwd(ctx, &b[1], &b[0], &dp);
    case K_RSOFTMAX: return fcl_rsoftmax_fwd(ctx, &b[1], &b[0], radix, 1);
    case K_RSOFTMAX_BWD: return fcl_rsoftmax_bwd(ctx, &b[2], &b[1], &b[0], radix, 1);
    case K_RSUM: return fcl_radix_sum_fwd(ctx, &t[RSUM_Y], &b[0], &s[2], radix);
    case K_RSUM_BWD: return fcl_radix_sum_bwd(ctx, &b[2], &s[3], &t[RSUM_Y], &b[0], &s[2], radix);
    case K_WSTD: return fcl_wstd_fwd(ctx, &b[1], &b[0], &s[0], 0.0295f, 1e-5f);
    case K_WSTD_BWD: return fcl_wstd_bwd(ctx, &b[2], &s[1], &b[1], &b[0], &s[0], 0.0295f, 1e-5f);
    case K_AGC: return fcl_agc_apply(ctx, state, &b[0], &b[1]);
    default: return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "bench: unknown row kind %d", c->kind);
    }
}

/* One row; big: how many [n, c, h, w] tensors the op moves at least (reads + writes). */
static int row(bench_list *list, int kind, const char *op, const char *dir, const char *where, size_t n,
               size_t ch, size_t h, size_t w, int radix, double big)
{
    bench_case *c = bench_row(list, op, "", dir, blk_run);
    if (!c) return -1;
    c->kind = kind;
    c->prep = blk_prep;
    c->drop = blk_drop;
    *BENCH_P(c, int) = radix;
    snprintf(c->shape, sizeof c->shape, "%s %zux%zux%zux%zu", where, n, ch, h, w);
    c->bytes = big * (double)(n * ch * h * w) * sizeof(float);
    size_t per[6] = {ch, ch, n * h * w, n * h * w, ch, ch};
    if (kind == K_WSTD || kind == K_WSTD_BWD) per[0] = per[1] = n;
    if (kind == K_RSUM || kind == K_RSUM_BWD) per[2] = per[3] = n * ch;
    for (int i = 0; i < 3; i++) bench_tensor_set(c, BIG + i, 4, n, ch, h, w, BENCH_CONST, 0.25f * (float)(i + 1));
    for (int i = 0; i < 6; i++) bench_tensor_set(c, SMALL + i, 1, per[i], 0, 0, 0, BENCH_CONST, 0.5f);
    if (kind == K_RSUM || kind == K_RSUM_BWD) bench_tensor_set(c, RSUM_Y, 4, n, ch / (size_t)radix, h, w, BENCH_CONST, 0.5f);
    return 0;
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
