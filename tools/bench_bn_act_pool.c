/* tools/bench_bn_act_pool.c: `facecl bench ops` rows of batch norm, ReLU and pooling (ResNet-18 shapes). */
#include <stdio.h>

#include "bench.h"

/* These ops are memory-bound: each row reports GB/s over the minimum traffic (every tensor the
 * op must read or write, once). */

enum { K_BN_TRAIN, K_BN_INFER, K_BN_BWD, K_RELU, K_RELU_BWD, K_MAXPOOL, K_MAXPOOL_BWD, K_AVGPOOL,
       K_AVGPOOL_BWD, K_GAP, K_GAP_BWD };

/* operands: big [n, c, h, w] x3 (0.25, 0.5, 0.75), small [n, c, oh, ow] x2, per-channel [c] x6 (1) */
enum { BIG = 0, SMALL = 3, PER = 5 };

static fcl_status bap_prep(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void **state)
{
    (void)state;   /* the max-pool backward needs real indices */
    const fcl_pool2d_params *pool = BENCH_P(c, fcl_pool2d_params);
    return c->kind == K_MAXPOOL_BWD ? fcl_maxpool2d_fwd(ctx, &t[SMALL], &t[SMALL + 1], &t[BIG], pool) : FCL_OK;
}

static fcl_status bap_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    const fcl_pool2d_params *pool = BENCH_P(c, fcl_pool2d_params);
    fcl_bn2d_params train = {1, 1e-5f, 0.1f}, infer = {0, 1e-5f, 0.1f};
    fcl_act_params relu = {FCL_ACT_RELU, 0};
    fcl_tensor *b = &t[BIG], *s = &t[SMALL], *per = &t[PER];
    switch (c->kind) {
    case K_BN_TRAIN: return fcl_bn2d_fwd(ctx, &b[1], &per[0], &per[1], &per[2], &per[3], &b[0], &per[4], &per[5], &train);
    case K_BN_INFER: return fcl_bn2d_fwd(ctx, &b[1], NULL, NULL, &per[2], &per[3], &b[0], &per[4], &per[5], &infer);
    case K_BN_BWD: return fcl_bn2d_bwd(ctx, &b[2], &per[0], &per[1], &b[1], &b[0], &per[4], &per[2], &per[3], &train);
    case K_RELU: return fcl_act_fwd(ctx, &b[1], &b[0], &relu);
    case K_RELU_BWD: return fcl_act_bwd(ctx, &b[2], &b[1], &b[0], &relu);
    case K_MAXPOOL: return fcl_maxpool2d_fwd(ctx, &s[0], &s[1], &b[0], pool);
    case K_MAXPOOL_BWD: return fcl_maxpool2d_bwd(ctx, &b[2], &s[0], &s[1], pool);
    case K_AVGPOOL: return fcl_avgpool2d_fwd(ctx, &s[0], &b[0], pool);
    case K_AVGPOOL_BWD: return fcl_avgpool2d_bwd(ctx, &b[2], &s[0], pool);
    case K_GAP: return fcl_global_avgpool_fwd(ctx, &s[0], &b[0]);
    case K_GAP_BWD: return fcl_global_avgpool_bwd(ctx, &b[2], &s[0]);
    default: return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "bench: unknown row kind %d", c->kind);
    }
}

