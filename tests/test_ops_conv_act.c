/* tests/test_ops_conv_act.c: the forward conv's fused output activation (fcl_conv2d_params.out_act) and residual (fcl_conv2d_fwd_res): every path vs the double reference (conv, add, act) and bit for bit vs the conv followed by fcl_act_fwd / fcl_act_add_fwd. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/ops_act.h"
#include "facecl/ops_eltwise.h"
#include "helpers/opcheck.h"
#include "ops/conv_prep.h"
#include "ref/ref_act.h"
#include "ref/ref_conv.h"

typedef struct conv_shape {
    const char *name;
    fcl_conv2d_params p;  /* algo: the one forced (0: the automatic choice) */
    int bias;
} conv_shape;

/* One case: a shape, its out_act (in p) and whether a residual r is added (fcl_conv2d_fwd_res). */
typedef struct act_conv_case {
    const char *name;
    fcl_conv2d_params p;
    int bias, res;
} act_conv_case;

/* n, cin, h, w, cout, kh, kw, stride h/w, pad h/w, dilation h/w, groups, algo */
#define CP(n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, g, a) \
    {n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, g, a, 0}

/* Every forward path on odd shapes (each run with ReLU and with ReLU6): the im2col GEMM (3x3
 * stride 2, the 7x7 stem, grouped, dilated, 5x5 automatic), the 1x1 path (7x7 maps: columns not a
 * multiple of the GEMM's block; 8x8), the depthwise kernels (dedicated 3x3 stride 1 and 2, the
 * general one), Winograd (forced; odd sizes, channels not a multiple of the register blocks). Under
 * the GPU tuning the same cases run the GPU-shaped kernels (dense and depthwise); F(4x4) and other
 * GEMM blocks likewise. Small shapes: ci/oclgrind.sh runs all of it on the simulator. */
static const conv_shape cases[] = {
    {"3x3 stride 2, odd", CP(3, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, FCL_CONV_GEMM), 1},
    {"7x7 stride 2 pad 3 (stem)", CP(2, 3, 31, 29, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, FCL_CONV_GEMM), 0},
    {"5x5 pad 2, automatic", CP(2, 4, 13, 13, 7, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0), 1},
    {"groups 2, 3x3 dilation 2", CP(2, 6, 9, 11, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 0), 1},
    {"3x3 pad 1, 14x9, 12 -> 19, GEMM", CP(2, 12, 14, 9, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, FCL_CONV_GEMM), 1},
    {"1x1, 7x7", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0), 1},
    {"1x1, 8x8, forced", CP(2, 9, 8, 8, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1, FCL_CONV_1X1), 0},
    {"dw 3x3 stride 1, 13x37", CP(2, 3, 13, 37, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0), 1},
    {"dw 3x3 stride 2, 13x13", CP(2, 5, 13, 13, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5, 0), 0},
    {"dw 5x5 stride 2 pad 2", CP(2, 6, 13, 31, 6, 5, 5, 2, 2, 2, 2, 1, 1, 6, 0), 1},
    {"winograd 3x3 pad 1, 13x7", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, FCL_CONV_WINOGRAD), 1},
    {"winograd 9 -> 12, 7x9", CP(3, 9, 7, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, FCL_CONV_WINOGRAD), 0},
    {"winograd pad 0x2, 18x34", CP(1, 4, 18, 34, 3, 3, 3, 1, 1, 0, 2, 1, 1, 1, FCL_CONV_WINOGRAD), 1},
    {"winograd 3x3 stride 2, 13x35, 10 -> 14", CP(3, 10, 13, 35, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, FCL_CONV_WINOGRAD), 1},
    {"implicit 3x3 stride 2, 11 -> 19", CP(3, 11, 13, 9, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, FCL_CONV_IMPLICIT), 1},
    {"implicit 7x7 stride 2 pad 3 (stem)", CP(2, 3, 17, 15, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, FCL_CONV_IMPLICIT), 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* The device's own tuning, then: the GPU-shaped kernels; Winograd F(2x2) (CPU default: F(4x4)); other GEMM register
 * blocks / vector widths with B in rows and im2col chunks of 64 KiB. */
static const char *const tunings[] = {
    "conv:-DCONV_GPU=1 -DCONV_GM=12 -DCONV_GN=40 -DCONV_GK=5 -DCONV_GWM=3 -DCONV_GWN=5 -DCONV_GWG=64 "
    "-DCONV_COL_KB=1 -DFCL_USE_SG=0",
    "conv:-DCONV_WINO=1",
    "conv:-DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8 -DCONV_COL_KB=64 -DCONV_IM_KB=0 -DCONV_BPANEL=0",
    NULL,
};
#define N_TUNINGS (sizeof tunings / sizeof tunings[0] - 1)

enum { X, W, B, R, Y };

static fcl_status dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const act_conv_case *ac = OC_P(c, act_conv_case);
    if (ac->res) return fcl_conv2d_fwd_res(ctx, t[Y], t[X], t[W], t[B], t[R], &ac->p, NULL);
    return fcl_conv2d_fwd(ctx, t[Y], t[X], t[W], t[B], &ac->p);
}

