/* tests/test_losses_torch.c: facecl's face-verification losses against PyTorch values (tests/fixtures/losses_torch.bin, made by tools/make_loss_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_metric_loss.h>

#include "helpers/fixture.h"
#include "helpers/harness.h"

#define FIXTURE FACECL_SOURCE_DIR "/tests/fixtures/losses_torch.bin"

/* One named case of fn on a fresh context, inside the Test body (fx_run). */
#define RUN_CASE(fn, name) fx_run(FIXTURE, "tools/make_loss_fixtures.py", fn, (const char *const[]){name, NULL})

/* ---- margin heads -------------------------------------------------------------------------------- */

static void head_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_margin_params p = {(fcl_margin_kind)(int)q[0], (float)q[1], (float)q[2], (int)q[3], (float)q[4], (float)q[5]};
    const fx_rec *rx = fx_get(f, c, "x"), *rw = fx_get(f, c, "w");
    h_case("torch %s: kind %d s %g m %g easy %d lambda %g smoothing %g, x [%zu, %zu], W [%zu, %zu]", c,
           (int)p.kind, (double)p.s, (double)p.m, p.easy_margin, (double)p.lambda, (double)p.label_smoothing,
           rx->shape[0], rx->shape[1], rw->shape[0], rw->shape[1]);
    size_t n = rx->shape[0], k = rw->shape[0], sz[2] = {n, k}, one = 1;
    h_buf x = fx_upload(ctx, rx), w = fx_upload(ctx, rw), lab = fx_upload(ctx, fx_get(f, c, "labels"));
    h_buf loss = h_zeros(ctx, 1, &one), z = h_zeros(ctx, 2, sz), cs = h_zeros(ctx, 2, sz);
    h_buf dx = fx_zeros_like(ctx, rx), dw = fx_zeros_like(ctx, rw);
    H_OK(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &cs.t, &x.t, &w.t, &lab.t, &p));
    H_OK(ctx, fcl_margin_head_bwd(ctx, &dx.t, &dw.t, &z.t, &cs.t, &x.t, &w.t, &lab.t, &p, 1.0f));
    fx_expect(ctx, "head loss", &loss, fx_get(f, c, "loss"), H_TOL_FWD);
    fx_expect(ctx, "head dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "head dW", &dw, fx_get(f, c, "dw"), H_TOL_BWD);
    h_buf *all[] = {&x, &w, &lab, &loss, &z, &cs, &dx, &dw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        h_free(ctx, all[i]);
}

Test(torch_losses, arcface) { RUN_CASE(head_case, "arcface"); }
Test(torch_losses, arcface_easy_margin) { RUN_CASE(head_case, "arcface_easy"); }
Test(torch_losses, cosface_label_smoothing) { RUN_CASE(head_case, "cosface"); }
Test(torch_losses, sphereface) { RUN_CASE(head_case, "sphereface"); }

/* ---- center loss ------------------------------------------------------------------------------------ */

static void center_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    float alpha = (float)fx_get(f, c, "params")->data[0];
    const fx_rec *rx = fx_get(f, c, "x"), *rc = fx_get(f, c, "centers");
    h_case("torch %s: x [%zu, %zu], %zu centres, alpha %g", c, rx->shape[0], rx->shape[1], rc->shape[0],
           (double)alpha);
    size_t one = 1;
    h_buf x = fx_upload(ctx, rx), cen = fx_upload(ctx, rc), lab = fx_upload(ctx, fx_get(f, c, "labels"));
    h_buf loss = h_zeros(ctx, 1, &one), dx = fx_zeros_like(ctx, rx), dc = fx_zeros_like(ctx, rc);
    H_OK(ctx, fcl_center_loss_fwd(ctx, &loss.t, &x.t, &cen.t, &lab.t));
    H_OK(ctx, fcl_center_loss_bwd(ctx, &dx.t, &dc.t, &x.t, &cen.t, &lab.t, 1.0f));
    H_OK(ctx, fcl_center_update(ctx, &cen.t, &x.t, &lab.t, alpha));
    fx_expect(ctx, "center loss", &loss, fx_get(f, c, "loss"), H_TOL_FWD);
    fx_expect(ctx, "center dx", &dx, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "center dcenters", &dc, fx_get(f, c, "dcenters"), H_TOL_BWD);
    fx_expect(ctx, "center update (Wen et al.)", &cen, fx_get(f, c, "centers_updated"), H_TOL_FWD);
    h_buf *all[] = {&x, &cen, &lab, &loss, &dx, &dc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        h_free(ctx, all[i]);
}

Test(torch_losses, center_loss_and_update) { RUN_CASE(center_case, "center"); }

/* ---- triplet ----------------------------------------------------------------------------------------- */

/* A loss of embeddings x and labels (triplet, histogram): `run` does its forward into the loss
 * [1] and its backward into dx with params p, checked as "<what> loss" and "<what> dx". */
static void xl_case(fcl_ctx *ctx, const fixture *f, const char *c, const char *what, fx_io_fn run, const void *p)
{
    fx_case_io(ctx, f, c, what, (const char *const[]){"x", "labels"}, (const char *const[]){"loss", "dx"}, 1, run, p);
}

static void run_triplet(fcl_ctx *ctx, h_buf *b, const void *p)
{
    H_OK(ctx, fcl_triplet_loss_fwd(ctx, &b[FX_OUT0].t, &b[FX_IN0].t, &b[FX_IN1].t, p));
    H_OK(ctx, fcl_triplet_loss_bwd(ctx, &b[FX_OUT1].t, &b[FX_IN0].t, &b[FX_IN1].t, p, 1.0f));
}

static void run_histogram(fcl_ctx *ctx, h_buf *b, const void *p)
{
    H_OK(ctx, fcl_histogram_loss_fwd(ctx, &b[FX_OUT0].t, &b[FX_IN0].t, &b[FX_IN1].t, p));
    H_OK(ctx, fcl_histogram_loss_bwd(ctx, &b[FX_OUT1].t, &b[FX_IN0].t, &b[FX_IN1].t, p, 1.0f));
}

static void triplet_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    const double *q = fx_get(f, c, "params")->data;
    fcl_triplet_params p = {(fcl_triplet_mining)(int)q[0], (float)q[1], (int)q[2]};
    const fx_rec *rx = fx_get(f, c, "x");
    h_case("torch %s: %s mining, margin %g, %s distances, x [%zu, %zu]", c, p.mining ? "semi-hard" : "batch-hard",
           (double)p.margin, p.squared ? "squared" : "Euclidean", rx->shape[0], rx->shape[1]);
    xl_case(ctx, f, c, "triplet", run_triplet, &p);
}

