/* tools/bench_conv.c: `facecl bench ops` rows of conv2d (ResNet-18, ResNet-50's 1x1 and MobileNetV2 layers) and a CLBlast GEMM baseline. */
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
static int add_conv(const bench_env *env, bench_list *list, const char *net, const char *layer, int count, int first,
                    int n, int cin, int hw, int cout, int k, int stride, int groups)
{
    fcl_conv2d_params p = {n, cin, hw, hw, cout, k, k, stride, stride, k / 2, k / 2, 1, 1, groups, 0, 0};
    int oh, ow;
    if (fcl_conv2d_check(&p, &oh, &ow, NULL)) oh = ow = 0;   /* the row then fails with the reason */
    size_t N = (size_t)n, ci = (size_t)cin, co = (size_t)cout, h = (size_t)hw, kk = (size_t)k;
    size_t xs[4] = {N, ci, h, h}, ws[4] = {co, ci / (size_t)groups, kk, kk}, ys[4] = {N, co, (size_t)oh, (size_t)ow};
    char op[24];
    for (int d = DIR_FWD; d <= DIR_WEIGHT; d++) { /* what runs on this device (Winograd: fwd, bwd_data) */
        snprintf(op, sizeof op, "conv2d %s", fcl_conv2d_algo_name(fcl_conv2d_algo_in(env->ctx, &p, d == DIR_WEIGHT ? 1 : d == DIR_DATA ? 2 : 0)));
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

/* ---- MobileNetV2's distinct conv layers ----------------------------------------------------------- */

typedef struct mv_layer {
    char name[16];
    int count, cin, lvl, cout, k, stride, dw;
} mv_layer;
typedef struct mv_list {
    mv_layer l[64];
    int n;
} mv_list;

/* Counts one more occurrence of a layer shape, or adds it under this name. */
static void mv_add(mv_list *m, const char *name, int cin, int lvl, int cout, int k, int stride, int dw)
{
    const mv_layer x = {"", 1, cin, lvl, cout, k, stride, dw};
    for (int i = 0; i < m->n; i++) {
        const mv_layer *y = &m->l[i];
        if (y->cin == cin && y->lvl == lvl && y->cout == cout && y->k == k && y->stride == stride && y->dw == dw) {
            m->l[i].count++;
            return;
        }
    }
    if (m->n == 64) return;
    m->l[m->n] = x;
    snprintf(m->l[m->n].name, sizeof m->l[m->n].name, "%s", name);
    m->n++;
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
    if (add_conv(env, list, rn, "stem", 1, 1, n, 3, s, 64, 7, 2, 1) ||
        add_conv(env, list, rn, "layer1", 4, 0, n, 64, r1, 64, 3, 1, 1) ||
        add_conv(env, list, rn, "layer2.0", 1, 0, n, 64, r1, 128, 3, 2, 1) ||
        add_conv(env, list, rn, "layer2", 3, 0, n, 128, r2, 128, 3, 1, 1) ||
        add_conv(env, list, rn, "layer2.ds", 1, 0, n, 64, r1, 128, 1, 2, 1) ||
        add_conv(env, list, rn, "layer3.0", 1, 0, n, 128, r2, 256, 3, 2, 1) ||
        add_conv(env, list, rn, "layer3", 3, 0, n, 256, r3, 256, 3, 1, 1) ||
        add_conv(env, list, rn, "layer3.ds", 1, 0, n, 128, r2, 256, 1, 2, 1) ||
        add_conv(env, list, rn, "layer4.0", 1, 0, n, 256, r3, 512, 3, 2, 1) ||
        add_conv(env, list, rn, "layer4", 3, 0, n, 512, r4, 512, 3, 1, 1) ||
        add_conv(env, list, rn, "layer4.ds", 1, 0, n, 256, r3, 512, 1, 2, 1))
        return -1;
    /* ResNet-50's 1x1 stride-1 convs (torchvision v1.5 bottlenecks: conv1 reduce, conv3 expand,
     * layer1's stride-1 downsample) and its 3x3 stride-2s (conv2 of each stage's first block: C ->
     * C at the previous stage's size, unlike ResNet-18's C -> 2C), one row per distinct shape with
     * its count; its stride-1 3x3s are ResNet-18's layer shapes, its 1x1/2 downsamples the ".ds"
     * rows' kind */
    const char *r5 = "resnet50";
    if (add_conv(env, list, r5, "l1 reduce0", 1, 0, n, 64, r1, 64, 1, 1, 1) ||
        add_conv(env, list, r5, "l1 expand", 4, 0, n, 64, r1, 256, 1, 1, 1) ||
        add_conv(env, list, r5, "l1 reduce", 2, 0, n, 256, r1, 64, 1, 1, 1) ||
        add_conv(env, list, r5, "l2 reduce0", 1, 0, n, 256, r1, 128, 1, 1, 1) ||
        add_conv(env, list, r5, "l2 expand", 4, 0, n, 128, r2, 512, 1, 1, 1) ||
        add_conv(env, list, r5, "l2 reduce", 3, 0, n, 512, r2, 128, 1, 1, 1) ||
        add_conv(env, list, r5, "l3 reduce0", 1, 0, n, 512, r2, 256, 1, 1, 1) ||
        add_conv(env, list, r5, "l3 expand", 6, 0, n, 256, r3, 1024, 1, 1, 1) ||
        add_conv(env, list, r5, "l3 reduce", 5, 0, n, 1024, r3, 256, 1, 1, 1) ||
        add_conv(env, list, r5, "l4 reduce0", 1, 0, n, 1024, r3, 512, 1, 1, 1) ||
        add_conv(env, list, r5, "l4 expand", 3, 0, n, 512, r4, 2048, 1, 1, 1) ||
        add_conv(env, list, r5, "l4 reduce", 2, 0, n, 2048, r4, 512, 1, 1, 1) ||
        add_conv(env, list, r5, "l2 conv2", 1, 0, n, 128, r1, 128, 3, 2, 1) ||
        add_conv(env, list, r5, "l3 conv2", 1, 0, n, 256, r2, 256, 3, 2, 1) ||
        add_conv(env, list, r5, "l4 conv2", 1, 0, n, 512, r3, 512, 3, 2, 1))
        return -1;

    /* MobileNetV2 (width 1.0): stem 3x3/2 to 32 channels, then the inverted residual blocks of
     * the paper's table (expansion t, channels c, repeats n, first stride s): expand 1x1 (t > 1),
     * depthwise 3x3, project 1x1; then the 1x1 head to 1280. One row per distinct layer shape,
     * named after the first block that has it, with its number of occurrences. lvl: the input's
     * resolution level (0 the image, each stride-2 layer one more). */
    const char *mn = "mnv2";
    int m1 = fcl_conv2d_out_size(s, 3, 2, 1, 1);       /* 56 at 112 */
    int m2 = fcl_conv2d_out_size(m1, 3, 2, 1, 1), m3 = fcl_conv2d_out_size(m2, 3, 2, 1, 1);
    int m4 = fcl_conv2d_out_size(m3, 3, 2, 1, 1), m5 = fcl_conv2d_out_size(m4, 3, 2, 1, 1);
    static const struct { int t, c, n, s; } stages[] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                                        {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
    mv_list mv = {0};
    mv_add(&mv, "stem", 3, 0, 32, 3, 2, 0);
    int cin = 32, lvl = 1, blk = 0;
    for (size_t g = 0; g < sizeof stages / sizeof stages[0]; g++)
        for (int j = 0; j < stages[g].n; j++) {
            char name[16];
            const int hid = cin * stages[g].t, stride = j ? 1 : stages[g].s;
            blk++;
            snprintf(name, sizeof name, "b%d expand", blk);
            if (stages[g].t != 1) mv_add(&mv, name, cin, lvl, hid, 1, 1, 0);
            snprintf(name, sizeof name, "b%d dw", blk);
            mv_add(&mv, name, hid, lvl, hid, 3, stride, 1);
            lvl += stride == 2;
            snprintf(name, sizeof name, "b%d project", blk);
            mv_add(&mv, name, hid, lvl, stages[g].c, 1, 1, 0);
            cin = stages[g].c;
        }
    mv_add(&mv, "head", cin, lvl, 1280, 1, 1, 0);
    const int lvl_size[6] = {s, m1, m2, m3, m4, m5};
    for (int i = 0; i < mv.n; i++)
        if (add_conv(env, list, mn, mv.l[i].name, mv.l[i].count, i == 0, n, mv.l[i].cin, lvl_size[mv.l[i].lvl], mv.l[i].cout,
                     mv.l[i].k, mv.l[i].stride, mv.l[i].dw ? mv.l[i].cin : 1))
            return -1;
    return 0;
}