static fcl_act_params act_of(int out_act)
{
    return (fcl_act_params){out_act == FCL_CONV_ACT_RELU6 ? FCL_ACT_RELU6 : FCL_ACT_RELU, 0.0f};
}

/* the reference: the double conv, then the residual, then the activation */
static void ref_fwd(double *const *h, const oc_case *c)
{
    const act_conv_case *ac = OC_P(c, act_conv_case);
    fcl_act_params a = act_of(ac->p.out_act);
    fcl_ref_conv2d_fwd(h[Y], h[X], h[W], h[B], &ac->p);
    size_t n = h_numel(c->arg[Y].ndim, c->arg[Y].shape);
    for (size_t i = 0; i < n && ac->res; i++) h[Y][i] += h[R][i];
    if (ac->p.out_act) fcl_ref_act_fwd(h[Y], h[Y], n, &a);
}

/* Bit for bit: the same conv without out_act, then fcl_act_fwd / fcl_act_add_fwd / fcl_add_fwd in
 * place (what they replace). */
static void exact_vs_unfused(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h, (void)want;
    const act_conv_case *ac = OC_P(c, act_conv_case);
    fcl_conv2d_params q = ac->p;
    fcl_act_params a = act_of(q.out_act);
    q.out_act = FCL_CONV_ACT_NONE;
    size_t n = b[Y].numel;
    h_buf u = h_zeros(ctx, c->arg[Y].ndim, c->arg[Y].shape);
    H_OK(ctx, fcl_conv2d_fwd(ctx, &u.t, &b[X].t, &b[W].t, ac->bias ? &b[B].t : NULL, &q));
    if (ac->res && ac->p.out_act) H_OK(ctx, fcl_act_add_fwd(ctx, &u.t, &u.t, &b[R].t, &a));
    else if (ac->res) H_OK(ctx, fcl_add_fwd(ctx, &u.t, &u.t, &b[R].t));
    else H_OK(ctx, fcl_act_fwd(ctx, &u.t, &u.t, &a));
    double *fused = h_alloc(n), *unfused = h_alloc(n);
    h_download(ctx, &b[Y], fused);
    h_download(ctx, &u, unfused);
    size_t bad = 0, first = 0, neg = 0, clipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (fused[i] != unfused[i] && !bad++) first = i;
        neg += unfused[i] == 0.0, clipped += unfused[i] == 6.0;
    }
    cr_expect(bad == 0, "%s: %zu of %zu outputs differ from the unfused ops (first [%zu]: %.9g vs %.9g)", c->what, bad,
              n, first, fused[first], unfused[first]);
    /* the data must reach the activation's kinks or the test proves little */
    cr_expect(ac->p.out_act == FCL_CONV_ACT_NONE || (neg > 0 && (a.kind != FCL_ACT_RELU6 || clipped > 0)),
              "%s: %zu zeros, %zu sixes: the outputs do not exercise the activation", c->what, neg, clipped);
    h_free(ctx, &u);
    free(fused), free(unfused);
}

