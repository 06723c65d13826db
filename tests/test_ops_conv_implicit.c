/* tests/test_ops_conv_implicit.c: the implicit-GEMM convolution (host/ops/conv_implicit.c) vs the double reference, forced and automatic, under several register blocks; per-image results independent of the batch. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "facecl/tuning.h"
#include "helpers/conv_desc.h"
#include "helpers/opcheck.h"

/* One configuration: params (algo FCL_CONV_IMPLICIT forced, or 0: the automatic choice, which
 * must then be the implicit GEMM on this device's tuning) and whether it has a bias. */
typedef struct cim_case {
    const char *name;
    fcl_conv2d_params p;
    int bias;
} cim_case;

/* n, cin, h, w, cout, kh, kw, stride h/w, pad h/w, dilation h/w, algo (groups 1) */
#define CP(n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, a) \
    {n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, 1, a, 0}
#define IM FCL_CONV_IMPLICIT

/* Odd channel counts (not multiples of any register block's 8 or 16 lanes, one and several
 * panels of output channels), paddings 0..3, strides 1..3, dilation, rectangular images and
 * kernels, batch 1 and 5, pixel counts that leave a partial last block of pixels. */
static const cim_case cim_cases[] = {
    {"3x3 s2 p1, 13x11, 5 -> 7", CP(2, 5, 13, 11, 7, 3, 3, 2, 2, 1, 1, 1, 1, IM), 1},
    {"3x3 s2 p1, batch 1, 31x31, 17 -> 33", CP(1, 17, 31, 31, 33, 3, 3, 2, 2, 1, 1, 1, 1, IM), 1},
    {"3x3 s2 p1, batch 5, even 14x14, 19 -> 40", CP(5, 19, 14, 14, 40, 3, 3, 2, 2, 1, 1, 1, 1, IM), 0},
    {"7x7 s2 p3 (stem), 3 -> 9, 29x31", CP(2, 3, 29, 31, 9, 7, 7, 2, 2, 3, 3, 1, 1, IM), 1},
    {"3x3 s1 p1, 9x7, 6 -> 11", CP(3, 6, 9, 7, 11, 3, 3, 1, 1, 1, 1, 1, 1, IM), 1},
    {"3x3 s3 p0, 16x13", CP(2, 4, 16, 13, 5, 3, 3, 3, 3, 0, 0, 1, 1, IM), 1},
    {"3x5 s2x1 p1x2 dilation 2x1", CP(2, 5, 13, 9, 6, 3, 5, 2, 1, 1, 2, 2, 1, IM), 0},
    {"5x5 s1 p2 dilation 2, 15x12", CP(1, 3, 15, 12, 4, 5, 5, 1, 1, 2, 2, 2, 2, IM), 1},
    {"1x1 s2 p0 (downsample), 13x13", CP(2, 10, 13, 13, 6, 1, 1, 2, 2, 0, 0, 1, 1, IM), 1},
    {"1x1 s1 p1", CP(2, 3, 7, 7, 4, 1, 1, 1, 1, 1, 1, 1, 1, IM), 0},
    {"3x3 s2 p1, 1x1 image", CP(3, 4, 1, 1, 5, 3, 3, 2, 2, 1, 1, 1, 1, IM), 1},
    {"3x3 s2 p3 (wider than the kernel), 5x4", CP(2, 3, 5, 4, 3, 3, 3, 2, 2, 3, 3, 1, 1, IM), 1},
    {"1 channel in and out, 7x7 s2", CP(2, 1, 9, 9, 1, 7, 7, 2, 2, 3, 3, 1, 1, IM), 1},
    /* 22x22 outputs: the weight gradient's dy panels (WGRAD_PANEL_KB) split 5 images into chunks */
    {"7x7 s2 p3, 1 -> 16, 5 x 44x44 (weight-gradient chunks)", CP(5, 1, 44, 44, 16, 7, 7, 2, 2, 3, 3, 1, 1, IM), 0},
    /* automatic: strided dense convs with 25 or more taps */
    {"auto 7x7 s2 p3, 3 -> 16, 22x22", CP(2, 3, 22, 22, 16, 7, 7, 2, 2, 3, 3, 1, 1, 0), 0},
    {"auto 5x5 s2x1 p2, 19 -> 21", CP(2, 19, 9, 8, 21, 5, 5, 2, 1, 2, 2, 1, 1, 0), 1},
    {"auto 7x7 s3 p3, 5 -> 9, 16x13", CP(1, 5, 16, 13, 9, 7, 7, 3, 3, 3, 3, 1, 1, 0), 1},
    /* automatic under CONV_IMPLICIT bit 4 only (the extra check knows) */
    {"auto-4 3x3 s2 p1, 24 -> 20, 7x7", CP(3, 24, 7, 7, 20, 3, 3, 2, 2, 1, 1, 1, 1, 0), 1},
    /* automatic weight gradient under bit 16 (outputs 7+ wide: 8x7 here), or bit 4 */
    {"auto-16 3x3 s2 p1, 9 -> 11, 15x13", CP(2, 9, 15, 13, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0), 1},
};
#define N_CIM (sizeof cim_cases / sizeof cim_cases[0])