Test(torch_losses, triplet_batch_hard) { RUN_CASE(triplet_case, "triplet_bh"); }
Test(torch_losses, triplet_semi_hard) { RUN_CASE(triplet_case, "triplet_sh"); }

/* ---- contrastive and histogram ---------------------------------------------------------------------- */

static void contrastive_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    fcl_contrastive_params p = {(float)fx_get(f, c, "params")->data[0]};
    const fx_rec *ra = fx_get(f, c, "x"), *rb = fx_get(f, c, "b");
    h_case("torch %s: margin %g, pairs [%zu, %zu]", c, (double)p.margin, ra->shape[0], ra->shape[1]);
    size_t one = 1;
    h_buf a = fx_upload(ctx, ra), b = fx_upload(ctx, rb), y = fx_upload(ctx, fx_get(f, c, "y"));
    h_buf loss = h_zeros(ctx, 1, &one), da = fx_zeros_like(ctx, ra), db = fx_zeros_like(ctx, rb);
    H_OK(ctx, fcl_contrastive_loss_fwd(ctx, &loss.t, &a.t, &b.t, &y.t, &p));
    H_OK(ctx, fcl_contrastive_loss_bwd(ctx, &da.t, &db.t, &a.t, &b.t, &y.t, &p, 1.0f));
    fx_expect(ctx, "contrastive loss", &loss, fx_get(f, c, "loss"), H_TOL_FWD);
    fx_expect(ctx, "contrastive da", &da, fx_get(f, c, "dx"), H_TOL_BWD);
    fx_expect(ctx, "contrastive db", &db, fx_get(f, c, "db"), H_TOL_BWD);
    h_free(ctx, &a), h_free(ctx, &b), h_free(ctx, &y), h_free(ctx, &loss), h_free(ctx, &da), h_free(ctx, &db);
}

static void histogram_case(fcl_ctx *ctx, const fixture *f, const char *c)
{
    fcl_histogram_params p = {(int)fx_get(f, c, "params")->data[0]};
    const fx_rec *rx = fx_get(f, c, "x");
    h_case("torch %s: %d bins, x [%zu, %zu]", c, p.bins, rx->shape[0], rx->shape[1]);
    xl_case(ctx, f, c, "histogram", run_histogram, &p);
}

Test(torch_losses, contrastive) { RUN_CASE(contrastive_case, "contrastive"); }
Test(torch_losses, histogram) { RUN_CASE(histogram_case, "histogram"); }
