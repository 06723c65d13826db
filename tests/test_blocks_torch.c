/* tests/test_blocks_torch.c: GELU, LayerNorm2d, weight standardisation, r-SoftMax, radix sums and
 * AGC against PyTorch / timm (tests/fixtures/blocks_torch.bin, made by tools/make_block_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_act.h>
#include <facecl/ops_attn.h>
#include <facecl/ops_norm.h>
#include <facecl/optim.h>

#include "helpers/fixture.h"
#include "helpers/harness.h"

#define FIXTURE FACECL_SOURCE_DIR "/tests/fixtures/blocks_torch.bin"
#define TOOL "tools/make_block_fixtures.py"

/* One named case of fn on a fresh context, inside the Test body (fx_run). */
#define RUN_CASE(fn, name) fx_run(FIXTURE, TOOL, fn, (const char *const[]){name, NULL})

/* An op y = f(x) with its backward dx from dy (GELU, r-SoftMax), checked as "<what> y", "<what> dx". */
static void unary_case(fcl_ctx *ctx, const fixture *f, const char *c, const char *what, fx_io_fn run, const int *p)
{
    fx_case_io(ctx, f, c, what, (const char *const[]){"x", "dy"}, (const char *const[]){"y", "dx"}, 0, run, p);
}

/* p: the activation kind (int) */
static void run_gelu(fcl_ctx *ctx, h_buf *b, const void *p)
{
    fcl_act_params ap = {(fcl_act_kind) * (const int *)p, 0};
    H_OK(ctx, fcl_act_fwd(ctx, &b[FX_OUT0].t, &b[FX_IN0].t, &ap));
    H_OK(ctx, fcl_act_bwd(ctx, &b[FX_OUT1].t, &b[FX_IN1].t, &b[FX_IN0].t, &ap));
}

static void gelu_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    h_case("torch %s forward and backward", c);
    int kind = strcmp(c, "gelu_tanh") ? FCL_ACT_GELU : FCL_ACT_GELU_TANH;
    unary_case(ctx, f, c, "gelu", run_gelu, &kind);
}

Test(blocks_torch, gelu) { RUN_CASE(gelu_case, "gelu"); }
Test(blocks_torch, gelu_tanh) { RUN_CASE(gelu_case, "gelu_tanh"); }

static void ln2d_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    h_case("torch torchvision LayerNorm2d(eps 1e-6) forward and backward");
    const fx_rec *rx = fx_get(f, c, "x");
    float eps = (float)fx_get(f, c, "params")->data[0];
    size_t np = rx->shape[0] * rx->shape[2] * rx->shape[3];
    h_buf x = fx_upload(ctx, rx), w = fx_upload(ctx, fx_get(f, c, "weight"));
    h_buf b = fx_upload(ctx, fx_get(f, c, "bias")), y = fx_zeros_like(ctx, rx);
    h_buf m = h_zeros(ctx, 1, &np), r = h_zeros(ctx, 1, &np), dy = fx_upload(ctx, fx_get(f, c, "dy"));
    h_buf dx = fx_zeros_like(ctx, rx), dw = fx_zeros_like(ctx, fx_get(f, c, "weight"));
    h_buf db = fx_zeros_like(ctx, fx_get(f, c, "bias"));
    H_OK(ctx, fcl_ln2d_fwd(ctx, &y.t, &m.t, &r.t, &x.t, &w.t, &b.t, eps));
    H_OK(ctx, fcl_ln2d_bwd(ctx, &dx.t, &dw.t, &db.t, &dy.t, &x.t, &w.t, &m.t, &r.t));
    fx_expect(ctx, "ln2d y", &y, fx_get(f, c, "y"), H_TOL_FWD);
    fx_expect(ctx, "ln2d dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "ln2d dweight", &dw, fx_get(f, c, "dweight"), H_TOL_BWD);
    fx_expect(ctx, "ln2d dbias", &db, fx_get(f, c, "dbias"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &w), h_free(ctx, &b), h_free(ctx, &y), h_free(ctx, &m), h_free(ctx, &r);
    h_free(ctx, &dy), h_free(ctx, &dx), h_free(ctx, &dw), h_free(ctx, &db);
}

Test(blocks_torch, layernorm2d) { RUN_CASE(ln2d_case, "ln2d"); }

static void wstd_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    h_case("torch timm ScaledStdConv2d weight (gamma 1.7015, eps 1e-5) and its backward");
    const double *q = fx_get(f, c, "params")->data;
    float eps = (float)q[1], scale = (float)q[2];
    const fx_rec *rw = fx_get(f, c, "w"), *rg = fx_get(f, c, "gain");
    cr_expect(fabs(q[2] - q[0] / sqrt((double)(rw->numel / rw->shape[0]))) < 1e-6, "scale = gamma / sqrt(fan-in)");
    h_buf w = fx_upload(ctx, rw), g = fx_upload(ctx, rg), wh = fx_zeros_like(ctx, rw);
    h_buf dwh = fx_upload(ctx, fx_get(f, c, "dy")), dw = fx_zeros_like(ctx, rw), dg = fx_zeros_like(ctx, rg);
    H_OK(ctx, fcl_wstd_fwd(ctx, &wh.t, &w.t, &g.t, scale, eps));
    H_OK(ctx, fcl_wstd_bwd(ctx, &dw.t, &dg.t, &dwh.t, &w.t, &g.t, scale, eps));
    fx_expect(ctx, "wstd w_hat", &wh, fx_get(f, c, "y"), H_TOL_FWD);
    fx_expect(ctx, "wstd dw", &dw, fx_get(f, c, "dw"), H_TOL_BWD);
    fx_expect(ctx, "wstd dgain", &dg, fx_get(f, c, "dgain"), H_TOL_BWD);
    h_free(ctx, &w), h_free(ctx, &g), h_free(ctx, &wh), h_free(ctx, &dwh), h_free(ctx, &dw), h_free(ctx, &dg);
}

