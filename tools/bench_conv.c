/* tools/bench_conv.c: `facecl bench ops` rows of conv2d (ResNet-18 and MobileNetV2 layers) and a CLBlast GEMM baseline. */
#include <stdio.h>

#include "bench.h"

/* ---- conv2d rows -------------------------------------------------------------------------------- */

enum { DIR_FWD, DIR_DATA, DIR_WEIGHT };
static const char *const dir_names[] = {"fwd", "bwd_data", "bwd_weight"};
enum { A, B, OUT };   /* fwd: x, w -> y; bwd_data: dy, w -> dx; bwd_weight: dy, x -> dw */
_Static_assert(sizeof(fcl_conv2d_params) <= sizeof((bench_case *)0)->params, "conv params fit a row");
_Static_assert(sizeof(fcl_gemm_params) <= sizeof((bench_case *)0)->params, "gemm params fit a row");

static fcl_status conv_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    const fcl_conv2d_params *p = BENCH_P(c, fcl_conv2d_params);
    switch (c->kind) {
    case DIR_FWD: return fcl_conv2d_fwd(ctx, &t[OUT], &t[A], &t[B], NULL, p);
    case DIR_DATA: return fcl_conv2d_bwd_data(ctx, &t[OUT], &t[A], &t[B], p);
    default: return fcl_conv2d_bwd_weight(ctx, &t[OUT], &t[A], &t[B], p);
    }
}

/* Adds the three rows (fwd, bwd_data, bwd_weight) of one layer that occurs `count` times in
 * `net`. The first layer's bwd_data is not needed in training: it counts 0 in the totals. */
static int add_conv(bench_list *list, const char *net, const char *layer, int count, int first, int n, int cin,
                    int hw, int cout, int k, int stride, int groups)
{
    fcl_conv2d_params p = {n, cin, hw, hw, cout, k, k, stride, stride, k / 2, k / 2, 1, 1, groups, 0};
    int oh, ow;
    if (fcl_conv2d_check(&p, &oh, &ow, NULL)) oh = ow = 0;   /* the row then fails with the reason */
    size_t N = (size_t)n, ci = (size_t)cin, co = (size_t)cout, h = (size_t)hw, kk = (size_t)k;
    size_t xs[4] = {N, ci, h, h}, ws[4] = {co, ci / (size_t)groups, kk, kk}, ys[4] = {N, co, (size_t)oh, (size_t)ow};
    char op[24];
    snprintf(op, sizeof op, "conv2d %s", fcl_conv2d_algo_name(fcl_conv2d_algo_of(&p)));
    for (int d = DIR_FWD; d <= DIR_WEIGHT; d++) {
        bench_case *c = bench_row(list, op, net, dir_names[d], conv_run);
        if (!c) return -1;
        c->kind = d;
        *BENCH_P(c, fcl_conv2d_params) = p;
        snprintf(c->shape, sizeof c->shape, "%s %dx%d^2>%d k%ds%d%s", layer, cin, hw, cout, k, stride,
                 groups == 1 ? "" : groups == cin ? " dw" : " grouped");
        c->count = first && d == DIR_DATA ? 0 : count;
        c->flops = fcl_conv2d_flops(&p);
        /* x = 0.5, w = 0.01, dy = 0.01: plain normal floats, no denormals however many reps accumulate */
        const size_t *a = d == DIR_FWD ? xs : ys, *b = d == DIR_WEIGHT ? xs : ws;
        const size_t *o = d == DIR_FWD ? ys : d == DIR_DATA ? xs : ws;
        bench_tensor_set(c, A, 4, a[0], a[1], a[2], a[3], BENCH_CONST, d == DIR_FWD ? 0.5f : 0.01f);
        bench_tensor_set(c, B, 4, b[0], b[1], b[2], b[3], BENCH_CONST, d == DIR_WEIGHT ? 0.5f : 0.01f);
        bench_tensor_set(c, OUT, 4, o[0], o[1], o[2], o[3], BENCH_CONST, 0.0f);
    }
    return 0;
}

/* ---- CLBlast GEMM baseline ------------------------------------------------------------------------ */

static fcl_status gemm_run(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state)
{
    (void)state;
    return fcl_gemm(ctx, t[OUT].buf, t[A].buf, t[B].buf, BENCH_P(c, fcl_gemm_params));
}

/* fcl_gemm (CLBlast) on the GEMM a 3x3 64->64 conv at the layer1 size is (M = 64, K = 576,
 * N = batch * pixels): the same-run baseline the conv rows are compared with. */
static int add_gemm(bench_list *list, const char *label, size_t m, size_t n, size_t k)
{
    bench_case *c = bench_row(list, "gemm clblast", "", "fwd", gemm_run);
    if (!c) return -1;
    fcl_gemm_params *g = BENCH_P(c, fcl_gemm_params);
    g->m = m;
    g->n = n;
    g->k = k;
    g->alpha = 1.0f;
    g->beta = 0.0f;
    snprintf(c->shape, sizeof c->shape, "%s M%zu N%zu K%zu", label, m, n, k);
    c->flops = 2.0 * (double)m * (double)n * (double)k;
    bench_tensor_set(c, A, 4, 1, 1, m, k, BENCH_CONST, 0.01f);
    bench_tensor_set(c, B, 4, 1, 1, k, n, BENCH_CONST, 0.5f);
    bench_tensor_set(c, OUT, 4, 1, 1, m, n, BENCH_CONST, 0.0f);
    return 0;
}

