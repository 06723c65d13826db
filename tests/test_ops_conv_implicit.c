/* tests/test_ops_conv_implicit.c: the implicit-GEMM convolution (host/ops/conv_implicit.c) vs the double reference, forced and automatic, under several register blocks. */
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
    if (!p->algo && v & 8 && (p->kh * p->kw >= 25 || v & 4))
        cr_expect(fcl_conv2d_algo_in(ctx, p, 1) == FCL_CONV_IMPLICIT, "%s: automatic weight-gradient algo is %s",
                  c->what, fcl_conv2d_algo_name(fcl_conv2d_algo_in(ctx, p, 1)));
}

/* Other register blocks (pixels x vectors of output channels: CONV_MB x CONV_NV x CONV_VW) than
 * the device's row, with the implicit forward on for the automatic cases: 4 x 1 float8 (one
 * panel of 8 channels: 40 out is 5 panels), 7 x 3 float16 (48-channel panels, most of a panel
 * padding; no prefetch), 6 x 3 float16 with small work-groups, 8 x 2 float16 with every strided conv automatic
 * (bit 4). The data gradient runs through the implicit GEMM in all four (bit 2), the weight
 * gradient of the automatic cases in three (bit 8; the forced cases always). Both grid orders of
 * the forward and data gradient (CONV_CIM_ORDER 0: pixel blocks fastest, 1: channel panels
 * fastest) run under two blocks each, one with work-groups of 8 along the fast dimension. */
static const char *const cim_tunings[] = {
    "conv:-DCONV_IMPLICIT=11 -DCONV_MB=4 -DCONV_NV=1 -DCONV_VW=8 -DCONV_CIM_ORDER=0",
    "conv:-DCONV_IMPLICIT=11 -DCONV_MB=7 -DCONV_NV=3 -DCONV_VW=16 -DCONV_PF=0 -DCONV_CIM_ORDER=1",
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
