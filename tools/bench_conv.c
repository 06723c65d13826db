/* tools/bench_conv.c: `facecl bench ops` rows of conv2d (ResNet-18 and MobileNetV2 layers) and a CLBlast GEMM baseline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ---- conv2d rows -------------------------------------------------------------------------------- */

enum { DIR_FWD, DIR_DATA, DIR_WEIGHT };
static const char *const dir_names[] = {"fwd", "bwd_data", "bwd_weight"};

typedef struct conv_bench {
    fcl_conv2d_params p;
    int dir;
} conv_bench;

typedef struct conv_state {
    fcl_tensor a, b, out;   /* fwd: x, w -> y; bwd_data: dy, w -> dx; bwd_weight: dy, x -> dw */
} conv_state;

static void conv_teardown(fcl_ctx *ctx, void *state)
{
    conv_state *s = state;
    if (!s) return;
    fcl_tensor_release(ctx, &s->a);
    fcl_tensor_release(ctx, &s->b);
    fcl_tensor_release(ctx, &s->out);
    free(s);
}

static fcl_status alloc_filled(fcl_ctx *ctx, fcl_tensor *t, size_t n0, size_t n1, size_t n2, size_t n3, float v)
{
    fcl_status st = fcl_tensor_alloc4(ctx, t, n0, n1, n2, n3);
    if (st == FCL_OK) st = fcl_tensor_fill(ctx, t, v);
    return st;
}

static fcl_status conv_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const conv_bench *cb = c->params;
    const fcl_conv2d_params *p = &cb->p;
    int oh, ow;
    fcl_status st = fcl_conv2d_check(p, &oh, &ow, fcl_ctx_error(ctx));
    if (st) return st;
    conv_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench conv2d: out of memory");
    size_t n = (size_t)p->n, ci = (size_t)p->cin, co = (size_t)p->cout, h = (size_t)p->h, w = (size_t)p->w;
    size_t cig = ci / (size_t)p->groups, kh = (size_t)p->kh, kw = (size_t)p->kw;
    /* x = 0.5, w = 0.01, dy = 0.01: plain normal floats, no denormals however many reps accumulate */
    if (cb->dir == DIR_FWD) {
        if (!(st = alloc_filled(ctx, &s->a, n, ci, h, w, 0.5f)) && !(st = alloc_filled(ctx, &s->b, co, cig, kh, kw, 0.01f)))
            st = alloc_filled(ctx, &s->out, n, co, (size_t)oh, (size_t)ow, 0.0f);
    } else if (cb->dir == DIR_DATA) {
        if (!(st = alloc_filled(ctx, &s->a, n, co, (size_t)oh, (size_t)ow, 0.01f)) &&
            !(st = alloc_filled(ctx, &s->b, co, cig, kh, kw, 0.01f)))
            st = alloc_filled(ctx, &s->out, n, ci, h, w, 0.0f);
    } else {
        if (!(st = alloc_filled(ctx, &s->a, n, co, (size_t)oh, (size_t)ow, 0.01f)) &&
            !(st = alloc_filled(ctx, &s->b, n, ci, h, w, 0.5f)))
            st = alloc_filled(ctx, &s->out, co, cig, kh, kw, 0.0f);
    }
    if (st) {
        conv_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status conv_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    const conv_bench *cb = c->params;
    conv_state *s = state;
    switch (cb->dir) {
    case DIR_FWD: return fcl_conv2d_fwd(ctx, &s->out, &s->a, &s->b, NULL, &cb->p);
    case DIR_DATA: return fcl_conv2d_bwd_data(ctx, &s->out, &s->a, &s->b, &cb->p);
    default: return fcl_conv2d_bwd_weight(ctx, &s->out, &s->a, &s->b, &cb->p);
    }
}

/* Adds the three rows (fwd, bwd_data, bwd_weight) of one layer that occurs `count` times in
 * `net`. The first layer's bwd_data is not needed in training: it counts 0 in the totals. */
