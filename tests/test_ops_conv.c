/* tests/test_ops_conv.c: conv2d (dense, grouped, depthwise, 1x1) on OpenCL vs the double reference, and the reference vs finite differences. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
#include "ref/ref_conv.h"

/* One configuration: params, whether it has a bias, and the algorithm the automatic choice must
 * pick (so every path is known to be exercised). */
typedef struct conv_case {
    const char *name;
    fcl_conv2d_params p;
    int bias;
    fcl_conv2d_algo expect;
} conv_case;

/* n, cin, h, w, cout, kh, kw, stride h/w, pad h/w, dilation h/w, groups (algo 0: automatic) */
#define CP(n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, g) \
    {n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw, g, 0}

static void round_to_float(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)x[i];
}

static double *rand_array(size_t n, uint64_t seed, double lo, double hi)
{
    double *x = h_alloc(n);
    h_rand(x, n, seed, lo, hi);
    round_to_float(x, n);
    return x;
}

/* Runs one case: forward (y overwritten), then fcl_conv2d_bwd accumulating into random initial
 * dx / dw / db, each compared with the reference; sentinels of every buffer checked. */
static void run_case(fcl_ctx *ctx, const conv_case *c, uint64_t seed)
{
    fcl_conv2d_params p = c->p;
    int oh = 0, ow = 0;
    fcl_error err;
    fcl_status st = fcl_conv2d_check(&p, &oh, &ow, &err);
    cr_assert(st == FCL_OK, "%s: fcl_conv2d_check: %s", c->name, err.msg);
    fcl_conv2d_algo algo = fcl_conv2d_algo_of(&p);
    if (!p.algo)
        cr_expect(algo == c->expect, "%s: automatic algo is %s, expected %s", c->name, fcl_conv2d_algo_name(algo),
                  fcl_conv2d_algo_name(c->expect));
    h_case("conv2d %s: n%d %dx%dx%d -> %dx%dx%d k%dx%d s%dx%d p%dx%d d%dx%d g%d bias %d algo %s", c->name, p.n,
           p.cin, p.h, p.w, p.cout, oh, ow, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w,
           p.groups, c->bias, fcl_conv2d_algo_name(algo));

    size_t xs[4] = {(size_t)p.n, (size_t)p.cin, (size_t)p.h, (size_t)p.w};
    size_t ws[4] = {(size_t)p.cout, (size_t)(p.cin / p.groups), (size_t)p.kh, (size_t)p.kw};
    size_t ys[4] = {(size_t)p.n, (size_t)p.cout, (size_t)oh, (size_t)ow};
    size_t bs[1] = {(size_t)p.cout};
    size_t nx = h_numel(4, xs), nw = h_numel(4, ws), ny = h_numel(4, ys), nb = bs[0];

    double *x = rand_array(nx, seed, -1, 1), *w = rand_array(nw, seed + 1, -1, 1);
    double *b = rand_array(nb, seed + 2, -1, 1), *dy = rand_array(ny, seed + 3, -1, 1);
    double *dx = rand_array(nx, seed + 4, -0.5, 0.5), *dw = rand_array(nw, seed + 5, -0.5, 0.5);
    double *db = rand_array(nb, seed + 6, -0.5, 0.5);
    double *got = h_alloc(nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw));

    h_buf hx = h_upload(ctx, x, 4, xs), hw = h_upload(ctx, w, 4, ws), hb = h_upload(ctx, b, 1, bs);
    h_buf hy = h_zeros(ctx, 4, ys), hdy = h_upload(ctx, dy, 4, ys);
    h_buf hdx = h_upload(ctx, dx, 4, xs), hdw = h_upload(ctx, dw, 4, ws), hdb = h_upload(ctx, db, 1, bs);
    h_name(&hx, "x"); h_name(&hw, "w"); h_name(&hb, "b"); h_name(&hy, "y"); h_name(&hdy, "dy");
    h_name(&hdx, "dx"); h_name(&hdw, "dw"); h_name(&hdb, "db");

    /* forward */
    double *y = h_alloc(ny);
    H_OK(ctx, fcl_conv2d_fwd(ctx, &hy.t, &hx.t, &hw.t, c->bias ? &hb.t : NULL, &p));
    fcl_ref_conv2d_fwd(y, x, w, c->bias ? b : NULL, &p);
    h_download(ctx, &hy, got);
    h_expect_close("forward y", got, y, ny, H_TOL_FWD);

    /* backward, accumulating into the random initial gradients */
    H_OK(ctx, fcl_conv2d_bwd(ctx, &hdx.t, &hdw.t, c->bias ? &hdb.t : NULL, &hdy.t, &hx.t, &hw.t, &p));
    fcl_ref_conv2d_bwd_data(dx, dy, w, &p);
    fcl_ref_conv2d_bwd_weight(dw, dy, x, &p);
    h_download(ctx, &hdx, got);
    h_expect_close("backward dx (accumulated)", got, dx, nx, H_TOL_BWD);
    h_download(ctx, &hdw, got);
    h_expect_close("backward dw (accumulated)", got, dw, nw, H_TOL_BWD);
    if (c->bias) {
        fcl_ref_conv2d_bwd_bias(db, dy, &p);
        h_download(ctx, &hdb, got);
        h_expect_close("backward db (accumulated)", got, db, nb, H_TOL_BWD);
    } else {
        h_download(ctx, &hdb, got); /* untouched: db was not passed */
        for (size_t i = 0; i < nb; i++) cr_expect(got[i] == db[i], "%s: db changed though NULL was passed", c->name);
    }
    h_check_guards(ctx, &hx);
    h_check_guards(ctx, &hw);
    h_check_guards(ctx, &hb);
    h_check_guards(ctx, &hdy);

    h_free(ctx, &hx); h_free(ctx, &hw); h_free(ctx, &hb); h_free(ctx, &hy);
    h_free(ctx, &hdy); h_free(ctx, &hdx); h_free(ctx, &hdw); h_free(ctx, &hdb);
    free(x); free(w); free(b); free(dy); free(dx); free(dw); free(db); free(got); free(y);
}