static fcl_status cim_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return cd_dev_fwd(ctx, t, &OC_P(c, cim_case)->p);
}

static fcl_status cim_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return cd_dev_bwd(ctx, t, &OC_P(c, cim_case)->p, OC_P(c, cim_case)->bias);
}

static void cim_ref_fwd(double *const *h, const oc_case *c) { cd_ref_fwd(h, &OC_P(c, cim_case)->p); }

static void cim_ref_bwd(double *const *h, const oc_case *c) { cd_ref_bwd(h, &OC_P(c, cim_case)->p, OC_P(c, cim_case)->bias); }

static int cim_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= N_CIM) return 0;
    cim_case *cc = OC_P(c, cim_case);
    *cc = cim_cases[i];
    const fcl_conv2d_params *p = &cc->p;
    int oh = 0, ow = 0;
    fcl_error err;
    cr_assert(fcl_conv2d_check(p, &oh, &ow, &err) == FCL_OK, "%s: fcl_conv2d_check: %s", cc->name, err.msg);
    cd_args(c, p, cc->bias, oh, ow);
    snprintf(c->what, sizeof c->what, "conv2d implicit %s: n%d %dx%dx%d -> %dx%dx%d bias %d", cc->name, p->n, p->cin,
             p->h, p->w, p->cout, oh, ow, cc->bias);
    return 1;
}

/* The automatic cases must have run on the implicit GEMM (the forced ones did by construction). */
static void cim_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)b; (void)h; (void)want;
    const fcl_conv2d_params *p = &OC_P(c, cim_case)->p;
    const int v = fcl_tuning_int(ctx, FCL_T_CONV_IMPLICIT);
    if (!p->algo && v & 1 && (p->kh * p->kw >= 25 || (v & 4 && p->cin >= 16)))
        cr_expect(fcl_conv2d_algo_in(ctx, p, 0) == FCL_CONV_IMPLICIT, "%s: automatic algo is %s", c->what,
                  fcl_conv2d_algo_name(fcl_conv2d_algo_in(ctx, p, 0)));
    const int ow = fcl_conv2d_out_size(p->w, p->kw, p->stride_w, p->pad_w, p->dil_w);
    if (!p->algo && v & 8 && (p->kh * p->kw >= 25 || v & 4 || (v & 16 && ow >= 7 && p->cin >= 16)))
        cr_expect(fcl_conv2d_algo_in(ctx, p, 1) == FCL_CONV_IMPLICIT, "%s: automatic weight-gradient algo is %s",
                  c->what, fcl_conv2d_algo_name(fcl_conv2d_algo_in(ctx, p, 1)));
}

/* Other register blocks (pixels x vectors of output channels: CONV_MB x CONV_NV x CONV_VW) than
 * the device's row, with the implicit forward on for the automatic cases: 4 x 1 float8 (one
 * panel of 8 channels: 40 out is 5 panels), 7 x 3 float16 (48-channel panels, most of a panel
 * padding; no prefetch), 6 x 3 float16 with small work-groups, 8 x 2 float16 with every strided conv automatic
 * (bit 4). The data gradient runs through the implicit GEMM in all four (bit 2), the weight
 * gradient of the automatic cases in three (bit 8; the forced cases always; the second row also
 * the 3x3/2 at 7+ pixels wide, bit 16). Both grid orders of
 * the forward and data gradient (CONV_CIM_ORDER 0: pixel blocks fastest, 1: channel panels
 * fastest) run under two blocks each, one with work-groups of 8 along the fast dimension. */
