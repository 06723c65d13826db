/* tests/test_ops_torch.c: facecl's OpenCL ops against PyTorch outputs (tests/fixtures/ops_torch.bin, made by tools/make_op_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_bn.h>
#include <facecl/ops_conv.h>
#include <facecl/ops_loss.h>
#include <facecl/ops_pool.h>

#include "helpers/fixture.h"
#include "helpers/harness.h"

#define FIXTURE FACECL_SOURCE_DIR "/tests/fixtures/ops_torch.bin"

/* Every named case of fn on one context (fx_run). */
static void run_fixture_cases(fx_case_fn fn, const char *const *names)
{
    fx_run(FIXTURE, "tools/make_op_fixtures.py", fn, names);
}

/* ---- convolution ------------------------------------------------------------------------------- */

static void conv_case(fcl_ctx *ctx, const fixture *f, const char *c, fcl_conv2d_algo algo)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_conv2d_params p = {0};
    p.n = (int)q[0], p.cin = (int)q[1], p.h = (int)q[2], p.w = (int)q[3], p.cout = (int)q[4];
    p.kh = (int)q[5], p.kw = (int)q[6], p.stride_h = (int)q[7], p.stride_w = (int)q[8];
    p.pad_h = (int)q[9], p.pad_w = (int)q[10], p.dil_h = (int)q[11], p.dil_w = (int)q[12];
    p.groups = (int)q[13];
    p.algo = (int)algo;
    int bias = q[14] != 0;
    h_case("torch %s (groups %d, stride %d, pad %d,%d, dil %d,%d, bias %d) algo %s", c, p.groups,
           p.stride_h, p.pad_h, p.pad_w, p.dil_h, p.dil_w, bias, fcl_conv2d_algo_name(algo));
    const fx_rec *ry = fx_get(f, c, "y"), *rx = fx_get(f, c, "x"), *rw = fx_get(f, c, "w");
    int oh, ow;
    fcl_error err;
    fcl_status st = fcl_conv2d_check(&p, &oh, &ow, &err);
    cr_assert(st == FCL_OK, "fcl_conv2d_check: %s", err.msg);
    cr_expect(ry->shape[2] == (size_t)oh && ry->shape[3] == (size_t)ow, "output %dx%d, torch %zux%zu",
              oh, ow, ry->shape[2], ry->shape[3]);

    h_buf x = fx_upload(ctx, rx), w = fx_upload(ctx, rw), y = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx), dw = fx_zeros_like(ctx, rw);
    h_buf b = {0}, db = {0};
    if (bias) {
        b = fx_upload(ctx, fx_get(f, c, "b"));
        db = fx_zeros_like(ctx, fx_get(f, c, "b"));
    }
    H_OK(ctx, fcl_conv2d_fwd(ctx, &y.t, &x.t, &w.t, bias ? &b.t : NULL, &p));
    H_OK(ctx, fcl_conv2d_bwd(ctx, &dx.t, &dw.t, bias ? &db.t : NULL, &dy.t, &x.t, &w.t, &p));
    fx_expect(ctx, "conv y", &y, ry, H_TOL_FWD);
    fx_expect(ctx, "conv dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "conv dw", &dw, fx_get(f, c, "dw"), H_TOL_BWD);
    if (bias)
        fx_expect(ctx, "conv db", &db, fx_get(f, c, "db"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &w), h_free(ctx, &y), h_free(ctx, &dy), h_free(ctx, &dx), h_free(ctx, &dw);
    if (bias)
        h_free(ctx, &b), h_free(ctx, &db);
}

static void conv_auto(fcl_ctx *ctx, const fixture *f, const char *c) { conv_case(ctx, f, c, FCL_CONV_AUTO); }
/* the general path on the same semantics */
static void conv_gemm(fcl_ctx *ctx, const fixture *f, const char *c) { conv_case(ctx, f, c, FCL_CONV_GEMM); }

Test(torch, conv2d_grouped_strided_dilated_padded) { run_fixture_cases(conv_auto, (const char *[]){"conv_g", NULL}); }

Test(torch, conv2d_depthwise_stride2)
{
    run_fixture_cases(conv_auto, (const char *[]){"conv_dw", NULL});
    run_fixture_cases(conv_gemm, (const char *[]){"conv_dw", NULL});
}

/* ---- batch normalisation ---------------------------------------------------------------------- */

static void bn_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_bn2d_params p = {1, (float)q[4], (float)q[5]};
    h_case("torch bn2d training [%g, %g, %g, %g] eps %g momentum %g", q[0], q[1], q[2], q[3], q[4], q[5]);
    const fx_rec *rx = fx_get(f, c, "x"), *rg = fx_get(f, c, "gamma");
    h_buf x = fx_upload(ctx, rx), gamma = fx_upload(ctx, rg), beta = fx_upload(ctx, fx_get(f, c, "beta"));
    h_buf rm = fx_upload(ctx, fx_get(f, c, "running_mean_in"));
    h_buf rv = fx_upload(ctx, fx_get(f, c, "running_var_in"));
    h_buf y = fx_zeros_like(ctx, rx), sm = fx_zeros_like(ctx, rg), si = fx_zeros_like(ctx, rg);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx);
    h_buf dg = fx_zeros_like(ctx, rg), dbeta = fx_zeros_like(ctx, rg);
    H_OK(ctx, fcl_bn2d_fwd(ctx, &y.t, &sm.t, &si.t, &rm.t, &rv.t, &x.t, &gamma.t, &beta.t, &p));
    H_OK(ctx, fcl_bn2d_bwd(ctx, &dx.t, &dg.t, &dbeta.t, &dy.t, &x.t, &gamma.t, &sm.t, &si.t, &p));
    fx_expect(ctx, "bn y", &y, fx_get(f, c, "y"), H_TOL_FWD);
    fx_expect(ctx, "bn running_mean", &rm, fx_get(f, c, "running_mean_out"), H_TOL_FWD);
    fx_expect(ctx, "bn running_var (unbiased)", &rv, fx_get(f, c, "running_var_out"), H_TOL_FWD);
    fx_expect(ctx, "bn dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "bn dgamma", &dg, fx_get(f, c, "dgamma"), H_TOL_BWD);
    fx_expect(ctx, "bn dbeta", &dbeta, fx_get(f, c, "dbeta"), H_TOL_BWD);
    h_buf *all[] = {&x, &gamma, &beta, &rm, &rv, &y, &sm, &si, &dy, &dx, &dg, &dbeta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        h_free(ctx, all[i]);
}

Test(torch, batchnorm2d_training_forward_running_stats_backward) { run_fixture_cases(bn_case, (const char *[]){"bn", NULL}); }

/* ---- pooling ---------------------------------------------------------------------------------- */

static fcl_pool2d_params pool_params(const double *q, int avg)
{
    fcl_pool2d_params p = {0};
    p.kh = (int)q[0], p.kw = (int)q[1], p.sh = (int)q[2], p.sw = (int)q[3];
    p.ph = (int)q[4], p.pw = (int)q[5], p.ceil_mode = (int)q[6];
    p.count_include_pad = avg ? (int)q[7] : 1;
    return p;
}

/* The output size formula (ceil mode, incl. PyTorch's "last window must start inside" rule)
 * must give torch's output shape. */
static void expect_out_size(const fcl_pool2d_params *p, const fx_rec *rx, const fx_rec *ry)
{
    size_t oh = 0, ow = 0;
    fcl_error err;
    fcl_status st = fcl_pool2d_out_hw(p, rx->shape[2], rx->shape[3], &oh, &ow, "pool", &err);
    cr_expect(st == FCL_OK, "fcl_pool2d_out_hw: %s", err.msg);
    cr_expect(oh == ry->shape[2] && ow == ry->shape[3], "output %zux%zu, torch %zux%zu", oh, ow,
              ry->shape[2], ry->shape[3]);
}

static void maxpool_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    fcl_pool2d_params p = pool_params(fx_get(f, c, "params")->data, 0);
    const fx_rec *rx = fx_get(f, c, "x"), *ry = fx_get(f, c, "y");
    h_case("torch %s: max pool %dx%d stride %d pad %d ceil_mode, input %zux%zu", c, p.kh, p.kw, p.sh,
           p.ph, rx->shape[2], rx->shape[3]);
    expect_out_size(&p, rx, ry);
    h_buf x = fx_upload(ctx, rx), y = fx_zeros_like(ctx, ry), idx = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx);
    H_OK(ctx, fcl_maxpool2d_fwd(ctx, &y.t, &idx.t, &x.t, &p));
    H_OK(ctx, fcl_maxpool2d_bwd(ctx, &dx.t, &dy.t, &idx.t, &p));
    fx_expect(ctx, "maxpool y (a selection: exact)", &y, ry, 0.0);
    fx_expect(ctx, "maxpool indices (exact)", &idx, fx_get(f, c, "idx"), 0.0);
    fx_expect(ctx, "maxpool dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &idx), h_free(ctx, &dy), h_free(ctx, &dx);
}

