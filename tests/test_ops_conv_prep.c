/* tests/test_ops_conv_prep.c: prepared forward-conv weights (host/ops/conv_prep.h): bit for bit the plain forward, kept while the version stays, recomputed when it changes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "ops/conv_prep.h"
#include "ref/ref_conv.h"

typedef struct prep_case {
    const char *name;
    fcl_conv2d_params p;
    int cached;   /* the path keeps its weights in the prep (so stale weights would show) */
} prep_case;

/* n, cin, h, w, cout, kh, kw, stride h/w, pad h/w, dilation h/w, groups, algo, out_act */
#define CP(n, ci, h, w, co, kh, kw, sh, sw, ph, pw, g, a, act) \
    {n, ci, h, w, co, kh, kw, sh, sw, ph, pw, 1, 1, g, a, act}

/* Winograd forced and automatic (>= 16 channels; F(4x4) under CONV_WINO=2 where the output is
 * 16x16 or more), odd sizes, with a fused ReLU; the GEMM and 1x1 paths (conv_pack's panels) keep
 * theirs too; the depthwise path keeps nothing and must still give the plain forward's results. */
static const prep_case cases[] = {
    {"winograd forced, 13x7, 5 -> 6", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 1, 1, 1, FCL_CONV_WINOGRAD, 0), 1},
    {"winograd auto, 17 -> 19, 18x17, relu", CP(2, 17, 18, 17, 19, 3, 3, 1, 1, 1, 1, 1, 0, FCL_CONV_ACT_RELU), 1},
    {"winograd forced, pad 0x2, 9x12", CP(1, 7, 9, 12, 3, 3, 3, 1, 1, 0, 2, 1, FCL_CONV_WINOGRAD, 0), 1},
    {"gemm 3x3 stride 2", CP(2, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, FCL_CONV_GEMM, 0), 1},
    {"1x1, 7x7, relu6", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 0, FCL_CONV_ACT_RELU6), 1},
    {"depthwise 3x3", CP(2, 5, 13, 13, 5, 3, 3, 1, 1, 1, 1, 5, 0, 0), 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static const char *const tunings[] = {"conv:-DCONV_WINO=2", "conv:-DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8"};
#define N_TUNINGS (sizeof tunings / sizeof tunings[0])

static double *rand_f32(size_t n, uint64_t seed)
{
    double *x = h_alloc(n);
    h_rand(x, n, seed, -1, 1);
    h_to_f32(x, n);
    return x;
}

static int differ(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 1;
    return 0;
}

/* y from the plain forward and from the prepared one at `version` (both into fresh buffers) */
static void fwd_both(fcl_ctx *ctx, const prep_case *c, h_buf *x, h_buf *w, h_buf *b, fcl_conv_prep *prep,
                     uint64_t version, const size_t *ys, double *plain, double *prepared)
{
    h_buf y1 = h_zeros(ctx, 4, ys), y2 = h_zeros(ctx, 4, ys);
    H_OK(ctx, fcl_conv2d_fwd(ctx, &y1.t, &x->t, &w->t, &b->t, &c->p));
    prep->version = version;
    H_OK(ctx, fcl_conv2d_fwd_prep(ctx, &y2.t, &x->t, &w->t, &b->t, &c->p, prep));
    if (plain) h_download(ctx, &y1, plain);
    h_download(ctx, &y2, prepared);
    h_free(ctx, &y1), h_free(ctx, &y2);
}

static void run_case(fcl_ctx *ctx, const prep_case *c)
{
    const fcl_conv2d_params *p = &c->p;
    int oh, ow;
    cr_assert(fcl_conv2d_check(p, &oh, &ow, NULL) == FCL_OK, "%s", c->name);
    h_case("conv2d prepared weights %s (algo %s)", c->name, fcl_conv2d_algo_name(fcl_conv2d_algo_in(ctx, p, 0)));
    size_t xs[4] = {(size_t)p->n, (size_t)p->cin, (size_t)p->h, (size_t)p->w};
    size_t ws[4] = {(size_t)p->cout, (size_t)(p->cin / p->groups), (size_t)p->kh, (size_t)p->kw};
    size_t ys[4] = {(size_t)p->n, (size_t)p->cout, (size_t)oh, (size_t)ow}, bs[1] = {(size_t)p->cout};
    size_t nx = h_numel(4, xs), nw = h_numel(4, ws), ny = h_numel(4, ys);
    double *hx = rand_f32(nx, 11), *hw1 = rand_f32(nw, 12), *hw2 = rand_f32(nw, 13), *hb = rand_f32(p->cout, 14);
    double *plain = h_alloc(ny), *got = h_alloc(ny), *first = h_alloc(ny), *want = h_alloc(ny);
    h_buf x = h_upload(ctx, hx, 4, xs), w = h_upload(ctx, hw1, 4, ws), b = h_upload(ctx, hb, 1, bs);
    fcl_conv_prep prep;
    memset(&prep, 0, sizeof prep);

    /* version 1: the plain forward's values, on the first call (filled) and the second (kept) */
    for (int call = 0; call < 2; call++) {
        fwd_both(ctx, c, &x, &w, &b, &prep, 1, ys, plain, got);
        cr_expect(!differ(got, plain, ny), "%s: prepared forward (call %d) differs from the plain one", c->name, call);
    }
    memcpy(first, got, ny * sizeof *got);
    fcl_ref_conv2d_fwd(want, hx, hw1, hb, p);
    for (size_t i = 0; i < ny && p->out_act; i++)
        want[i] = want[i] < 0 ? 0 : p->out_act == FCL_CONV_ACT_RELU6 && want[i] > 6 ? 6 : want[i];
    h_expect_close("prepared vs double reference", got, want, ny, H_TOL_FWD);

    /* new weights in the same buffer at version 2: recomputed (the new weights' plain values) */
    h_free(ctx, &w);
    w = h_upload(ctx, hw2, 4, ws);
    fwd_both(ctx, c, &x, &w, &b, &prep, 2, ys, plain, got);
    cr_expect(!differ(got, plain, ny), "%s: after a version bump the prepared forward differs from the plain one",
              c->name);
    cr_expect(differ(got, first, ny), "%s: new weights gave the old outputs", c->name);

    /* the same version with the weights changed back (against the contract): a path that keeps
     * its weights still uses version 2's, which shows they are kept and not recomputed */
    h_free(ctx, &w);
    w = h_upload(ctx, hw1, 4, ws);
    double *kept = h_alloc(ny);
    memcpy(kept, got, ny * sizeof *got);
    fwd_both(ctx, c, &x, &w, &b, &prep, 2, ys, NULL, got);
    if (c->cached)
        cr_expect(!differ(got, kept, ny), "%s: the prepared weights were not kept at an unchanged version", c->name);
    else
        cr_expect(!differ(got, first, ny), "%s: a path keeping nothing must follow the weights", c->name);

    fcl_conv_prep_release(ctx, &prep);
    for (int k = 0; k < FCL_CONV_PREP_KINDS; k++) cr_expect(prep.slot[k].buf == NULL, "slot %d not released", k);
    h_free(ctx, &x), h_free(ctx, &w), h_free(ctx, &b);
    free(hx), free(hw1), free(hw2), free(hb), free(plain), free(got), free(first), free(want), free(kept);
}

static void run_all(void)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t i = 0; i < N_CASES; i++) run_case(ctx, &cases[i]);
    h_ctx_free(ctx);
}
OC_TEST_TUNED(conv2d_prep, every_path, tunings, N_TUNINGS, run_all)