static void run_cases(const conv_case *cases, size_t n, uint64_t seed)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t i = 0; i < n; i++) run_case(ctx, &cases[i], seed + 100 * i);
    h_ctx_free(ctx);
}

#define RUN(cases, seed) run_cases(cases, sizeof cases / sizeof cases[0], seed)

/* ---- OpenCL vs reference -------------------------------------------------------------------- */

Test(conv2d, dense)
{
    static const conv_case cases[] = {
        {"3x3 pad 1", CP(2, 3, 13, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"batch 1, stride 2, odd 31", CP(1, 7, 31, 31, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"dilation 2, 13x7", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1), 0, FCL_CONV_GEMM},
        {"5x5 pad 2", CP(2, 4, 13, 13, 7, 5, 5, 1, 1, 2, 2, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"7x7 stride 2 pad 3 (stem)", CP(2, 3, 31, 31, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1), 0, FCL_CONV_GEMM},
        {"1x3 stride 2x1 pad 0x1", CP(2, 6, 7, 13, 11, 1, 3, 2, 1, 0, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"3x5 stride 3 dilation 1x2 no pad", CP(3, 2, 13, 31, 3, 3, 5, 3, 3, 0, 0, 1, 2, 1), 1, FCL_CONV_GEMM},
        {"28x28, 33 out channels", CP(3, 17, 28, 28, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"single channel in and out", CP(2, 1, 7, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_DEPTHWISE},
    };
    RUN(cases, 11);
}

/* Large enough that im2col runs in several chunks of images with the CPU row's 4 MiB budget
 * (3 + 3 + 1 and 2 + 2 + 2 + 1 images): 32x32 (column blocks never straddle images) and 29x29
 * (the backward to the data also gathers dy into the workspace). */
Test(conv2d, chunked_im2col)
{
    static const conv_case cases[] = {
        {"chunks of images", CP(7, 32, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"chunks of images, 29x29", CP(7, 48, 29, 29, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1), 0, FCL_CONV_GEMM},
    };
    RUN(cases, 21);
}

Test(conv2d, grouped)
{
    static const conv_case cases[] = {
        {"groups 2", CP(2, 6, 7, 7, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2), 1, FCL_CONV_GEMM},
        {"groups 4, stride 2, 9x11", CP(3, 12, 9, 11, 8, 3, 3, 2, 2, 1, 1, 1, 1, 4), 0, FCL_CONV_GEMM},
        {"groups 32 (ResNeXt)", CP(1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 32), 1, FCL_CONV_GEMM},
        {"depthwise multiplier 2", CP(2, 5, 13, 13, 10, 3, 3, 1, 1, 1, 1, 1, 1, 5), 1, FCL_CONV_GEMM},
        {"groups 3, 1x1", CP(2, 9, 7, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 3), 1, FCL_CONV_1X1},
    };
    RUN(cases, 31);
}

Test(conv2d, depthwise)
{
    static const conv_case cases[] = {
        {"dw 3x3 stride 1", CP(2, 13, 13, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 13), 1, FCL_CONV_DEPTHWISE},
        {"dw 3x3 stride 1, 31x31", CP(1, 3, 31, 31, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3), 0, FCL_CONV_DEPTHWISE},
        {"dw 3x3 stride 2, 31", CP(1, 7, 31, 31, 7, 3, 3, 2, 2, 1, 1, 1, 1, 7), 0, FCL_CONV_DEPTHWISE},
        {"dw 3x3 stride 2, 7x7 (4x4 out)", CP(3, 9, 7, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 9), 1, FCL_CONV_DEPTHWISE},
        {"dw 3x3 stride 2, even 28x20", CP(2, 5, 28, 20, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
        {"dw 5x5 stride 2 pad 2", CP(2, 6, 13, 31, 6, 5, 5, 2, 2, 2, 2, 1, 1, 6), 1, FCL_CONV_DEPTHWISE},
        {"dw 3x5 stride 1x3 dil 2x1", CP(2, 3, 13, 31, 3, 3, 5, 1, 3, 2, 1, 2, 1, 3), 1, FCL_CONV_DEPTHWISE},
        {"dw 3x3 dilation 2, wide 40", CP(1, 4, 9, 40, 4, 3, 3, 1, 1, 2, 2, 2, 2, 4), 0, FCL_CONV_DEPTHWISE},
    };
    RUN(cases, 41);
}

/* EfficientNet's 5x5 and ConvNeXt's 7x7 depthwise convs (padding k // 2), stride 1 and 2, odd
 * and even sizes, maps narrower than one 8-lane chunk and smaller than the kernel (ConvNeXt's
 * last stage is 7x7 under a 7x7 kernel), and MobileFaceNet's global depthwise 7x7 (no padding). */
Test(conv2d, depthwise_large_kernels)
{
    static const conv_case cases[] = {
        {"dw 5x5 stride 1 pad 2, 15x11", CP(2, 5, 15, 11, 5, 5, 5, 1, 1, 2, 2, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
        {"dw 5x5 stride 2 pad 2, 17x9", CP(3, 7, 17, 9, 7, 5, 5, 2, 2, 2, 2, 1, 1, 7), 0, FCL_CONV_DEPTHWISE},
        {"dw 5x5 stride 2 pad 2, even 14", CP(2, 3, 14, 14, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3), 1, FCL_CONV_DEPTHWISE},
        {"dw 7x7 stride 1 pad 3, 13x19", CP(2, 6, 13, 19, 6, 7, 7, 1, 1, 3, 3, 1, 1, 6), 1, FCL_CONV_DEPTHWISE},
        {"dw 7x7 stride 2 pad 3, 21x17", CP(2, 5, 21, 17, 5, 7, 7, 2, 2, 3, 3, 1, 1, 5), 0, FCL_CONV_DEPTHWISE},
        {"dw 7x7 stride 1 pad 3, 7x7 map", CP(3, 9, 7, 7, 9, 7, 7, 1, 1, 3, 3, 1, 1, 9), 1, FCL_CONV_DEPTHWISE},
        {"dw 7x7 stride 1 pad 3, 5x3 map", CP(2, 4, 5, 3, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), 1, FCL_CONV_DEPTHWISE},
        {"dw 7x7 stride 1 pad 3, wide 37", CP(1, 3, 9, 37, 3, 7, 7, 1, 1, 3, 3, 1, 1, 3), 1, FCL_CONV_DEPTHWISE},
        {"dw 7x7 pad 0 on 7x7 (MobileFaceNet GDC)", CP(3, 10, 7, 7, 10, 7, 7, 1, 1, 0, 0, 1, 1, 10), 1, FCL_CONV_DEPTHWISE},
    };
    RUN(cases, 51);
}

Test(conv2d, pointwise)
{
    static const conv_case cases[] = {
        {"1x1, 7x7 (blocks cross images)", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
        {"1x1, batch 1, 13x13", CP(1, 5, 13, 13, 30, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
        {"1x1, 16x16, 40 in", CP(3, 40, 16, 16, 9, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
        {"1x1 stride 2 (downsample)", CP(2, 10, 13, 13, 6, 1, 1, 2, 2, 0, 0, 1, 1, 1), 0, FCL_CONV_GEMM},
        {"1x1 pad 1", CP(2, 3, 7, 7, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
    };
    RUN(cases, 51);
}

/* The general algorithm on shapes the automatic choice sends elsewhere, and each specialised
 * algorithm forced where it applies. */
Test(conv2d, forced_algorithms)
{
    conv_case cases[] = {
        {"1x1 shape through gemm", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"depthwise shape through gemm", CP(2, 13, 13, 13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 13), 1, FCL_CONV_GEMM},
        {"depthwise 1x1 forced 1x1", CP(2, 8, 7, 9, 8, 1, 1, 1, 1, 0, 0, 1, 1, 8), 1, FCL_CONV_1X1},
        {"depthwise 5x5 through gemm", CP(2, 5, 11, 9, 5, 5, 5, 2, 2, 2, 2, 1, 1, 5), 1, FCL_CONV_GEMM},
        {"depthwise 7x7 through gemm", CP(2, 4, 9, 9, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), 0, FCL_CONV_GEMM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) cases[i].p.algo = cases[i].expect;
    RUN(cases, 61);
}

/* Other register blocks, work-group sizes and chunk budgets than this device's tuning row (the
 * GPU row's values among them), through $FACECL_CONV_TUNING: the kernels must be correct for
 * any legal tuning, not just the one measured here. */
Test(conv2d, other_tunings)
{
    static const char *const tunings[] = {
        "-DCONV_MB=4 -DCONV_NV=1 -DCONV_TM=2 -DCONV_TN=2 -DCONV_LNN=16 -DCONV_LNT=16 -DCONV_COL_KB=64",
        "-DCONV_MB=7 -DCONV_NV=3 -DCONV_TM=3 -DCONV_TN=5 -DCONV_LOCAL=8 -DCONV_COL_KB=200",
    };
    static const conv_case cases[] = {
        {"3x3 stride 2, odd", CP(3, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"1x1, 7x7", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
        {"1x1, 8x8", CP(2, 9, 8, 8, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
        {"groups 2, 5x5", CP(2, 6, 9, 9, 4, 5, 5, 1, 1, 2, 2, 1, 1, 2), 1, FCL_CONV_GEMM},
        {"dw 3x3 stride 2", CP(2, 5, 13, 13, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
    };
    for (size_t i = 0; i < sizeof tunings / sizeof tunings[0]; i++) {
        setenv("FACECL_CONV_TUNING", tunings[i], 1);
        printf("tuning %s\n", tunings[i]);
        RUN(cases, 71 + 10 * i);
    }
    unsetenv("FACECL_CONV_TUNING");
}

/* The GPU-shaped kernels (cl/conv_gpu.cl, cl/conv_dw_gpu.cl) forced on this device: the GPU
 * tuning row itself; an odd tile with small groups, im2col chunks of one image and the local-
 * memory tree instead of subgroups; a tile too large for any device's work-group limit (the
 * launcher must fall back to a smaller one) and no split of the weight gradient's reduction (the
 * first two split it). Every algorithm, odd shapes, both directions. */
Test(conv2d, gpu_variants)
{
    static const char *const tunings[] = {
        "-DCONV_GPU=1 -DCONV_GM=64 -DCONV_GN=64 -DCONV_GK=16 -DCONV_GWM=4 -DCONV_GWN=4 -DCONV_GWG=256 "
        "-DCONV_COL_KB=65536",
        "-DCONV_GPU=1 -DCONV_GM=12 -DCONV_GN=40 -DCONV_GK=5 -DCONV_GWM=3 -DCONV_GWN=5 -DCONV_GWG=64 "
        "-DCONV_COL_KB=1 -DFCL_USE_SG=0 -DCONV_GSPLIT=3",
        "-DCONV_GPU=1 -DCONV_GM=128 -DCONV_GN=128 -DCONV_GK=4 -DCONV_GWM=1 -DCONV_GWN=1 -DCONV_GWG=100000 "
        "-DCONV_GSPLIT=1",
    };
    static const conv_case cases[] = {
        {"3x3 stride 2, odd", CP(3, 10, 13, 11, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1), 1, FCL_CONV_GEMM},
        {"7x7 stride 2 pad 3 (stem)", CP(2, 3, 31, 29, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1), 0, FCL_CONV_GEMM},
        {"dilation 2, 13x7", CP(2, 5, 13, 7, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1), 1, FCL_CONV_GEMM},
        {"1x1, 7x7", CP(2, 19, 7, 7, 21, 1, 1, 1, 1, 0, 0, 1, 1, 1), 1, FCL_CONV_1X1},
        {"1x1, 8x8, 70 out", CP(2, 9, 8, 8, 70, 1, 1, 1, 1, 0, 0, 1, 1, 1), 0, FCL_CONV_1X1},
        {"groups 3, 1x1", CP(2, 9, 7, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 3), 1, FCL_CONV_1X1},
        {"groups 2, 5x5", CP(2, 6, 9, 9, 4, 5, 5, 1, 1, 2, 2, 1, 1, 2), 1, FCL_CONV_GEMM},
        {"dw 3x3 stride 1, 31x31", CP(1, 3, 31, 37, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3), 1, FCL_CONV_DEPTHWISE},
        {"dw 3x3 stride 2", CP(2, 5, 13, 13, 5, 3, 3, 2, 2, 1, 1, 1, 1, 5), 1, FCL_CONV_DEPTHWISE},
        {"dw 5x5 stride 2 pad 2", CP(2, 6, 13, 31, 6, 5, 5, 2, 2, 2, 2, 1, 1, 6), 0, FCL_CONV_DEPTHWISE},
        {"dw 7x7 pad 3", CP(1, 4, 11, 9, 4, 7, 7, 1, 1, 3, 3, 1, 1, 4), 1, FCL_CONV_DEPTHWISE},
        {"dw 3x5 stride 1x3 dil 2x1", CP(2, 3, 13, 31, 3, 3, 5, 1, 3, 2, 1, 2, 1, 3), 1, FCL_CONV_DEPTHWISE},
    };
    for (size_t i = 0; i < sizeof tunings / sizeof tunings[0]; i++) {
        setenv("FACECL_CONV_TUNING", tunings[i], 1);
        printf("tuning %s\n", tunings[i]);
        RUN(cases, 91 + 10 * i);
    }
    unsetenv("FACECL_CONV_TUNING");
}

/* Each gradient alone (the others NULL), and bit-identical results on a rerun. */
Test(conv2d, partial_and_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    const fcl_conv2d_params p = CP(3, 9, 13, 13, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1);
    int oh, ow;
    cr_assert(fcl_conv2d_check(&p, &oh, &ow, NULL) == FCL_OK);
    h_case("conv2d bwd: each gradient alone, twice, bit-identical");
    size_t xs[4] = {3, 9, 13, 13}, ws[4] = {10, 9, 3, 3}, ys[4] = {3, 10, (size_t)oh, (size_t)ow}, bs[1] = {10};
    size_t nx = h_numel(4, xs), nw = h_numel(4, ws), ny = h_numel(4, ys);
    double *x = rand_array(nx, 71, -1, 1), *w = rand_array(nw, 72, -1, 1), *dy = rand_array(ny, 73, -1, 1);
    h_buf hx = h_upload(ctx, x, 4, xs), hw = h_upload(ctx, w, 4, ws), hdy = h_upload(ctx, dy, 4, ys);
    double *want = h_alloc(nx), *got1 = h_alloc(nx), *got2 = h_alloc(nx);
    for (int which = 0; which < 3; which++) {
        size_t n = which == 0 ? nx : which == 1 ? nw : 10;
        for (int rep = 0; rep < 2; rep++) {
            h_buf g = which == 0 ? h_zeros(ctx, 4, xs) : which == 1 ? h_zeros(ctx, 4, ws) : h_zeros(ctx, 1, bs);
            H_OK(ctx, fcl_conv2d_bwd(ctx, which == 0 ? &g.t : NULL, which == 1 ? &g.t : NULL,
                                     which == 2 ? &g.t : NULL, &hdy.t, which == 1 ? &hx.t : NULL,
                                     which == 0 ? &hw.t : NULL, &p));
            h_download(ctx, &g, rep ? got2 : got1);
            h_free(ctx, &g);
        }
        memset(want, 0, nx * sizeof *want);
        if (which == 0) fcl_ref_conv2d_bwd_data(want, dy, w, &p);
        if (which == 1) fcl_ref_conv2d_bwd_weight(want, dy, x, &p);
        if (which == 2) fcl_ref_conv2d_bwd_bias(want, dy, &p);
        h_expect_close(which == 0 ? "dx alone" : which == 1 ? "dw alone" : "db alone", got1, want, n, H_TOL_BWD);
        cr_expect(memcmp(got1, got2, n * sizeof *got1) == 0, "gradient %d differs between two identical runs", which);
    }
    h_free(ctx, &hx); h_free(ctx, &hw); h_free(ctx, &hdy);
    free(x); free(w); free(dy); free(want); free(got1); free(got2);
    h_ctx_free(ctx);
}

/* ---- bad input: clear errors, nothing launched ---------------------------------------------- */

Test(conv2d, rejects_bad_input)
{
    fcl_error err;
    fcl_conv2d_params p = CP(2, 6, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    fcl_conv2d_params q = p;
    q.groups = 4; /* 6 in channels */
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "groups") != NULL, "message: %s", err.msg);
    q = p;
    q.stride_w = 0;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "stride_w") != NULL, "message: %s", err.msg);
    q = p;
    q.kh = 11; /* 7 + 2 < 11 */
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "does not fit") != NULL, "message: %s", err.msg);
    q = p;
    q.pad_h = -1;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    q = p;
    q.algo = FCL_CONV_1X1;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(err.msg, "1x1") != NULL, "message: %s", err.msg);
    q = p;
    q.algo = FCL_CONV_DEPTHWISE;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    q = p;
    q.algo = 9;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_INVALID_ARG);
    q = p;
    q.n = 65536;
    q.cin = 65536;
    cr_expect(fcl_conv2d_check(&q, NULL, NULL, &err) == FCL_ERR_SHAPE);
    cr_expect(strstr(err.msg, "32-bit") != NULL, "message: %s", err.msg);

    /* torch.nn.Conv2d output sizes */
    cr_expect_eq(fcl_conv2d_out_size(112, 7, 2, 3, 1), 56);
    cr_expect_eq(fcl_conv2d_out_size(7, 3, 2, 1, 1), 4);
    cr_expect_eq(fcl_conv2d_out_size(13, 3, 1, 2, 2), 13);
    cr_expect_eq(fcl_conv2d_out_size(31, 5, 3, 0, 2), 8);
    cr_expect_eq(fcl_conv2d_out_size(2, 5, 1, 0, 1), 0);

    fcl_ctx *ctx = h_ctx();
    size_t xs[4] = {2, 6, 7, 7}, ws[4] = {4, 6, 3, 3}, ys[4] = {2, 4, 7, 7}, bad[4] = {2, 4, 7, 6};
    h_buf x = h_zeros(ctx, 4, xs), w = h_zeros(ctx, 4, ws), y = h_zeros(ctx, 4, ys), yb = h_zeros(ctx, 4, bad);
    cr_expect(fcl_conv2d_fwd(ctx, &yb.t, &x.t, &w.t, NULL, &p) == FCL_ERR_SHAPE);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_conv2d_fwd: y") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_conv2d_fwd(ctx, &y.t, &x.t, NULL, NULL, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "w is missing") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_conv2d_fwd(ctx, &x.t, &x.t, &w.t, NULL, &q) != FCL_OK); /* q is invalid */
    cr_expect(fcl_conv2d_bwd(ctx, NULL, &w.t, NULL, &y.t, NULL, NULL, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "x is missing") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    fcl_tensor alias; /* y aliasing x */
    size_t ys2[4] = {2, 4, 7, 7};
    H_OK(ctx, fcl_tensor_view(ctx, &x.whole, x.pre, 4, ys2, &alias));
    cr_expect(fcl_conv2d_fwd(ctx, &alias, &x.t, &w.t, NULL, &p) == FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "overlaps") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    h_free(ctx, &x); h_free(ctx, &w); h_free(ctx, &y); h_free(ctx, &yb);
    h_ctx_free(ctx);
}

/* ---- the reference vs central finite differences (double, no device) ------------------------ */

typedef struct fd_ud {
    const fcl_conv2d_params *p;
    const double *x, *w, *b;
    int which; /* 0: f of x, 1: f of w, 2: f of b */
} fd_ud;

static void fd_f(double *y, const double *v, void *ud)
{
    const fd_ud *u = ud;
    fcl_ref_conv2d_fwd(y, u->which == 0 ? v : u->x, u->which == 1 ? v : u->w, u->which == 2 ? v : u->b, u->p);
}

static void fd_case(const char *name, const fcl_conv2d_params *p, uint64_t seed)
{
    int oh, ow;
    cr_assert(fcl_conv2d_check(p, &oh, &ow, NULL) == FCL_OK, "%s: bad params", name);
    h_case("conv2d reference vs finite differences: %s", name);
    size_t nx = (size_t)p->n * p->cin * p->h * p->w, nw = (size_t)p->cout * (p->cin / p->groups) * p->kh * p->kw;
    size_t ny = (size_t)p->n * p->cout * oh * ow, nb = (size_t)p->cout;
    double *x = rand_array(nx, seed, -1, 1), *w = rand_array(nw, seed + 1, -1, 1);
    double *b = rand_array(nb, seed + 2, -1, 1), *r = rand_array(ny, seed + 3, -1, 1);
    double *gx = h_alloc(nx), *gw = h_alloc(nw), *gb = h_alloc(nb);
    fcl_ref_conv2d_bwd_data(gx, r, w, p);
    fcl_ref_conv2d_bwd_weight(gw, r, x, p);
    fcl_ref_conv2d_bwd_bias(gb, r, p);
    char what[3][96];
    double *v[3] = {x, w, b}, *g[3] = {gx, gw, gb};
    size_t nv[3] = {nx, nw, nb};
    for (int k = 0; k < 3; k++) {
        fd_ud u = {p, x, w, b, k};
        snprintf(what[k], sizeof what[k], "%s d/d%s", name, k == 0 ? "x" : k == 1 ? "w" : "b");
        h_fd spec = {.what = what[k], .f = fd_f, .ud = &u, .x = v[k], .nx = nv[k], .ny = ny, .r = r,
                     .grad = g[k], .samples = 40, .seed = seed + 10 + k};
        h_fd_check(&spec);
    }
    free(x); free(w); free(b); free(r); free(gx); free(gw); free(gb);
}

Test(conv2d_ref, finite_differences)
{
    const fcl_conv2d_params a = CP(2, 4, 9, 7, 6, 3, 3, 2, 1, 1, 2, 2, 1, 2);
    const fcl_conv2d_params dw = CP(2, 3, 7, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3);
    const fcl_conv2d_params big = CP(1, 3, 13, 13, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1);
    const fcl_conv2d_params pw = CP(2, 5, 5, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    fd_case("3x3 s2x1 p1x2 d2x1 g2", &a, 81);
    fd_case("depthwise 3x3 s2", &dw, 91);
    fd_case("7x7 s2 p3", &big, 101);
    fd_case("1x1", &pw, 111);
    const fcl_conv2d_params dw5 = CP(2, 3, 9, 7, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3);
    const fcl_conv2d_params dw7 = CP(1, 2, 9, 11, 2, 7, 7, 1, 1, 3, 3, 1, 1, 2);
    fd_case("depthwise 5x5 s2 p2", &dw5, 121);
    fd_case("depthwise 7x7 s1 p3", &dw7, 131);
}