/* One row. big / small: how many full-size and output-size tensors the op moves at least. */
static int row(bench_list *list, int kind, const char *op, const char *dir, const char *layer, size_t n,
               size_t ch, size_t h, const fcl_pool2d_params *pool, double big, double small)
{
    /* no net: the per-network totals sum GFLOP/s rows; these memory-bound rows name the
     * network in the shape instead (as the eltwise rows do) */
    bench_case *c = bench_row(list, op, "", dir, bap_run);
    if (!c) return -1;
    c->kind = kind;
    c->prep = bap_prep;
    size_t oh = 1, ow = 1;
    if (pool) {
        *BENCH_P(c, fcl_pool2d_params) = *pool;
        if (kind >= K_MAXPOOL && kind < K_GAP) fcl_pool2d_out_hw(pool, h, h, &oh, &ow, "bench", NULL);
    }
    snprintf(c->shape, sizeof c->shape, "rn18 %s %zux%zux%zu^2", layer, n, ch, h);
    c->bytes = (big * (double)(n * ch * h * h) + small * (double)(n * ch * oh * ow)) * sizeof(float);
    for (int i = 0; i < 3; i++) bench_tensor_set(c, BIG + i, 4, n, ch, h, h, BENCH_CONST, 0.25f * (float)(i + 1));
    for (int i = 0; i < 2; i++) bench_tensor_set(c, SMALL + i, 4, n, ch, oh, ow, BENCH_CONST, 0.0f);
    for (int i = 0; i < 6; i++) bench_tensor_set(c, PER + i, 1, ch, 0, 0, 0, BENCH_CONST, 1.0f);
    return 0;
}

int bench_bn_act_pool_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    int s1, r[4];   /* ResNet-18 sizes: stem /2, max pool /2, then /2 per stage */
    bench_rn18_sizes(env->size, &s1, r);
    int r1 = r[0], r3 = r[2], r4 = r[3];
    if (r4 < 1) return 0;   /* input too small for the network: no rows */
    fcl_pool2d_params mp = {3, 3, 2, 2, 1, 1, 0, 1, 0};   /* the stem's max pool */
    const struct { const char *layer; size_t ch; int hw; } bn_at[] = {
        {"stem", 64, s1}, {"layer1", 64, r1}, {"layer3", 256, r3}, {"layer4", 512, r4}};
    for (size_t i = 0; i < sizeof bn_at / sizeof bn_at[0]; i++) {
        size_t ch = bn_at[i].ch, h = (size_t)bn_at[i].hw;
        /* train fwd: read x, write y; infer: same; bwd: read dy and x, read+write dx */
        if (row(list, K_BN_TRAIN, "bn2d", "fwd_train", bn_at[i].layer, n, ch, h, NULL, 2, 0) ||
            row(list, K_BN_INFER, "bn2d", "fwd_infer", bn_at[i].layer, n, ch, h, NULL, 2, 0) ||
            row(list, K_BN_BWD, "bn2d", "bwd", bn_at[i].layer, n, ch, h, NULL, 4, 0))
            return -1;
    }
    /* relu fwd: read x, write y; bwd: read dy and y, read+write dx */
    if (row(list, K_RELU, "relu", "fwd", "stem", n, 64, (size_t)s1, NULL, 2, 0) ||
        row(list, K_RELU_BWD, "relu", "bwd_data", "stem", n, 64, (size_t)s1, NULL, 4, 0) ||
        row(list, K_RELU, "relu", "fwd", "layer1", n, 64, (size_t)r1, NULL, 2, 0) ||
        row(list, K_RELU_BWD, "relu", "bwd_data", "layer1", n, 64, (size_t)r1, NULL, 4, 0))
        return -1;
    /* max pool 3x3/2 pad 1 on the stem output: fwd reads x, writes y and idx; bwd reads dy and
     * idx, reads+writes dx. The average pool rows use the same window (ResNet-D style). */
    if (row(list, K_MAXPOOL, "maxpool2d", "fwd", "stem", n, 64, (size_t)s1, &mp, 1, 2) ||
        row(list, K_MAXPOOL_BWD, "maxpool2d", "bwd_data", "stem", n, 64, (size_t)s1, &mp, 2, 2) ||
        row(list, K_AVGPOOL, "avgpool2d", "fwd", "stem", n, 64, (size_t)s1, &mp, 1, 1) ||
        row(list, K_AVGPOOL_BWD, "avgpool2d", "bwd_data", "stem", n, 64, (size_t)s1, &mp, 2, 1) ||
        row(list, K_GAP, "global_avgpool", "fwd", "layer4", n, 512, (size_t)r4, NULL, 1, 1) ||
        row(list, K_GAP_BWD, "global_avgpool", "bwd_data", "layer4", n, 512, (size_t)r4, NULL, 2, 1))
        return -1;
    return 0;
}