Test(blocks_torch, scaled_weight_standardisation) { RUN_CASE(wstd_case, "wstd"); }

/* p: radix, cardinality (int[2]) */
static void run_rsoftmax(fcl_ctx *ctx, h_buf *b, const void *p)
{
    const int *q = p;
    H_OK(ctx, fcl_rsoftmax_fwd(ctx, &b[FX_OUT0].t, &b[FX_IN0].t, q[0], q[1]));
    H_OK(ctx, fcl_rsoftmax_bwd(ctx, &b[FX_OUT1].t, &b[FX_IN1].t, &b[FX_OUT0].t, q[0], q[1]));
}

static void rsoftmax_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    int p[2] = {(int)q[0], (int)q[1]};
    h_case("torch timm RadixSoftmax(radix %d, cardinality %d)", p[0], p[1]);
    unary_case(ctx, f, c, "rsoftmax", run_rsoftmax, p);
}

Test(blocks_torch, rsoftmax_radix2) { RUN_CASE(rsoftmax_case, "rsoftmax_r2"); }
Test(blocks_torch, rsoftmax_radix1) { RUN_CASE(rsoftmax_case, "rsoftmax_r1"); }

static void rsum_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    int radix = (int)fx_get(f, c, "params")->data[0];
    h_case("torch timm SplitAttn radix sums (radix %d)", radix);
    const fx_rec *rx = fx_get(f, c, "x"), *ra = fx_get(f, c, "a"), *ry = fx_get(f, c, "y");
    h_buf x = fx_upload(ctx, rx), a = fx_upload(ctx, ra), y = fx_zeros_like(ctx, ry), gap = fx_zeros_like(ctx, ry);
    h_buf dy = fx_upload(ctx, fx_get(f, c, "dy")), dx = fx_zeros_like(ctx, rx), da = fx_zeros_like(ctx, ra);
    H_OK(ctx, fcl_radix_sum_fwd(ctx, &gap.t, &x.t, NULL, radix));
    H_OK(ctx, fcl_radix_sum_fwd(ctx, &y.t, &x.t, &a.t, radix));
    H_OK(ctx, fcl_radix_sum_bwd(ctx, &dx.t, &da.t, &dy.t, &x.t, &a.t, radix));
    fx_expect(ctx, "radix sum (gap)", &gap, fx_get(f, c, "gap"), H_TOL_FWD);
    fx_expect(ctx, "radix weighted sum", &y, ry, H_TOL_FWD);
    fx_expect(ctx, "radix weighted sum dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "radix weighted sum da", &da, fx_get(f, c, "da"), H_TOL_BWD);
    h_free(ctx, &x), h_free(ctx, &a), h_free(ctx, &y), h_free(ctx, &gap), h_free(ctx, &dy), h_free(ctx, &dx);
    h_free(ctx, &da);
}

Test(blocks_torch, radix_sums) { RUN_CASE(rsum_case, "rsum"); }

/* The fixture's tensors are packed into one flat buffer with gaps (which must stay untouched). */
static void agc_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    size_t nt = (size_t)q[2], total = 0;
    h_case("torch timm adaptive_clip_grad(clip %g, eps %g) over %zu tensors", q[0], q[1], nt);
    fcl_agc_tensor ts[8];
    cr_assert(nt <= 8);
    for (size_t i = 0; i < nt; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%zu", i);
        const fx_rec *r = fx_get(f, c, nm);
        ts[i] = (fcl_agc_tensor){total + 3, r->numel, r->ndim >= 2 ? r->shape[0] : 1};
        total += r->numel + 3;
    }
    double *p = h_alloc(total), *g = h_alloc(total), *want = h_alloc(total), *got = h_alloc(total);
    for (size_t k = 0; k < total; k++) p[k] = g[k] = want[k] = 0.5 + (double)k;   /* gaps */
    for (size_t i = 0; i < nt; i++) {
        char nm[3][16];
        snprintf(nm[0], 16, "p%zu", i), snprintf(nm[1], 16, "g%zu", i), snprintf(nm[2], 16, "out%zu", i);
        memcpy(p + ts[i].offset, fx_get(f, c, nm[0])->data, ts[i].numel * sizeof(double));
        memcpy(g + ts[i].offset, fx_get(f, c, nm[1])->data, ts[i].numel * sizeof(double));
        memcpy(want + ts[i].offset, fx_get(f, c, nm[2])->data, ts[i].numel * sizeof(double));
    }
    fcl_agc *agc;
    H_OK(ctx, fcl_agc_create(ctx, &agc, total, ts, nt, q[0], q[1]));
    h_buf bp = h_upload(ctx, p, 1, &total), bg = h_upload(ctx, g, 1, &total);
    h_name(&bg, "grads");
    H_OK(ctx, fcl_agc_apply(ctx, agc, &bp.t, &bg.t));
    h_download(ctx, &bg, got);
    h_check_guards(ctx, &bp);
    h_expect_close("agc grads", got, want, total, H_TOL_FWD);
    fcl_agc_destroy(ctx, agc);
    h_free(ctx, &bp), h_free(ctx, &bg);
    free(p), free(g), free(want), free(got);
}

Test(blocks_torch, adaptive_gradient_clipping) { RUN_CASE(agc_case, "agc"); }