static const char *const cim_tunings[] = {
    "conv:-DCONV_IMPLICIT=11 -DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8 -DCONV_CIM_ORDER=0",
    "conv:-DCONV_IMPLICIT=27 -DCONV_MB=7 -DCONV_NV=3 -DCONV_VW=16 -DCONV_PF=0 -DCONV_CIM_ORDER=1",
    "conv:-DCONV_IMPLICIT=3 -DCONV_MB=6 -DCONV_NV=3 -DCONV_VW=16 -DCONV_LOCAL=8 -DCONV_CIM_ORDER=0",
    "conv:-DCONV_IMPLICIT=15 -DCONV_MB=8 -DCONV_NV=2 -DCONV_VW=16 -DCONV_LOCAL=8 -DCONV_CIM_ORDER=1",
    NULL,
};

/* Every case under the tuning OC_TEST_TUNED set (the device's row, or cim_tunings[k - 1]). */
static void run(void)
{
    oc_op op = {.name = "conv2d implicit", .gen = cim_gen, .dev_fwd = cim_dev_fwd, .dev_bwd = cim_dev_bwd,
                .ref_fwd = cim_ref_fwd, .ref_bwd = cim_ref_bwd, .extra = cim_extra, .tunings = cim_tunings};
    oc_run(&op);
}

OC_TEST_TUNED(conv2d_implicit, matches_reference, cim_tunings, 4, run)

/* Grouped convolutions are refused with a message naming the algorithm; the automatic choice
 * leaves them, stride-1 convs and strided convs with fewer than 25 taps elsewhere. */
Test(conv2d_implicit, refuses_groups_and_auto_scope)
{
    fcl_error err;
    fcl_conv2d_params p = {2, 6, 9, 9, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2, IM, 0};
    cr_expect(fcl_conv2d_check(&p, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "implicit") != NULL, "message: %s", err.msg);
    cr_expect_str_eq(fcl_conv2d_algo_name(FCL_CONV_IMPLICIT), "implicit");
    h_force("conv:-DCONV_IMPLICIT=1");
    fcl_ctx *ctx = h_ctx();
    p.algo = 0;
    cr_expect(fcl_conv2d_algo_in(ctx, &p, 0) == FCL_CONV_GEMM, "grouped");
    p.groups = 1;
    cr_expect(fcl_conv2d_algo_in(ctx, &p, 0) == FCL_CONV_GEMM, "dense 3x3 stride 2");
    p.kh = p.kw = 7;
    p.pad_h = p.pad_w = 3;
    cr_expect(fcl_conv2d_algo_in(ctx, &p, 0) == FCL_CONV_IMPLICIT, "dense 7x7 stride 2");
    cr_expect(fcl_conv2d_algo_in(ctx, &p, 1) == FCL_CONV_GEMM, "its weight gradient (bit 8 off)");
    cr_expect(fcl_conv2d_algo_in(ctx, &p, 2) == FCL_CONV_GEMM, "its data gradient (bit 2 off)");
    fcl_conv2d_params q = p;
    q.stride_h = q.stride_w = 1;
    cr_expect(fcl_conv2d_algo_in(ctx, &q, 0) == FCL_CONV_GEMM, "7x7 stride 1");
    h_ctx_free(ctx);
}

/* ---- batch composition ----------------------------------------------------------------------
 * Data-parallel training (tests/test_mpi.c: 2 ranks x 32 images against 1 process x 64) relies
 * on an image's forward output and data gradient not depending on which other images share its
 * batch or where it sits in it: each output element is one work-item's reduction in a fixed
 * order, whether the block of CONV_MB pixels holding it straddles two images or not. So they
 * must agree BIT FOR BIT between the whole batch, each image alone and the batch reversed. The
 * weight gradient sums over images (its order legitimately follows the batch), but in a fixed
 * order: with images whose dy is zero placed before and after the batch (adding fma(x, 0, acc)
 * = acc exactly) it must come out bit for bit the same, and so on a second run. */
typedef struct cim_batch_case {
    const char *name;
    fcl_conv2d_params p; /* n = the batch */
} cim_batch_case;

/* 13x13 -> 7x7 outputs: 49 pixels an image, so blocks of 4, 6 or 8 pixels straddle images; odd
 * channel counts; the 1x1 reads x in place (no padded copy) */