/* ---- the case list ------------------------------------------------------------------------------- */

int bench_conv_cases(const bench_env *env, bench_list *list)
{
    const int n = env->batch, s = env->size;
    /* ResNet-18: 7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks */
    int stem, r[4];   /* stem output, layer1 (after the max pool) .. layer4 */
    bench_rn18_sizes(s, &stem, r);
    int r1 = r[0], r2 = r[1], r3 = r[2], r4 = r[3];
    if (add_gemm(list, "=rn18 layer1 3x3 as GEMM", 64, (size_t)n * r1 * r1, 576)) return -1;
    const char *rn = "resnet18";
    if (add_conv(list, rn, "stem", 1, 1, n, 3, s, 64, 7, 2, 1) ||
        add_conv(list, rn, "layer1", 4, 0, n, 64, r1, 64, 3, 1, 1) ||
        add_conv(list, rn, "layer2.0", 1, 0, n, 64, r1, 128, 3, 2, 1) ||
        add_conv(list, rn, "layer2", 3, 0, n, 128, r2, 128, 3, 1, 1) ||
        add_conv(list, rn, "layer2.ds", 1, 0, n, 64, r1, 128, 1, 2, 1) ||
        add_conv(list, rn, "layer3.0", 1, 0, n, 128, r2, 256, 3, 2, 1) ||
        add_conv(list, rn, "layer3", 3, 0, n, 256, r3, 256, 3, 1, 1) ||
        add_conv(list, rn, "layer3.ds", 1, 0, n, 128, r2, 256, 1, 2, 1) ||
        add_conv(list, rn, "layer4.0", 1, 0, n, 256, r3, 512, 3, 2, 1) ||
        add_conv(list, rn, "layer4", 3, 0, n, 512, r4, 512, 3, 1, 1) ||
        add_conv(list, rn, "layer4.ds", 1, 0, n, 256, r3, 512, 1, 2, 1))
        return -1;

    /* MobileNetV2 (width 1.0): stem 3x3/2 to 32 channels, then inverted residual blocks
     * (expand 1x1, depthwise 3x3, project 1x1). Every depthwise shape, and the 1x1 shapes with
     * their number of occurrences. */
    const char *mn = "mnv2";
    int m1 = fcl_conv2d_out_size(s, 3, 2, 1, 1);       /* 56 at 112 */
    int m2 = fcl_conv2d_out_size(m1, 3, 2, 1, 1), m3 = fcl_conv2d_out_size(m2, 3, 2, 1, 1);
    int m4 = fcl_conv2d_out_size(m3, 3, 2, 1, 1), m5 = fcl_conv2d_out_size(m4, 3, 2, 1, 1);
    static const struct { const char *name; int count, cin, lvl, cout, k, stride, dw; } mv[] = {
        {"stem", 1, 3, 0, 32, 3, 2, 0},
        {"b1 dw", 1, 32, 1, 32, 3, 1, 1},     {"b1 project", 1, 32, 1, 16, 1, 1, 0},
        {"b2 expand", 1, 16, 1, 96, 1, 1, 0}, {"b2 dw", 1, 96, 1, 96, 3, 2, 1},
        {"b2 project", 1, 96, 2, 24, 1, 1, 0},
        {"b3 expand", 2, 24, 2, 144, 1, 1, 0}, {"b3 dw", 1, 144, 2, 144, 3, 1, 1},
        {"b3 project", 1, 144, 2, 24, 1, 1, 0}, {"b4 dw", 1, 144, 2, 144, 3, 2, 1},
        {"b4 project", 1, 144, 3, 32, 1, 1, 0},
        {"b5 expand", 3, 32, 3, 192, 1, 1, 0}, {"b5 dw", 2, 192, 3, 192, 3, 1, 1},
        {"b5 project", 2, 192, 3, 32, 1, 1, 0}, {"b7 dw", 1, 192, 3, 192, 3, 2, 1},
        {"b7 project", 1, 192, 4, 64, 1, 1, 0},
        {"b8 expand", 4, 64, 4, 384, 1, 1, 0}, {"b8 dw", 4, 384, 4, 384, 3, 1, 1},
        {"b8 project", 3, 384, 4, 64, 1, 1, 0}, {"b11 project", 1, 384, 4, 96, 1, 1, 0},
        {"b12 expand", 3, 96, 4, 576, 1, 1, 0}, {"b12 dw", 2, 576, 4, 576, 3, 1, 1},
        {"b12 project", 2, 576, 4, 96, 1, 1, 0}, {"b14 dw", 1, 576, 4, 576, 3, 2, 1},
        {"b14 project", 1, 576, 5, 160, 1, 1, 0},
        {"b15 expand", 3, 160, 5, 960, 1, 1, 0}, {"b15 dw", 3, 960, 5, 960, 3, 1, 1},
        {"b15 project", 2, 960, 5, 160, 1, 1, 0}, {"b17 project", 1, 960, 5, 320, 1, 1, 0},
        {"head", 1, 320, 5, 1280, 1, 1, 0},
    };
    const int lvl_size[6] = {s, m1, m2, m3, m4, m5};
    for (size_t i = 0; i < sizeof mv / sizeof mv[0]; i++)
        if (add_conv(list, mn, mv[i].name, mv[i].count, i == 0, n, mv[i].cin, lvl_size[mv[i].lvl], mv[i].cout,
                     mv[i].k, mv[i].stride, mv[i].dw ? mv[i].cin : 1))
            return -1;
    return 0;
}