Test(torch, maxpool2d_ceil_mode_padding)
{
    run_fixture_cases(maxpool_case, (const char *[]){"maxpool_a", "maxpool_b", "maxpool_c", NULL});
}

static void avgpool_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    fcl_pool2d_params p = pool_params(fx_get(f, c, "params")->data, 1);
    const fx_rec *rx = fx_get(f, c, "x"), *ry = fx_get(f, c, "y");
    h_case("torch %s: avg pool %dx%d stride %d pad %d,%d ceil_mode count_include_pad %d, input %zux%zu",
           c, p.kh, p.kw, p.sh, p.ph, p.pw, p.count_include_pad, rx->shape[2], rx->shape[3]);
    expect_out_size(&p, rx, ry);
    h_buf x = fx_upload(ctx, rx), y = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx);
    H_OK(ctx, fcl_avgpool2d_fwd(ctx, &y.t, &x.t, &p));
    H_OK(ctx, fcl_avgpool2d_bwd(ctx, &dx.t, &dy.t, &p));
    fx_expect(ctx, "avgpool y", &y, ry, H_TOL_FWD);
    fx_expect(ctx, "avgpool dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &dy), h_free(ctx, &dx);
}

Test(torch, avgpool2d_ceil_mode_padding) { run_fixture_cases(avgpool_case, (const char *[]){"avgpool_a", "avgpool_b", NULL}); }

/* ---- label-smoothed cross-entropy --------------------------------------------------------------- */

static void xent_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_xent_params p = {(float)q[2]};
    h_case("torch %s: cross-entropy n=%g k=%g label_smoothing %g", c, q[0], q[1], q[2]);
    const fx_rec *rz = fx_get(f, c, "logits");
    h_buf z = fx_upload(ctx, rz), lab = fx_upload(ctx, fx_get(f, c, "labels"));
    h_buf loss = fx_zeros_like(ctx, fx_get(f, c, "loss")), dz = fx_zeros_like(ctx, rz);
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &loss.t, NULL, &z.t, &lab.t, &p));
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &dz.t, &z.t, &lab.t, &p, 1.0f));
    fx_expect(ctx, "xent loss", &loss, fx_get(f, c, "loss"), H_TOL_FWD);
    fx_expect(ctx, "xent dlogits", &dz, fx_get(f, c, "dlogits"), H_TOL_BWD);
    h_free(ctx, &z), h_free(ctx, &lab), h_free(ctx, &loss), h_free(ctx, &dz);
}

Test(torch, cross_entropy_label_smoothing) { run_fixture_cases(xent_case, (const char *[]){"xent_a", "xent_b", NULL}); }