static int add_conv(bench_list *list, const char *net, const char *layer, int count, int first, int n, int cin,
                    int hw, int cout, int k, int stride, int groups)
{
    for (int d = DIR_FWD; d <= DIR_WEIGHT; d++) {
        conv_bench *cb = calloc(1, sizeof *cb);
        if (!cb) return -1;
        fcl_conv2d_params p = {n, cin, hw, hw, cout, k, k, stride, stride, k / 2, k / 2, 1, 1, groups, 0};
        cb->p = p;
        cb->dir = d;
        bench_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.op, sizeof c.op, "conv2d %s", fcl_conv2d_algo_name(fcl_conv2d_algo_of(&p)));
        snprintf(c.net, sizeof c.net, "%s", net);
        snprintf(c.shape, sizeof c.shape, "%s %dx%d^2>%d k%ds%d%s", layer, cin, hw, cout, k, stride,
                 groups == 1 ? "" : groups == cin ? " dw" : " grouped");
        snprintf(c.dir, sizeof c.dir, "%s", dir_names[d]);
        c.count = first && d == DIR_DATA ? 0 : count;
        c.flops = fcl_conv2d_flops(&p);
        c.setup = conv_setup;
        c.run = conv_run;
        c.teardown = conv_teardown;
        c.params = cb;
        if (bench_add(list, &c)) return -1;
    }
    return 0;
}

/* ---- CLBlast GEMM baseline ------------------------------------------------------------------------ */

typedef struct gemm_state {
    fcl_tensor a, b, c;
    fcl_gemm_params g;
} gemm_state;

static void gemm_teardown(fcl_ctx *ctx, void *state)
{
    gemm_state *s = state;
    if (!s) return;
    fcl_tensor_release(ctx, &s->a);
    fcl_tensor_release(ctx, &s->b);
    fcl_tensor_release(ctx, &s->c);
    free(s);
}

static fcl_status gemm_setup(fcl_ctx *ctx, const bench_case *c, void **state)
{
    const fcl_gemm_params *g = c->params;
    gemm_state *s = calloc(1, sizeof *s);
    if (!s) return FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "bench gemm: out of memory");
    s->g = *g;
    fcl_status st = alloc_filled(ctx, &s->a, 1, 1, g->m, g->k, 0.01f);
    if (!st) st = alloc_filled(ctx, &s->b, 1, 1, g->k, g->n, 0.5f);
    if (!st) st = alloc_filled(ctx, &s->c, 1, 1, g->m, g->n, 0.0f);
    if (st) {
        gemm_teardown(ctx, s);
        return st;
    }
    *state = s;
    return FCL_OK;
}

static fcl_status gemm_run(fcl_ctx *ctx, const bench_case *c, void *state)
{
    gemm_state *s = state;
    return fcl_gemm(ctx, s->c.buf, s->a.buf, s->b.buf, &s->g);
}

/* fcl_gemm (CLBlast) on the GEMM a 3x3 64->64 conv at the layer1 size is (M = 64, K = 576,
 * N = batch * pixels): the same-run baseline the conv rows are compared with. */
static int add_gemm(bench_list *list, const char *label, size_t m, size_t n, size_t k)
{
    fcl_gemm_params *g = calloc(1, sizeof *g);
    if (!g) return -1;
    g->m = m;
    g->n = n;
    g->k = k;
    g->alpha = 1.0f;
    g->beta = 0.0f;
    bench_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.op, sizeof c.op, "gemm clblast");
    snprintf(c.shape, sizeof c.shape, "%s M%zu N%zu K%zu", label, m, n, k);
    snprintf(c.dir, sizeof c.dir, "fwd");
    c.flops = 2.0 * (double)m * (double)n * (double)k;
    c.setup = gemm_setup;
    c.run = gemm_run;
    c.teardown = gemm_teardown;
    c.params = g;
    return bench_add(list, &c);
}

/* ---- the case list ------------------------------------------------------------------------------- */

int bench_conv_cases(const bench_env *env, bench_list *list)
{
    const int n = env->batch, s = env->size;
    /* ResNet-18: 7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks */
    int s1 = fcl_conv2d_out_size(s, 7, 2, 3, 1);       /* stem output */
    int r1 = fcl_conv2d_out_size(s1, 3, 2, 1, 1);      /* after the max pool: layer1 */
    int r2 = fcl_conv2d_out_size(r1, 3, 2, 1, 1), r3 = fcl_conv2d_out_size(r2, 3, 2, 1, 1);
    int r4 = fcl_conv2d_out_size(r3, 3, 2, 1, 1);
    (void)r4;
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
