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

/* Each Test loads the fixture and makes its context inside its body (PoCL fork trap). */
#define WITH_FIXTURE(body)                                                                         \
    do {                                                                                           \
        fixture f;                                                                                 \
        fx_load(&f, FIXTURE, "tools/make_loss_fixtures.py");                                       \
        printf("  fixture: %s\n", f.generator);                                                    \
        fcl_ctx *ctx = h_ctx();                                                                    \
        body;                                                                                      \
        h_ctx_free(ctx);                                                                           \
        fx_free(&f);                                                                               \
    } while (0)

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

Test(torch_losses, arcface) { WITH_FIXTURE(head_case(ctx, &f, "arcface")); }
Test(torch_losses, arcface_easy_margin) { WITH_FIXTURE(head_case(ctx, &f, "arcface_easy")); }
Test(torch_losses, cosface_label_smoothing) { WITH_FIXTURE(head_case(ctx, &f, "cosface")); }
Test(torch_losses, sphereface) { WITH_FIXTURE(head_case(ctx, &f, "sphereface")); }

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

Test(torch_losses, center_loss_and_update) { WITH_FIXTURE(center_case(ctx, &f, "center")); }

/* ---- triplet ----------------------------------------------------------------------------------------- */

/* A loss of embeddings x and labels (triplet, histogram): `run` does its forward into loss [1] and
 * its backward into dx (like x) with params p; xl_case checks "<what> loss" and "<what> dx"
 * against the fixture's loss and dx. */
typedef struct xl_bufs {
    h_buf x, lab, loss, dx;
} xl_bufs;
typedef void (*xl_run)(fcl_ctx *ctx, xl_bufs *b, const void *p);

static void xl_case(fcl_ctx *ctx, const fixture *f, const char *c, const char *what, xl_run run, const void *p)
{
    size_t one = 1;
    const fx_rec *rx = fx_get(f, c, "x");
    xl_bufs b = {fx_upload(ctx, rx), fx_upload(ctx, fx_get(f, c, "labels")), h_zeros(ctx, 1, &one),
                 fx_zeros_like(ctx, rx)};
    run(ctx, &b, p);
    char name[64];
    snprintf(name, sizeof name, "%s loss", what);
    fx_expect(ctx, name, &b.loss, fx_get(f, c, "loss"), H_TOL_FWD);
    snprintf(name, sizeof name, "%s dx", what);
    fx_expect(ctx, name, &b.dx, fx_get(f, c, "dx"), H_TOL_BWD);
    h_free(ctx, &b.x), h_free(ctx, &b.lab), h_free(ctx, &b.loss), h_free(ctx, &b.dx);
}

static void run_triplet(fcl_ctx *ctx, xl_bufs *b, const void *p)
{
    H_OK(ctx, fcl_triplet_loss_fwd(ctx, &b->loss.t, &b->x.t, &b->lab.t, p));
    H_OK(ctx, fcl_triplet_loss_bwd(ctx, &b->dx.t, &b->x.t, &b->lab.t, p, 1.0f));
}

static void run_histogram(fcl_ctx *ctx, xl_bufs *b, const void *p)
{
    H_OK(ctx, fcl_histogram_loss_fwd(ctx, &b->loss.t, &b->x.t, &b->lab.t, p));
    H_OK(ctx, fcl_histogram_loss_bwd(ctx, &b->dx.t, &b->x.t, &b->lab.t, p, 1.0f));
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

Test(torch_losses, triplet_batch_hard) { WITH_FIXTURE(triplet_case(ctx, &f, "triplet_bh")); }
Test(torch_losses, triplet_semi_hard) { WITH_FIXTURE(triplet_case(ctx, &f, "triplet_sh")); }

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

Test(torch_losses, contrastive) { WITH_FIXTURE(contrastive_case(ctx, &f, "contrastive")); }
Test(torch_losses, histogram) { WITH_FIXTURE(histogram_case(ctx, &f, "histogram")); }