/* Which shapes run under run k (0: the device's tuning, else tunings[k - 1]): every one under
 * the defaults and the GPU shape; the Winograd ones under F(4x4); the GEMM / 1x1 ones under
 * other GEMM blocks (the simulator in ci/oclgrind.sh runs all of this). */
static int joins(const conv_shape *cs, int run)
{
    fcl_conv2d_algo a = fcl_conv2d_algo_of(&cs->p);
    if (run <= 1) return 1;
    return run == 2 ? a == FCL_CONV_WINOGRAD : a == FCL_CONV_GEMM || a == FCL_CONV_1X1;
}

/* case i: the (i / 3)-th shape of the run with ReLU, with a residual and ReLU6, with a residual
 * alone */
static int gen(const oc_op *op, size_t i, oc_case *c)
{
    const int run = *(const int *)op->ud;
    /* FACECL_TEST_SHARD=lite (ci/oclgrind.sh): under the GPU shape (run 1, ~75% of this binary's
     * time on the simulator with --data-races) each shape runs once, with the residual and ReLU6:
     * its loads and stores are a superset of the other two epilogues' (the residual is read at the
     * index y is written; the activations are arithmetic). PoCL and Intel's runtime run all three. */
    const char *shard = getenv("FACECL_TEST_SHARD");
    if (run == 1 && shard && !strcmp(shard, "lite")) i = i * 3 + 1;
    size_t k = 0;
    for (size_t seen = 0; k < N_CASES; k++)
        if (joins(&cases[k], run) && seen++ == i / 3) break;
    if (k == N_CASES) return 0;
    act_conv_case *ac = OC_P(c, act_conv_case);
    static const int acts[3] = {FCL_CONV_ACT_RELU, FCL_CONV_ACT_RELU6, FCL_CONV_ACT_NONE};
    const conv_shape *cs = &cases[k];
    *ac = (act_conv_case){cs->name, cs->p, cs->bias, i % 3 != 0};
    ac->p.out_act = acts[i % 3];
    const fcl_conv2d_params *p = &ac->p;
    int oh = 0, ow = 0;
    fcl_error err;
    cr_assert(fcl_conv2d_check(p, &oh, &ow, &err) == FCL_OK, "%s: %s", ac->name, err.msg);
    size_t xs[4] = {(size_t)p->n, (size_t)p->cin, (size_t)p->h, (size_t)p->w};
    size_t ws[4] = {(size_t)p->cout, (size_t)(p->cin / p->groups), (size_t)p->kh, (size_t)p->kw};
    size_t ys[4] = {(size_t)p->n, (size_t)p->cout, (size_t)oh, (size_t)ow}, bs[1] = {(size_t)p->cout};
    /* wide enough that outputs straddle 0 and 6 (9 taps of [-2, 2]^2 already spread ~4) */
    oc_arg_set(c, X, "x", OC_IN, 4, xs, -2, 2);
    oc_arg_set(c, W, "w", OC_IN, 4, ws, -2, 2);
    oc_arg_set(c, B, "b", ac->bias ? OC_IN : OC_NONE, 1, bs, -1, 1);
    oc_arg_set(c, R, "r", ac->res ? OC_IN : OC_NONE, 4, ys, -4, 4);
    oc_arg_set(c, Y, "y", OC_OUT, 4, ys, 0, 0);
    snprintf(c->what, sizeof c->what, "conv2d%s+%s %s: n%d %dx%dx%d -> %dx%dx%d bias %d algo %s", ac->res ? "+r" : "",
             p->out_act == FCL_CONV_ACT_RELU6 ? "relu6" : p->out_act ? "relu" : "none", ac->name, p->n, p->cin, p->h,
             p->w, p->cout, oh, ow, ac->bias, fcl_conv2d_algo_name(fcl_conv2d_algo_of(p)));
    return 1;
}