/* Without a prep, or at version 0, nothing is kept: fcl_conv_prep_get hands out no buffer. */
Test(conv2d_prep, no_prep_keeps_nothing)
{
    fcl_ctx *ctx = h_ctx();
    fcl_conv_prep prep;
    memset(&prep, 0, sizeof prep);
    cl_mem buf = (cl_mem)1;
    int fill = 0;
    H_OK(ctx, fcl_conv_prep_get(ctx, NULL, FCL_CONV_PREP_WINO, 1, 64, &buf, &fill));
    cr_expect(buf == NULL && fill == 1);
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 1, 64, &buf, &fill));
    cr_expect(buf == NULL && fill == 1 && prep.slot[FCL_CONV_PREP_WINO].buf == NULL);
    /* version 1: filled once, then kept; another key or a larger size refills */
    prep.version = 1;
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 1, 64, &buf, &fill));
    cr_expect(buf != NULL && fill == 1);
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 1, 64, &buf, &fill));
    cr_expect(fill == 1, "not marked done: still to fill");
    fcl_conv_prep_done(&prep, FCL_CONV_PREP_WINO);
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 1, 64, &buf, &fill));
    cr_expect(fill == 0, "filled at this version and key: kept");
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 2, 64, &buf, &fill));
    cr_expect(fill == 1, "another key refills");
    fcl_conv_prep_done(&prep, FCL_CONV_PREP_WINO);
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 2, 1 << 20, &buf, &fill));
    cr_expect(fill == 1 && prep.slot[FCL_CONV_PREP_WINO].cap >= (1 << 20), "a larger size reallocates and refills");
    fcl_conv_prep_done(&prep, FCL_CONV_PREP_WINO);
    prep.version = 2;
    H_OK(ctx, fcl_conv_prep_get(ctx, &prep, FCL_CONV_PREP_WINO, 2, 64, &buf, &fill));
    cr_expect(fill == 1, "a new version refills");
    fcl_conv_prep_release(ctx, &prep);
    h_ctx_free(ctx);
}