static const cim_batch_case cim_batch_cases[] = {
    {"3x3 s2 p1, 19 -> 21", CP(7, 19, 13, 13, 21, 3, 3, 2, 2, 1, 1, 1, 1, IM)},
    {"1x1 s2 p0, 10 -> 6", CP(7, 10, 13, 13, 6, 1, 1, 2, 2, 0, 0, 1, 1, IM)},
    {"7x7 s2 p3 (stem), 3 -> 9", CP(5, 3, 13, 13, 9, 7, 7, 2, 2, 3, 3, 1, 1, IM)},
};

/* Images order[0..k) of src (per image `per` values) into a new array; order[i] < 0 stands for
 * image -1 - order[i] with zeros instead when `neg_zero` (dy), as itself otherwise (x). */
static double *pick(const double *src, size_t per, const int *order, int k, int neg_zero)
{
    double *d = h_alloc(per * (size_t)k);
    for (int i = 0; i < k; i++) {
        if (order[i] < 0 && neg_zero) continue;
        const int img = order[i] < 0 ? -1 - order[i] : order[i];
        memcpy(d + (size_t)i * per, src + (size_t)img * per, per * sizeof(double));
    }
    return d;
}

/* y = fwd(x) (y_out) and dx = bwd_data(dy) (dx_out) for the k images order[] of x / dy; dw = the
 * weight gradient over them (NULL: skipped). */
static void run_images(fcl_ctx *ctx, const fcl_conv2d_params *p0, const double *x, const double *w, const double *b,
                       const double *dy, const int *order, int k, double *y_out, double *dx_out, double *dw_out)
{
    fcl_conv2d_params p = *p0;
    p.n = k;
    int oh = 0, ow = 0;
    fcl_error err;
    cr_assert(fcl_conv2d_check(&p, &oh, &ow, &err) == FCL_OK, "%s", err.msg);
    const size_t px = (size_t)p.cin * p.h * p.w, py = (size_t)p.cout * oh * ow;
    double *xs = pick(x, px, order, k, 0), *dys = pick(dy, py, order, k, 1);
    const size_t xs_shape[4] = {(size_t)k, (size_t)p.cin, (size_t)p.h, (size_t)p.w};
    const size_t ys_shape[4] = {(size_t)k, (size_t)p.cout, (size_t)oh, (size_t)ow};
    const size_t w_shape[4] = {(size_t)p.cout, (size_t)p.cin, (size_t)p.kh, (size_t)p.kw}, b_shape[1] = {(size_t)p.cout};
    h_buf bx = h_upload(ctx, xs, 4, xs_shape), bw = h_upload(ctx, w, 4, w_shape), bb = h_upload(ctx, b, 1, b_shape);
    h_buf by = h_zeros(ctx, 4, ys_shape), bdy = h_upload(ctx, dys, 4, ys_shape), bdx = h_zeros(ctx, 4, xs_shape);
    h_buf bdw = h_zeros(ctx, 4, w_shape);
    H_OK(ctx, fcl_conv2d_fwd(ctx, &by.t, &bx.t, &bw.t, &bb.t, &p));
    H_OK(ctx, fcl_conv2d_bwd_data(ctx, &bdx.t, &bdy.t, &bw.t, &p));
    if (dw_out) H_OK(ctx, fcl_conv2d_bwd_weight(ctx, &bdw.t, &bdy.t, &bx.t, &p));
    h_download(ctx, &by, y_out);
    h_download(ctx, &bdx, dx_out);
    if (dw_out) h_download(ctx, &bdw, dw_out);
    h_buf *all[] = {&bx, &bw, &bb, &by, &bdy, &bdx, &bdw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) h_free(ctx, all[i]);
    free(xs);
    free(dys);
}

/* got[0..n) equals want[0..n) bit for bit (as floats); reports the first difference. */
static void expect_bits(const char *what, const double *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = (float)got[i], v = (float)want[i];
        if (memcmp(&g, &v, sizeof g)) {
            cr_expect_fail("%s: element %zu is %.9g, not %.9g (of %zu)", what, i, got[i], want[i], n);
            return;
        }
    }
}