ParameterizedTestParameters(conv2d_act, every_path)
{
    static int runs[N_TUNINGS + 1] = {0, 1, 2, 3};
    return cr_make_param_array(int, runs, N_TUNINGS + 1);
}
ParameterizedTest(int *run, conv2d_act, every_path)
{
    const oc_op op = {.name = "conv2d_act", .ud = run, .gen = gen, .dev_fwd = dev_fwd, .ref_fwd = ref_fwd,
                      .extra = exact_vs_unfused, .tunings = tunings};
    oc_run_tuned(&op, *run);
}

/* The backward directions refuse an out_act (the activation's backward comes first); an unknown
 * one is refused by the check; a residual aliasing the output or of another size is refused;
 * nothing is written. */
Test(conv2d_act, rejects)
{
    fcl_ctx *ctx = h_ctx();
    fcl_error err;
    fcl_conv2d_params p = CP(2, 6, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0);
    p.out_act = 3;
    cr_expect(fcl_conv2d_check(&p, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "out_act 3") != NULL, "message: %s", err.msg);
    p.out_act = -1;
    cr_expect(fcl_conv2d_check(&p, NULL, NULL, NULL) == FCL_ERR_INVALID_ARG);
    p.out_act = FCL_CONV_ACT_RELU;
    cr_expect(fcl_conv2d_check(&p, NULL, NULL, NULL) == FCL_OK);
    size_t xs[4] = {2, 6, 7, 7}, ws[4] = {4, 6, 3, 3}, ys[4] = {2, 4, 7, 7}, bs[1] = {4};
    h_buf x = h_zeros(ctx, 4, xs), w = h_zeros(ctx, 4, ws), dy = h_zeros(ctx, 4, ys), g = h_zeros(ctx, 4, xs);
    h_buf gw = h_zeros(ctx, 4, ws), gb = h_zeros(ctx, 1, bs);
    const struct {
        const char *name;
        fcl_status st;
    } calls[] = {
        {"fcl_conv2d_bwd_data", fcl_conv2d_bwd_data(ctx, &g.t, &dy.t, &w.t, &p)},
        {"fcl_conv2d_bwd_weight", fcl_conv2d_bwd_weight(ctx, &gw.t, &dy.t, &x.t, &p)},
        {"fcl_conv2d_bwd_bias", fcl_conv2d_bwd_bias(ctx, &gb.t, &dy.t, &p)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        cr_expect(calls[i].st == FCL_ERR_INVALID_ARG, "%s with out_act: status %d", calls[i].name, calls[i].st);
    }
    cr_expect(fcl_conv2d_bwd(ctx, &g.t, NULL, NULL, &dy.t, NULL, &w.t, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "forward only") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    /* a residual that is the output, or has the wrong size */
    fcl_conv2d_params q = p;
    q.out_act = FCL_CONV_ACT_NONE;
    h_buf y = h_zeros(ctx, 4, ys), r = h_zeros(ctx, 4, xs);
    cr_expect(fcl_conv2d_fwd_res(ctx, &y.t, &x.t, &w.t, NULL, &y.t, &q, NULL) == FCL_ERR_INVALID_ARG, "r == y");
    cr_expect(fcl_conv2d_fwd_res(ctx, &y.t, &x.t, &w.t, NULL, &r.t, &q, NULL) != FCL_OK, "r of x's size");
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "r") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    h_free(ctx, &y), h_free(ctx, &r);
    double *got = h_alloc(h_numel(4, xs));
    h_download(ctx, &g, got);
    for (size_t i = 0; i < h_numel(4, xs); i++) cr_expect(got[i] == 0.0, "dx[%zu] = %g was written", i, got[i]);
    free(got);
    h_free(ctx, &x); h_free(ctx, &w); h_free(ctx, &dy); h_free(ctx, &g); h_free(ctx, &gw); h_free(ctx, &gb);
    h_ctx_free(ctx);
}
