/* tools/bench_bn_act_pool.c: `facecl bench ops` rows of batch norm, ReLU and pooling (ResNet-18 shapes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* These ops are memory-bound: each row reports GB/s over the minimum traffic (every tensor the
 * op must read or write, once). */

enum { K_BN_TRAIN, K_BN_INFER, K_BN_BWD, K_RELU, K_RELU_BWD, K_MAXPOOL, K_MAXPOOL_BWD, K_AVGPOOL,
       K_AVGPOOL_BWD, K_GAP, K_GAP_BWD };

typedef struct bap_bench {
    int kind;
    size_t n, c, h, w;
    fcl_pool2d_params pool;
} bap_bench;

/* big: [n, c, h, w] tensors; small: [n, c, oh, ow] (pooling outputs); per: [c] vectors */
typedef struct bap_state {
    fcl_tensor big[3], small[2], per[6];
} bap_state;

static void bap_teardown(fcl_ctx *ctx, void *state)
{
    bap_state *s = state;
    if (!s) return;
    for (int i = 0; i < 3; i++) fcl_tensor_release(ctx, &s->big[i]);
    for (int i = 0; i < 2; i++) fcl_tensor_release(ctx, &s->small[i]);
    for (int i = 0; i < 6; i++) fcl_tensor_release(ctx, &s->per[i]);
    free(s);
}

static void out_hw(const bap_bench *b, size_t *oh, size_t *ow)
{
    *oh = *ow = 1;
    if (b->kind == K_GAP || b->kind == K_GAP_BWD) return;
    if (b->kind >= K_MAXPOOL) fcl_pool2d_out_hw(&b->pool, b->h, b->w, oh, ow, "bench", NULL);
}

static fcl_status bap_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const bap_bench *b = c->params;
    bap_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench %s: out of memory", c->op);
    size_t oh, ow;
    out_hw(b, &oh, &ow);
    fcl_status st = FCL_OK;
    for (int i = 0; i < 3 && !st; i++) {
        st = fcl_tensor_alloc4(ctx, &s->big[i], b->n, b->c, b->h, b->w);
        if (!st) st = fcl_tensor_fill(ctx, &s->big[i], 0.25f * (float)(i + 1));
    }
    for (int i = 0; i < 2 && !st; i++) {
        st = fcl_tensor_alloc4(ctx, &s->small[i], b->n, b->c, oh, ow);
        if (!st) st = fcl_tensor_fill(ctx, &s->small[i], 0.0f);
    }
    for (int i = 0; i < 6 && !st; i++) {
        st = fcl_tensor_alloc(ctx, &s->per[i], 1, &b->c, FCL_F32);
        if (!st) st = fcl_tensor_fill(ctx, &s->per[i], 1.0f);
    }
    /* the max-pool backward needs real indices */
    if (!st && b->kind == K_MAXPOOL_BWD)
        st = fcl_maxpool2d_fwd(ctx, &s->small[0], &s->small[1], &s->big[0], &b->pool);
    if (st) {
        bap_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status bap_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const bap_bench *b = c->params;
    bap_state *s = state;
    fcl_bn2d_params train = {1, 1e-5f, 0.1f}, infer = {0, 1e-5f, 0.1f};
    fcl_act_params relu = {FCL_ACT_RELU, 0};
    switch (b->kind) {
    case K_BN_TRAIN:
        return fcl_bn2d_fwd(ctx, &s->big[1], &s->per[0], &s->per[1], &s->per[2], &s->per[3], &s->big[0],
                            &s->per[4], &s->per[5], &train);
    case K_BN_INFER:
        return fcl_bn2d_fwd(ctx, &s->big[1], NULL, NULL, &s->per[2], &s->per[3], &s->big[0], &s->per[4],
                            &s->per[5], &infer);
    case K_BN_BWD:
        return fcl_bn2d_bwd(ctx, &s->big[2], &s->per[0], &s->per[1], &s->big[1], &s->big[0], &s->per[4],
                            &s->per[2], &s->per[3], &train);
    case K_RELU: return fcl_act_fwd(ctx, &s->big[1], &s->big[0], &relu);
    case K_RELU_BWD: return fcl_act_bwd(ctx, &s->big[2], &s->big[1], &s->big[0], &relu);
    case K_MAXPOOL: return fcl_maxpool2d_fwd(ctx, &s->small[0], &s->small[1], &s->big[0], &b->pool);
    case K_MAXPOOL_BWD: return fcl_maxpool2d_bwd(ctx, &s->big[2], &s->small[0], &s->small[1], &b->pool);
    case K_AVGPOOL: return fcl_avgpool2d_fwd(ctx, &s->small[0], &s->big[0], &b->pool);
    case K_AVGPOOL_BWD: return fcl_avgpool2d_bwd(ctx, &s->big[2], &s->small[0], &b->pool);
    case K_GAP: return fcl_global_avgpool_fwd(ctx, &s->small[0], &s->big[0]);
    case K_GAP_BWD: return fcl_global_avgpool_bwd(ctx, &s->big[2], &s->small[0]);
    default: return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_INTERNAL, "bench: unknown row kind %d", b->kind);
    }
}

/* One row. big / small: how many full-size and output-size tensors the op moves at least. */
static int row(bench_list *list, int kind, const char *op, const char *dir, const char *layer, size_t n,
               size_t ch, size_t h, const fcl_pool2d_params *pool, double big, double small)
{
    bap_bench *b = calloc(1, sizeof *b);
    if (!b) return -1;
    b->kind = kind, b->n = n, b->c = ch, b->h = h, b->w = h;
    if (pool) b->pool = *pool;
    size_t oh, ow;
    out_hw(b, &oh, &ow);
    bench_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "%s", op);
    /* no c.net: the per-network totals sum GFLOP/s rows; these memory-bound rows name the
     * network in the shape instead (as the eltwise rows do) */
    snprintf(c.shape, sizeof c.shape, "rn18 %s %zux%zux%zu^2", layer, n, ch, h);
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    c.bytes = (big * (double)(n * ch * h * h) + small * (double)(n * ch * oh * ow)) * sizeof(float);
    c.setup = bap_setup;
    c.run = bap_run;
    c.teardown = bap_teardown;
    c.params = b;
    return bench_add(list, &c);
}

int bench_bn_act_pool_cases(const bench_env *env, bench_list *list)
{
    size_t n = (size_t)env->batch;
    /* ResNet-18 sizes as in tools/bench_conv.c: stem /2, max pool /2, then /2 per stage */
    int s1 = fcl_conv2d_out_size(env->size, 7, 2, 3, 1);
    int r1 = fcl_conv2d_out_size(s1, 3, 2, 1, 1), r2 = fcl_conv2d_out_size(r1, 3, 2, 1, 1);
    int r3 = fcl_conv2d_out_size(r2, 3, 2, 1, 1), r4 = fcl_conv2d_out_size(r3, 3, 2, 1, 1);
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