static void batch_check(const char *tuning)
{
    h_force(tuning);
    fcl_ctx *ctx = h_ctx();
    for (size_t c = 0; c < sizeof cim_batch_cases / sizeof cim_batch_cases[0]; c++) {
        const cim_batch_case *bc = &cim_batch_cases[c];
        const fcl_conv2d_params *p = &bc->p;
        int oh = 0, ow = 0;
        fcl_error err;
        cr_assert(fcl_conv2d_check(p, &oh, &ow, &err) == FCL_OK, "%s", err.msg);
        h_case("conv2d implicit batch composition %s: n%d %dx%dx%d -> %dx%dx%d", bc->name, p->n, p->cin, p->h, p->w,
               p->cout, oh, ow);
        const int n = p->n;
        const size_t px = (size_t)p->cin * p->h * p->w, py = (size_t)p->cout * oh * ow;
        const size_t nw = (size_t)p->cout * p->cin * p->kh * p->kw;
        double *x = h_alloc(px * n), *dy = h_alloc(py * n), *w = h_alloc(nw), *b = h_alloc((size_t)p->cout);
        h_rand_f32(x, px * n, 11 + c, -1, 1);
        h_rand_f32(dy, py * n, 12 + c, -1, 1);
        h_rand_f32(w, nw, 13 + c, -0.5, 0.5);
        h_rand_f32(b, (size_t)p->cout, 14 + c, -0.5, 0.5);
        int fwd[16], rev[16], padded[20];
        for (int i = 0; i < n; i++) fwd[i] = i, rev[i] = n - 1 - i;
        /* two zero-dy images (x: images 1 and 0) before the batch, one (x: image 2) after */
        padded[0] = -2;
        padded[1] = -1;
        padded[n + 2] = -3;
        for (int i = 0; i < n; i++) padded[i + 2] = i;
        double *y = h_alloc(py * n), *dx = h_alloc(px * n), *dw = h_alloc(nw), *dw2 = h_alloc(nw);
        double *yk = h_alloc(py * n), *dxk = h_alloc(px * n);
        run_images(ctx, p, x, w, b, dy, fwd, n, y, dx, dw);
        char what[160];
        for (int i = 0; i < n; i++) { /* each image alone */
            run_images(ctx, p, x, w, b, dy, &fwd[i], 1, yk, dxk, NULL);
            snprintf(what, sizeof what, "%s: image %d alone vs in the batch of %d, forward", bc->name, i, n);
            expect_bits(what, yk, y + i * py, py);
            snprintf(what, sizeof what, "%s: image %d alone vs in the batch of %d, data gradient", bc->name, i, n);
            expect_bits(what, dxk, dx + i * px, px);
        }
        run_images(ctx, p, x, w, b, dy, rev, n, yk, dxk, NULL);
        for (int i = 0; i < n; i++) {
            snprintf(what, sizeof what, "%s: image %d at position %d of the reversed batch, forward", bc->name, i, n - 1 - i);
            expect_bits(what, yk + (size_t)(n - 1 - i) * py, y + i * py, py);
            snprintf(what, sizeof what, "%s: image %d at position %d of the reversed batch, data gradient", bc->name, i,
                     n - 1 - i);
            expect_bits(what, dxk + (size_t)(n - 1 - i) * px, dx + i * px, px);
        }
        double *yp = h_alloc(py * (n + 3)), *dxp = h_alloc(px * (n + 3));
        run_images(ctx, p, x, w, b, dy, padded, n + 3, yp, dxp, dw2);
        snprintf(what, sizeof what, "%s: the batch after 2 other images, forward", bc->name);
        expect_bits(what, yp + 2 * py, y, py * n);
        snprintf(what, sizeof what, "%s: the batch after 2 other images, data gradient", bc->name);
        expect_bits(what, dxp + 2 * px, dx, px * n);
        snprintf(what, sizeof what, "%s: weight gradient with zero-dy images around the batch", bc->name);
        expect_bits(what, dw2, dw, nw);
        run_images(ctx, p, x, w, b, dy, fwd, n, yk, dxk, dw2);
        snprintf(what, sizeof what, "%s: weight gradient, second run", bc->name);
        expect_bits(what, dw2, dw, nw);
        double *arrs[] = {x, dy, w, b, y, dx, dw, dw2, yk, dxk, yp, dxp};
        for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) free(arrs[i]);
    }
    h_ctx_free(ctx);
}

/* the device's own blocks with every direction forced, and two of cim_tunings' (both grid orders) */
Test(conv2d_implicit, images_independent_of_batch_own_blocks) { batch_check("conv:-DCONV_IMPLICIT=15"); }
Test(conv2d_implicit, images_independent_of_batch_4x1x8) { batch_check(cim_tunings[0]); }
Test(conv2d_implicit, images_independent_of_batch_7x3x16) { batch_check(cim_tunings[1]); }
