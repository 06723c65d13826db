/* tests/test_ops_metric_loss.c: center, margin heads (CosFace/ArcFace/SphereFace), triplet, contrastive, histogram losses: OpenCL vs reference, reference vs FD, hand-made cases, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_loss.h>
#include <facecl/ops_metric_loss.h>

#include "helpers/harness.h"
#include "ref/ref_loss.h"
#include "ref/ref_metric_loss.h"

#define L2EPS ((double)FCL_L2NORM_EPS)

/* ---- helpers ----------------------------------------------------------------------------------- */

static int *ialloc(size_t n)
{
    int *p = calloc(n ? n : 1, sizeof *p);
    cr_assert(p != NULL, "out of memory");
    return p;
}

/* Uploads int labels as the f32 tensor [n] the ops take. */
static h_buf upload_labels(fcl_ctx *ctx, const int *lab, size_t n)
{
    double *d = h_alloc(n);
    for (size_t i = 0; i < n; i++)
        d[i] = lab[i];
    h_buf b = h_upload(ctx, d, 1, &n);
    free(d);
    return *h_name(&b, "labels");
}

static void rand_labels(int *lab, size_t n, int k, uint64_t seed)
{
    double *r = h_alloc(n);
    h_rand(r, n, seed, 0, k);
    for (size_t i = 0; i < n; i++)
        lab[i] = (int)r[i] < k ? (int)r[i] : k - 1;
    free(r);
}

/* Embeddings clustered by identity: x_i = normalize(centre_{y_i} + sigma * noise) (unit rows
 * when `unit`), rounded to float. */
static void clustered(double *x, const int *lab, size_t n, size_t d, int ids, double sigma, int unit,
                      uint64_t seed)
{
    double *c = h_alloc((size_t)ids * d), *z = h_alloc(n * d);
    h_rand(c, (size_t)ids * d, seed, -1, 1);
    h_rand(z, n * d, seed + 1, -1, 1);
    for (size_t i = 0; i < n; i++) {
        double nr = 0.0;
        for (size_t t = 0; t < d; t++) {
            x[i * d + t] = c[(size_t)lab[i] * d + t] + sigma * z[i * d + t];
            nr += x[i * d + t] * x[i * d + t];
        }
        nr = unit ? sqrt(nr) : 1.0;
        for (size_t t = 0; t < d; t++)
            x[i * d + t] /= nr;
    }
    h_to_f32(x, n * d);
    free(c);
    free(z);
}

/* ==== center loss ============================================================================ */

typedef struct center_case {
    size_t n, d, k;
    double dloss, alpha;
} center_case;

static void center_case_run(fcl_ctx *ctx, const center_case *c, uint64_t seed)
{
    size_t n = c->n, d = c->d, k = c->k, nx = n * d, nc = k * d;
    h_case("center loss n=%zu d=%zu k=%zu dloss=%.2f alpha=%.2f", n, d, k, c->dloss, c->alpha);
    double *x = h_alloc(nx), *cen = h_alloc(nc), *gx0 = h_alloc(nx), *gc0 = h_alloc(nc);
    double *gx = h_alloc(nx), *gc = h_alloc(nc), *gxr = h_alloc(nx), *gcr = h_alloc(nc);
    double *cu = h_alloc(nc), *cur = h_alloc(nc), loss, lossr;
    int *lab = ialloc(n);
    h_rand_f32(x, nx, seed, -1, 1);
    h_rand_f32(cen, nc, seed + 1, -1, 1);
    h_rand_f32(gx0, nx, seed + 2, -0.1, 0.1);
    h_rand_f32(gc0, nc, seed + 3, -0.1, 0.1);
    rand_labels(lab, n, (int)k, seed + 4);
    size_t sx[2] = {n, d}, sc[2] = {k, d}, one = 1;
    h_buf bx = h_upload(ctx, x, 2, sx), bc = h_upload(ctx, cen, 2, sc), bl = upload_labels(ctx, lab, n);
    h_buf bloss = h_zeros(ctx, 1, &one), bgx = h_upload(ctx, gx0, 2, sx), bgc = h_upload(ctx, gc0, 2, sc);
    h_name(&bloss, "loss"), h_name(&bgx, "dx"), h_name(&bgc, "dcenters"), h_name(&bc, "centers");
    H_OK(ctx, fcl_center_loss_fwd(ctx, &bloss.t, &bx.t, &bc.t, &bl.t));
    H_OK(ctx, fcl_center_loss_bwd(ctx, &bgx.t, &bgc.t, &bx.t, &bc.t, &bl.t, (float)c->dloss));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &bgx, gx);
    h_download(ctx, &bgc, gc);
    H_OK(ctx, fcl_center_update(ctx, &bc.t, &bx.t, &bl.t, (float)c->alpha));
    h_download(ctx, &bc, cu);
    h_check_guards(ctx, &bx);
    h_check_guards(ctx, &bl);

    fcl_ref_center_loss_fwd(&lossr, x, cen, lab, n, d, k);
    fcl_ref_center_loss_bwd(gxr, gcr, x, cen, lab, n, d, k, c->dloss);
    memcpy(cur, cen, nc * sizeof *cur);
    fcl_ref_center_update(cur, x, lab, n, d, k, c->alpha);
    h_expect_close("center loss", &loss, &lossr, 1, H_TOL_FWD);
    double *dgx = h_delta(gx, gx0, nx), *dgc = h_delta(gc, gc0, nc);
    h_expect_close("center dx", dgx, gxr, nx, H_TOL_BWD);
    h_expect_close("center dcenters", dgc, gcr, nc, H_TOL_BWD);
    h_expect_close("center update", cu, cur, nc, H_TOL_FWD);
    /* classes absent from the batch keep their centre bit for bit */
    size_t absent = 0;
    for (size_t j = 0; j < k; j++) {
        int seen = 0;
        for (size_t i = 0; i < n; i++)
            seen |= lab[i] == (int)j;
        if (seen)
            continue;
        absent++;
        for (size_t t = 0; t < d; t++)
            cr_expect(cu[j * d + t] == cen[j * d + t], "absent class %zu centre moved", j);
    }
    printf("  %zu of %zu classes absent from the batch\n", absent, k);

    h_free(ctx, &bx), h_free(ctx, &bc), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &bgx);
    h_free(ctx, &bgc);
    double *all[] = {x, cen, gx0, gc0, gx, gc, gxr, gcr, cu, cur, dgx, dgc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(lab);
}

static void center_loss_matches_reference_body(void)
{
    fcl_ctx *ctx = h_ctx();
    static const center_case cases[] = {
        {1, 7, 11, 1.0, 0.5}, {7, 13, 11, 0.7, 0.5}, {33, 128, 37, 0.01, 0.3},
        {13, 7, 37, 1.0, 1.0}, {50, 13, 3, 2.0, 0.5},   /* 3 classes: many rows per class */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        center_case_run(ctx, &cases[i], 10 + 10 * i);
    h_ctx_free(ctx);
}
Test(metric_loss, center_loss_matches_reference) { center_loss_matches_reference_body(); }
Test(metric_loss, center_loss_matches_reference_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); center_loss_matches_reference_body(); }
Test(metric_loss, center_loss_matches_reference_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); center_loss_matches_reference_body(); }

/* Wen et al.'s update on a hand-made batch: class 0 has rows {1, 2, 3}, class 2 has row {0},
 * class 1 is absent. delta c_0 = ((c0 - x1) + (c0 - x2) + (c0 - x3)) / 4,
 * delta c_2 = (c2 - x0) / 2, c_1 unchanged. */
Test(metric_loss, center_update_by_hand)
{
    fcl_ctx *ctx = h_ctx();
    h_case("center update by hand");
    size_t n = 4, d = 2, k = 3, sx[2] = {4, 2}, sc[2] = {3, 2};
    double x[8] = {1, 2, 3, -1, 5, 5, -3, 1}, c[6] = {0, 0, 7, 7, 1, 1}, got[6];
    int lab[4] = {2, 0, 0, 0};
    double a = 0.5;
    double want[6];
    for (size_t t = 0; t < d; t++) {
        double d0 = ((c[t] - x[2 + t]) + (c[t] - x[4 + t]) + (c[t] - x[6 + t])) / 4.0;
        double d2 = (c[4 + t] - x[t]) / 2.0;
        want[t] = c[t] - a * d0;
        want[2 + t] = c[2 + t];
        want[4 + t] = c[4 + t] - a * d2;
    }
    h_buf bx = h_upload(ctx, x, 2, sx), bc = h_upload(ctx, c, 2, sc), bl = upload_labels(ctx, lab, n);
    H_OK(ctx, fcl_center_update(ctx, &bc.t, &bx.t, &bl.t, (float)a));
    h_download(ctx, &bc, got);
    h_expect_close("center update (hand)", got, want, 6, 1e-6);
    double ref[6];
    memcpy(ref, c, sizeof ref);
    fcl_ref_center_update(ref, x, lab, n, d, k, a);
    h_expect_close("center update (reference, hand)", ref, want, 6, 1e-12);
    h_free(ctx, &bx), h_free(ctx, &bc), h_free(ctx, &bl);
    h_ctx_free(ctx);
}

typedef struct center_ud {
    const double *x, *c;
    const int *lab;
    size_t n, d, k;
} center_ud;

static void center_f(double *y, const double *unused, void *ud)
{
    (void)unused;
    const center_ud *u = ud;
    fcl_ref_center_loss_fwd(y, u->x, u->c, u->lab, u->n, u->d, u->k);
}

Test(metric_loss, center_loss_reference_vs_finite_differences)
{
    size_t n = 9, d = 7, k = 4;
    h_case("center loss FD n=%zu d=%zu k=%zu", n, d, k);
    double x[63], c[28], gx[63] = {0}, gc[28] = {0}, r = 1.3;
    int lab[9] = {0, 1, 1, 3, 0, 0, 3, 1, 0};
    h_rand(x, n * d, 1, -1, 1);
    h_rand(c, k * d, 2, -1, 1);
    fcl_ref_center_loss_bwd(gx, gc, x, c, lab, n, d, k, r);
    center_ud u = {x, c, lab, n, d, k};
    h_fd fx = {.what = "center d/dx", .f = center_f, .ud = &u, .x = x, .nx = n * d, .ny = 1, .r = &r,
               .grad = gx, .seed = 3};
    h_fd fc = fx;
    fc.what = "center d/dcenters", fc.x = c, fc.nx = k * d, fc.grad = gc;
    h_fd_check(&fx);
    h_fd_check(&fc);
}

/* ==== margin heads =========================================================================== */

static const char *kind_str(const fcl_margin_params *p)
{
    switch (p->kind) {
    case FCL_MARGIN_COSFACE: return "CosFace";
    case FCL_MARGIN_ARCFACE: return p->easy_margin ? "ArcFace(easy)" : "ArcFace";
    case FCL_MARGIN_SPHEREFACE: return "SphereFace";
    }
    return "?";
}

/* The cosine where the kind's target function switches branch (ArcFace), or NAN. */
static double switch_point(const fcl_margin_params *p)
{
    if (p->kind != FCL_MARGIN_ARCFACE)
        return NAN;
    return p->easy_margin ? 0.0 : cos(M_PI - (double)p->m);
}

static const fcl_margin_params MARGINS[] = {
    {FCL_MARGIN_COSFACE, 30.0f, 0.35f, 0, 0.0f, 0.0f},
    {FCL_MARGIN_COSFACE, 64.0f, 0.4f, 0, 0.0f, 0.1f},
    {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f},
    {FCL_MARGIN_ARCFACE, 16.0f, 0.2f, 0, 0.0f, 0.1f},
    {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 1, 0.0f, 0.0f},
    {FCL_MARGIN_SPHEREFACE, 0.0f, 1.0f, 0, 0.0f, 0.0f},
    {FCL_MARGIN_SPHEREFACE, 0.0f, 2.0f, 0, 5.0f, 0.0f},
    {FCL_MARGIN_SPHEREFACE, 0.0f, 3.0f, 0, 0.0f, 0.0f},
    {FCL_MARGIN_SPHEREFACE, 0.0f, 4.0f, 0, 0.0f, 0.1f},
    {FCL_MARGIN_SPHEREFACE, 0.0f, 4.0f, 0, 1000.0f, 0.0f},
};
#define N_MARGINS (sizeof MARGINS / sizeof MARGINS[0])

/* The margin step alone on a chosen cosine matrix: targets spread over [-1, 1] incl. the exact
 * ends and both sides of ArcFace's switch point. */
static void margin_step_case(fcl_ctx *ctx, const fcl_margin_params *p, size_t n, size_t k, uint64_t seed)
{
    h_case("margin step %s s=%g m=%g lambda=%g n=%zu k=%zu", kind_str(p), (double)p->s, (double)p->m,
           (double)p->lambda, n, k);
    int sphere = p->kind == FCL_MARGIN_SPHEREFACE;
    size_t nk = n * k;
    double *cs = h_alloc(nk), *dz = h_alloc(nk), *dc0 = h_alloc(nk), *xn = h_alloc(n), *dn0 = h_alloc(n);
    double *z = h_alloc(nk), *zr = h_alloc(nk), *dc = h_alloc(nk), *dcr = h_alloc(nk), *dn = h_alloc(n);
    double *dnr = h_alloc(n);
    int *lab = ialloc(n);
    h_rand_f32(cs, nk, seed, -1, 1);
    h_rand_f32(dz, nk, seed + 1, -1, 1);
    h_rand_f32(dc0, nk, seed + 2, -0.1, 0.1);
    h_rand_f32(xn, n, seed + 3, 0.5, 8);
    h_rand_f32(dn0, n, seed + 4, -0.1, 0.1);
    rand_labels(lab, n, (int)k, seed + 5);
    double sw = switch_point(p);
    for (size_t i = 0; i < n; i++) {
        double *c = &cs[i * k + (size_t)lab[i]];
        if (i % 5 == 1)
            *c = 1.0;
        else if (i % 5 == 3)
            *c = -1.0;
        else if (i % 5 == 4 && !isnan(sw))
            *c = (float)(sw - 0.05);   /* below ArcFace's switch point */
        if (!isnan(sw) && fabs(*c - sw) < 1e-4)
            *c = (float)(sw + 2e-4);   /* float and double must take the same branch */
    }
    size_t sz[2] = {n, k};
    h_buf bc = h_upload(ctx, cs, 2, sz), bl = upload_labels(ctx, lab, n), bz = h_zeros(ctx, 2, sz);
    h_buf bdz = h_upload(ctx, dz, 2, sz), bdc = h_upload(ctx, dc0, 2, sz);
    h_buf bxn = h_upload(ctx, xn, 1, &n), bdn = h_upload(ctx, dn0, 1, &n);
    h_name(&bz, "logits"), h_name(&bdc, "dcos"), h_name(&bdn, "dxnorm");
    H_OK(ctx, fcl_margin_logits_fwd(ctx, &bz.t, &bc.t, &bl.t, sphere ? &bxn.t : NULL, p));
    H_OK(ctx, fcl_margin_logits_bwd(ctx, &bdc.t, sphere ? &bdn.t : NULL, &bdz.t, &bc.t, &bl.t,
                                    sphere ? &bxn.t : NULL, p));
    h_download(ctx, &bz, z);
    h_download(ctx, &bdc, dc);
    h_download(ctx, &bdn, dn);
    fcl_ref_margin_logits_fwd(zr, cs, lab, xn, n, k, p);
    fcl_ref_margin_logits_bwd(dcr, dnr, dz, cs, lab, xn, n, k, p);
    h_expect_close("margin logits", z, zr, nk, H_TOL_FWD);
    double *ddc = h_delta(dc, dc0, nk), *ddn = h_delta(dn, dn0, n);
    h_expect_close("margin dcos", ddc, dcr, nk, H_TOL_BWD);
    if (sphere)
        h_expect_close("margin dxnorm", ddn, dnr, n, H_TOL_BWD);
    else
        h_expect_close("dxnorm untouched", dn, dn0, n, 0.0);
    h_free(ctx, &bc), h_free(ctx, &bl), h_free(ctx, &bz), h_free(ctx, &bdz), h_free(ctx, &bdc);
    h_free(ctx, &bxn), h_free(ctx, &bdn);
    double *all[] = {cs, dz, dc0, xn, dn0, z, zr, dc, dcr, dn, dnr, ddc, ddn};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(lab);
}

Test(metric_loss, margin_step_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t i = 0; i < N_MARGINS; i++) {
        margin_step_case(ctx, &MARGINS[i], 13, 37, 100 + i);
        margin_step_case(ctx, &MARGINS[i], 1, 11, 200 + i);
    }
    h_ctx_free(ctx);
}

/* The target cosines of the head's inputs (double, from the float-rounded inputs). */
static void target_cos(double *ct, const double *x, const double *w, const int *lab, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * d, *wi = w + (size_t)lab[i] * d;
        double dot = 0, nx = 0, nw = 0;
        for (size_t t = 0; t < d; t++) {
            dot += xi[t] * wi[t];
            nx += xi[t] * xi[t];
            nw += wi[t] * wi[t];
        }
        ct[i] = dot / (fmax(sqrt(nx), L2EPS) * fmax(sqrt(nw), L2EPS));
    }
}

/* Head inputs: random x and W, with rows 1 mod 4 pointing away from their class (x_i = -W_y +
 * noise: cos near -1, ArcFace's other branch) and no target cosine within 1e-3 of a switch
 * point (those rows are redrawn). */
static void head_inputs(double *x, double *w, int *lab, size_t n, size_t d, size_t k,
                        const fcl_margin_params *p, uint64_t seed)
{
    h_rand_f32(w, k * d, seed, -1, 1);
    rand_labels(lab, n, (int)k, seed + 1);
    double sw = switch_point(p), *ct = h_alloc(n);
    for (int attempt = 0;; attempt++) {
        cr_assert(attempt < 50, "cannot draw head inputs away from the switch point");
        h_rand_f32(x, n * d, seed + 2 + (uint64_t)attempt, -1, 1);
        for (size_t i = 1; i < n; i += 4)
            for (size_t t = 0; t < d; t++)
                x[i * d + t] = (float)(-w[(size_t)lab[i] * d + t] + 0.05 * x[i * d + t]);
        target_cos(ct, x, w, lab, n, d);
        int ok = 1;
        for (size_t i = 0; i < n && !isnan(sw); i++)
            ok &= fabs(ct[i] - sw) > 1e-3;
        if (ok)
            break;
    }
    free(ct);
}

static void head_case(fcl_ctx *ctx, const fcl_margin_params *p, size_t n, size_t d, size_t k, double dloss,
                      uint64_t seed)
{
    h_case("margin head %s s=%g m=%g lambda=%g smoothing=%g n=%zu d=%zu k=%zu", kind_str(p), (double)p->s,
           (double)p->m, (double)p->lambda, (double)p->label_smoothing, n, d, k);
    size_t nx = n * d, nw = k * d, nk = n * k;
    double *x = h_alloc(nx), *w = h_alloc(nw), *gx0 = h_alloc(nx), *gw0 = h_alloc(nw);
    double *gx = h_alloc(nx), *gw = h_alloc(nw), *gxr = h_alloc(nx), *gwr = h_alloc(nw);
    double *cs = h_alloc(nk), *csr = h_alloc(nk), *z = h_alloc(nk), *zr = h_alloc(nk), loss, lossr;
    int *lab = ialloc(n);
    head_inputs(x, w, lab, n, d, k, p, seed);
    h_rand_f32(gx0, nx, seed + 90, -0.01, 0.01);
    h_rand_f32(gw0, nw, seed + 91, -0.01, 0.01);
    /* ArcFace: both branches must occur when the batch is large enough */
    double sw = switch_point(p), *ct = h_alloc(n);
    target_cos(ct, x, w, lab, n, d);
    size_t below = 0;
    for (size_t i = 0; i < n; i++)
        below += !isnan(sw) && ct[i] <= sw;
    if (!isnan(sw) && n >= 7)
        cr_expect(below > 0 && below < n, "%zu of %zu targets below the switch point: need both branches",
                  below, n);
    size_t sx[2] = {n, d}, sw2[2] = {k, d}, sz[2] = {n, k}, one = 1;
    h_buf bx = h_upload(ctx, x, 2, sx), bw = h_upload(ctx, w, 2, sw2), bl = upload_labels(ctx, lab, n);
    h_buf bloss = h_zeros(ctx, 1, &one), bz = h_zeros(ctx, 2, sz), bc = h_zeros(ctx, 2, sz);
    h_buf bgx = h_upload(ctx, gx0, 2, sx), bgw = h_upload(ctx, gw0, 2, sw2);
    h_name(&bloss, "loss"), h_name(&bz, "logits"), h_name(&bc, "cos"), h_name(&bgx, "dx"), h_name(&bgw, "dW");
    H_OK(ctx, fcl_margin_head_fwd(ctx, &bloss.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, p));
    H_OK(ctx, fcl_margin_head_bwd(ctx, &bgx.t, &bgw.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, p, (float)dloss));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &bz, z);
    h_download(ctx, &bc, cs);
    h_download(ctx, &bgx, gx);
    h_download(ctx, &bgw, gw);
    h_check_guards(ctx, &bx), h_check_guards(ctx, &bw);

    cr_assert(fcl_ref_margin_head_fwd(&lossr, zr, csr, x, w, lab, n, d, k, p) == 0);
    cr_assert(fcl_ref_margin_head_bwd(gxr, gwr, x, w, lab, n, d, k, p, dloss) == 0);
    printf("  loss %.6g (reference %.6g), %zu targets below the switch point\n", loss, lossr, below);
    h_expect_close("head cos", cs, csr, nk, H_TOL_FWD);
    h_expect_close("head logits", z, zr, nk, H_TOL_FWD);
    h_expect_close("head loss", &loss, &lossr, 1, H_TOL_FWD);
    double *dgx = h_delta(gx, gx0, nx), *dgw = h_delta(gw, gw0, nw);
    h_expect_close("head dx", dgx, gxr, nx, H_TOL_BWD);
    h_expect_close("head dW", dgw, gwr, nw, H_TOL_BWD);

    /* the loss alone (no cos / logits kept) is the same number, bit for bit */
    double loss2;
    H_OK(ctx, fcl_margin_head_fwd(ctx, &bloss.t, NULL, NULL, &bx.t, &bw.t, &bl.t, p));
    h_download(ctx, &bloss, &loss2);
    cr_expect(loss2 == loss, "loss without cos/logits %.9g vs %.9g", loss2, loss);

    h_free(ctx, &bx), h_free(ctx, &bw), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &bz);
    h_free(ctx, &bc), h_free(ctx, &bgx), h_free(ctx, &bgw);
    double *all[] = {x, w, gx0, gw0, gx, gw, gxr, gwr, cs, csr, z, zr, dgx, dgw, ct};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(lab);
}

static void head_cases(size_t first, size_t last)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t i = first; i <= last; i++) {
        const fcl_margin_params *p = &MARGINS[i];
        head_case(ctx, p, 1, 7, 11, 1.0, 300 + 10 * i);
        head_case(ctx, p, 13, 7, 11, 1.0, 301 + 10 * i);
        head_case(ctx, p, 7, 13, 37, 0.5, 302 + 10 * i);
        head_case(ctx, p, 33, 128, 37, 1.0, 303 + 10 * i);
    }
    h_ctx_free(ctx);
}

Test(metric_loss, cosface_head_matches_reference) { head_cases(0, 1); }
Test(metric_loss, arcface_head_matches_reference) { head_cases(2, 4); }
Test(metric_loss, sphereface_head_matches_reference) { head_cases(5, 9); }
/* The GPU shape of the heads' row kernels (row norms, SphereFace's norm gradient) forced. */
Test(metric_loss, margin_heads_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); head_cases(0, 9); }
Test(metric_loss, margin_heads_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); head_cases(0, 9); }

typedef struct head_ud {
    const double *x, *w;
    const int *lab;
    size_t n, d, k;
    const fcl_margin_params *p;
} head_ud;

static void head_f(double *y, const double *unused, void *ud)
{
    (void)unused;
    const head_ud *u = ud;
    cr_assert(fcl_ref_margin_head_fwd(y, NULL, NULL, u->x, u->w, u->lab, u->n, u->d, u->k, u->p) == 0);
}

/* ArcFace's branch switch is a jump: skip an element whose +-h moves any target across it. */
static int head_kink(const double *xs, size_t i, double h, void *ud)
{
    const head_ud *u = ud;
    double sw = switch_point(u->p);
    if (isnan(sw))
        return 0;
    double *v = (double *)xs, x0 = v[i], *ct = h_alloc(u->n);
    int side[2][64] = {{0}};
    for (int s = 0; s < 2; s++) {
        v[i] = x0 + (s ? h : -h);
        target_cos(ct, u->x, u->w, u->lab, u->n, u->d);
        for (size_t r = 0; r < u->n && r < 64; r++)
            side[s][r] = ct[r] > sw;
    }
    v[i] = x0;
    free(ct);
    return memcmp(side[0], side[1], sizeof side[0]) != 0;
}

Test(metric_loss, margin_heads_reference_vs_finite_differences)
{
    for (size_t m = 0; m < N_MARGINS; m++) {
        const fcl_margin_params *p = &MARGINS[m];
        size_t n = 9, d = 7, k = 11;
        h_case("margin head FD %s s=%g m=%g lambda=%g n=%zu d=%zu k=%zu", kind_str(p), (double)p->s,
               (double)p->m, (double)p->lambda, n, d, k);
        double x[63], w[77], gx[63] = {0}, gw[77] = {0}, r = 0.8;
        int lab[9];
        head_inputs(x, w, lab, n, d, k, p, 500 + m);
        cr_assert(fcl_ref_margin_head_bwd(gx, gw, x, w, lab, n, d, k, p, r) == 0);
        head_ud u = {x, w, lab, n, d, k, p};
        h_fd fx = {.what = "head d/dx", .f = head_f, .kink = head_kink, .ud = &u, .x = x, .nx = n * d,
                   .ny = 1, .r = &r, .grad = gx, .seed = 7 + m};
        h_fd fw = fx;
        fw.what = "head d/dW", fw.x = w, fw.nx = k * d, fw.grad = gw;
        h_fd_check(&fx);
        h_fd_check(&fw);
    }
}

/* Hand-computed target logits: CosFace s (c - m); ArcFace s cos(acos(c) + m) above th and
 * s (c - sin(pi - m) m) below; SphereFace m = 2, lambda = 0: ||x|| psi with psi = cos(2 theta)
 * for theta < pi/2 and -cos(2 theta) - 2 beyond. */
Test(metric_loss, margin_targets_by_hand)
{
    double f, df, c = 0.6;
    fcl_margin_params cf = {FCL_MARGIN_COSFACE, 30.0f, 0.35f, 0, 0.0f, 0.0f};
    fcl_ref_margin_target(c, &cf, &f, &df);
    cr_expect(fabs(f - (c - 0.35f)) < 1e-12 && df == 1.0, "CosFace f %g df %g", f, df);
    fcl_margin_params af = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};
    double m = (double)af.m;
    fcl_ref_margin_target(c, &af, &f, &df);
    cr_expect(fabs(f - cos(acos(c) + m)) < 1e-12, "ArcFace f %g vs cos(theta + m) %g", f, cos(acos(c) + m));
    cr_expect(fabs(df - sin(acos(c) + m) / sin(acos(c))) < 1e-12, "ArcFace df %g", df);
    fcl_ref_margin_target(-0.95, &af, &f, &df);
    cr_expect(fabs(f - (-0.95 - sin(M_PI - m) * m)) < 1e-12 && df == 1.0, "ArcFace below th: f %g", f);
    af.easy_margin = 1;
    fcl_ref_margin_target(-0.2, &af, &f, &df);
    cr_expect(f == -0.2 && df == 1.0, "easy margin keeps negative cosines: %g", f);
    fcl_margin_params sf = {FCL_MARGIN_SPHEREFACE, 0.0f, 2.0f, 0, 0.0f, 0.0f};
    fcl_ref_margin_target(0.6, &sf, &f, &df);
    cr_expect(fabs(f - (2 * 0.36 - 1)) < 1e-12 && fabs(df - 2.4) < 1e-9, "SphereFace theta < pi/2: %g %g", f, df);
    fcl_ref_margin_target(-0.6, &sf, &f, &df);
    cr_expect(fabs(f - (-(2 * 0.36 - 1) - 2)) < 1e-12 && fabs(df - 2.4) < 1e-9, "SphereFace theta > pi/2: %g %g",
              f, df);
    sf.lambda = 3.0f;
    fcl_ref_margin_target(0.6, &sf, &f, &df);
    cr_expect(fabs(f - (3 * 0.6 + (2 * 0.36 - 1)) / 4) < 1e-12, "SphereFace lambda 3: %g", f);
}

Test(metric_loss, sphereface_lambda_schedule)
{
    fcl_sphereface_schedule s = {1000.0, 0.12, 1.0, 5.0};
    fcl_error err;
    float l;
    cr_assert_eq(fcl_sphereface_lambda(&l, &s, 0, &err), FCL_OK);
    cr_expect(l == 1000.0f, "iteration 0: %g", (double)l);
    cr_assert_eq(fcl_sphereface_lambda(&l, &s, 100, &err), FCL_OK);
    cr_expect(fabs(l - 1000.0 / 13.0) < 1e-3, "iteration 100: %g, want %g", (double)l, 1000.0 / 13.0);
    cr_assert_eq(fcl_sphereface_lambda(&l, &s, 100000, &err), FCL_OK);
    cr_expect(l == 5.0f, "late: the floor lambda_min: %g", (double)l);
    s.power = 2.0;
    cr_assert_eq(fcl_sphereface_lambda(&l, &s, 10, &err), FCL_OK);
    cr_expect(fabs(l - 1000.0 / (2.2 * 2.2)) < 1e-3, "power 2: %g", (double)l);
    cr_expect_eq(fcl_sphereface_lambda(&l, &s, -1, &err), FCL_ERR_INVALID_ARG, "negative iteration");
    s.base = 0.0;
    cr_expect_eq(fcl_sphereface_lambda(&l, &s, 1, &err), FCL_ERR_INVALID_ARG, "base 0");
    printf("  message: %s\n", err.msg);
}

/* ==== triplet ================================================================================ */

/* The mined triplets and their active (hinge > 0) flags at x, as one comparable signature. */
typedef struct trip_sig {
    int *t;
    size_t nt;
    char *active;
} trip_sig;

static trip_sig trip_signature(const double *x, const int *lab, size_t n, size_t d, const fcl_triplet_params *p)
{
    trip_sig s;
    double *dist = h_alloc(n * n);
    s.t = ialloc(3 * n * n);
    s.active = calloc(n * n + 1, 1);
    cr_assert(s.active != NULL);
    fcl_ref_triplet_dist(dist, x, n, d, p->squared);
    s.nt = fcl_ref_triplet_mine(s.t, dist, lab, n, p);
    for (size_t t = 0; t < s.nt; t++)
        s.active[t] = dist[s.t[3 * t] * n + s.t[3 * t + 1]] - dist[s.t[3 * t] * n + s.t[3 * t + 2]] +
                          (double)p->margin > 0.0;
    free(dist);
    return s;
}

static int trip_sig_eq(const trip_sig *a, const trip_sig *b)
{
    return a->nt == b->nt && !memcmp(a->t, b->t, 3 * a->nt * sizeof(int)) && !memcmp(a->active, b->active, a->nt);
}

static void trip_sig_free(trip_sig *s)
{
    free(s->t);
    free(s->active);
}

/* 1 when a perturbation of size eps (random direction) changes the mining or a hinge's side:
 * float rounding could then pick differently from the double reference. */
static int trip_fragile(const double *x, const int *lab, size_t n, size_t d, const fcl_triplet_params *p,
                        double eps, uint64_t seed)
{
    trip_sig s0 = trip_signature(x, lab, n, d, p);
    double *xp = h_alloc(n * d), *r = h_alloc(n * d);
    h_rand(r, n * d, seed, -1, 1);
    int fragile = 0;
    for (int sgn = -1; sgn <= 1 && !fragile; sgn += 2) {
        for (size_t i = 0; i < n * d; i++)
            xp[i] = x[i] + sgn * eps * r[i];
        trip_sig s1 = trip_signature(xp, lab, n, d, p);
        fragile = !trip_sig_eq(&s0, &s1);
        trip_sig_free(&s1);
    }
    trip_sig_free(&s0);
    free(xp);
    free(r);
    return fragile;
}

typedef struct trip_case {
    size_t n, d;
    int ids;                  /* identities; labels i % ids (or given) */
    fcl_triplet_mining mining;
    int squared;
    double margin, sigma;
    int unit;
} trip_case;

/* Runs one case; adds the reference's semi-hard picks and fallbacks to *semi / *fallback. */
static void triplet_case(fcl_ctx *ctx, const trip_case *c, const int *given_lab, uint64_t seed, size_t *semi_total,
                         size_t *fallback_total)
{
    fcl_triplet_params p = {c->mining, (float)c->margin, c->squared};
    h_case("triplet %s %s margin=%g n=%zu d=%zu ids=%d%s", c->mining ? "semi-hard" : "batch-hard",
           c->squared ? "squared" : "euclidean", c->margin, c->n, c->d, c->ids, c->unit ? " unit" : "");
    size_t n = c->n, d = c->d, nx = n * d, one = 1;
    double *x = h_alloc(nx), *g0 = h_alloc(nx), *g = h_alloc(nx), *gr = h_alloc(nx), loss, lossr;
    int *lab = ialloc(n);
    for (size_t i = 0; i < n; i++)
        lab[i] = given_lab ? given_lab[i] : (int)(i % (size_t)c->ids);
    int attempt = 0;
    do {
        cr_assert(attempt < 50, "no triplet batch away from mining decisions found");
        clustered(x, lab, n, d, c->ids, c->sigma, c->unit, seed + 1000 * (uint64_t)attempt);
        attempt++;
    } while (trip_fragile(x, lab, n, d, &p, 1e-5, seed + 7));
    h_rand_f32(g0, nx, seed + 3, -0.01, 0.01);
    /* what the reference mined: semi-hard picks vs fallbacks, active hinges */
    trip_sig s = trip_signature(x, lab, n, d, &p);
    double *dist = h_alloc(n * n);
    fcl_ref_triplet_dist(dist, x, n, d, p.squared);
    size_t semi = 0, active = 0;
    for (size_t t = 0; t < s.nt; t++) {
        double dp = dist[s.t[3 * t] * n + s.t[3 * t + 1]], dn = dist[s.t[3 * t] * n + s.t[3 * t + 2]];
        semi += dn > dp && dn < dp + c->margin;
        active += s.active[t] != 0;
    }
    printf("  %zu triplets, %zu with a semi-hard negative, %zu active\n", s.nt, semi, active);
    if (s.nt)
        cr_expect(active > 0, "no active triplet: the case would test nothing but zeros");
    if (c->mining == FCL_TRIPLET_SEMI_HARD) {
        *semi_total += semi;
        *fallback_total += s.nt - semi;
    }

    size_t sx[2] = {n, d};
    h_buf bx = h_upload(ctx, x, 2, sx), bl = upload_labels(ctx, lab, n), bloss = h_zeros(ctx, 1, &one);
    h_buf bg = h_upload(ctx, g0, 2, sx);
    h_name(&bloss, "loss"), h_name(&bg, "dx");
    H_OK(ctx, fcl_triplet_loss_fwd(ctx, &bloss.t, &bx.t, &bl.t, &p));
    H_OK(ctx, fcl_triplet_loss_bwd(ctx, &bg.t, &bx.t, &bl.t, &p, 1.5f));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &bg, g);
    h_check_guards(ctx, &bx);
    cr_assert(fcl_ref_triplet_loss_fwd(&lossr, x, lab, n, d, &p) == 0);
    cr_assert(fcl_ref_triplet_loss_bwd(gr, x, lab, n, d, &p, 1.5) == 0);
    h_expect_close("triplet loss", &loss, &lossr, 1, H_TOL_FWD);
    double *dg = h_delta(g, g0, nx);
    h_expect_close("triplet dx", dg, gr, nx, H_TOL_BWD);
    h_free(ctx, &bx), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &bg);
    trip_sig_free(&s);
    free(x), free(g0), free(g), free(gr), free(dg), free(dist), free(lab);
}

Test(metric_loss, triplet_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    static const trip_case cases[] = {
        /* P x K batches of unit embeddings (FaceNet) and raw ones (Hermans) */
        {12, 13, 4, FCL_TRIPLET_BATCH_HARD, 1, 0.5, 0.9, 1},
        {12, 13, 4, FCL_TRIPLET_SEMI_HARD, 1, 0.5, 0.9, 1},
        {20, 128, 5, FCL_TRIPLET_BATCH_HARD, 0, 2.0, 3.0, 0},
        {20, 128, 5, FCL_TRIPLET_SEMI_HARD, 0, 2.0, 3.0, 0},
        {15, 7, 3, FCL_TRIPLET_SEMI_HARD, 1, 0.2, 1.2, 1},
        {15, 7, 3, FCL_TRIPLET_BATCH_HARD, 0, 0.5, 2.5, 0},
        {1, 7, 1, FCL_TRIPLET_BATCH_HARD, 1, 0.2, 0.5, 1},    /* no triplet: loss 0 */
    };
    size_t semi = 0, fallback = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        triplet_case(ctx, &cases[i], NULL, 600 + 10 * i, &semi, &fallback);
    /* irregular batches: an identity with one image (no positive), odd n; one identity only */
    static const int lab9[9] = {3, 1, 3, 7, 1, 1, 3, 9, 7};
    trip_case irr = {9, 13, 10, FCL_TRIPLET_SEMI_HARD, 1, 0.3, 1.5, 1};
    triplet_case(ctx, &irr, lab9, 700, &semi, &fallback);
    irr.mining = FCL_TRIPLET_BATCH_HARD, irr.squared = 0;
    triplet_case(ctx, &irr, lab9, 710, &semi, &fallback);
    static const int same5[5] = {2, 2, 2, 2, 2};
    trip_case all_same = {5, 7, 3, FCL_TRIPLET_BATCH_HARD, 1, 0.3, 0.8, 1};
    triplet_case(ctx, &all_same, same5, 720, &semi, &fallback);
    /* semi-hard mining took both of its paths somewhere */
    printf("  semi-hard mining: %zu semi-hard negatives, %zu hardest-negative fallbacks\n", semi, fallback);
    cr_expect(semi > 0 && fallback > 0, "semi-hard picks %zu, fallbacks %zu: both paths must run", semi, fallback);
    h_ctx_free(ctx);
}

/* Mining on a line, worked out by hand (squared = 0, margin 1): x = 0, 1, 3, 0.5, 1.5 with
 * labels A A B B A.
 *   batch-hard: anchor 0: hardest pos 4 (1.5), hardest neg 3 (0.5): 1.5 - 0.5 + 1 = 2
 *               anchor 1: pos {0: 1, 4: 0.5} -> 0 (1), neg {2: 2, 3: 0.5} -> 3: 1 - 0.5 + 1 = 1.5
 *               anchor 2: pos 3 (2.5), neg {0: 3, 1: 2, 4: 1.5} -> 4: 2.5 - 1.5 + 1 = 2
 *               anchor 3: pos 2 (2.5), neg {0: .5, 1: .5, 4: 1} -> 0 (tie with 1: lowest index):
 *                         2.5 - 0.5 + 1 = 3
 *               anchor 4: pos {0: 1.5, 1: 0.5} -> 0, neg {2: 1.5, 3: 1} -> 3: 1.5 - 1 + 1 = 1.5
 *               mean = (2 + 1.5 + 2 + 3 + 1.5) / 5 = 2
 *   semi-hard (every (a, p); semi-hard n: d_ap < d_an < d_ap + 1, else the hardest negative):
 *     (0,1) dp 1: negs 3 (.5), 2 (3): none in (1, 2) -> hardest 3: 1 - .5 + 1 = 1.5
 *     (0,4) dp 1.5: none in (1.5, 2.5) -> 3: 1.5 - .5 + 1 = 2
 *     (1,0) dp 1: negs 2 (2), 3 (.5): none in (1, 2) -> 3: 1.5
 *     (1,4) dp .5: 2 (2) no, 3 (.5) no (not >) -> 3: .5 - .5 + 1 = 1
 *     (2,3) dp 2.5: negs 0 (3), 1 (2), 4 (1.5): 0 in (2.5, 3.5) -> 0: 2.5 - 3 + 1 = .5
 *     (3,2) dp 2.5: negs 0 (.5), 1 (.5), 4 (1): none -> 0 (tie, lowest): 2.5 - .5 + 1 = 3
 *     (4,0) dp 1.5: negs 2 (1.5) not >, 3 (1) -> 3: 1.5 - 1 + 1 = 1.5
 *     (4,1) dp .5: 2 (1.5) no (not < 1.5), 3 (1) in (.5, 1.5) -> 3: .5 - 1 + 1 = .5
 *     mean = (1.5 + 2 + 1.5 + 1 + .5 + 3 + 1.5 + .5) / 8 = 11.5 / 8 */
Test(metric_loss, triplet_mining_by_hand)
{
    fcl_ctx *ctx = h_ctx();
    h_case("triplet mining by hand");
    double x[5] = {0, 1, 3, 0.5, 1.5}, loss, lossr;
    int lab[5] = {0, 0, 1, 1, 0};
    size_t n = 5, sx[2] = {5, 1}, one = 1;
    h_buf bx = h_upload(ctx, x, 2, sx), bl = upload_labels(ctx, lab, n), bloss = h_zeros(ctx, 1, &one);
    static const double want[2] = {2.0, 11.5 / 8.0};
    for (int m = 0; m < 2; m++) {
        fcl_triplet_params p = {m ? FCL_TRIPLET_SEMI_HARD : FCL_TRIPLET_BATCH_HARD, 1.0f, 0};
        H_OK(ctx, fcl_triplet_loss_fwd(ctx, &bloss.t, &bx.t, &bl.t, &p));
        h_download(ctx, &bloss, &loss);
        cr_assert(fcl_ref_triplet_loss_fwd(&lossr, x, lab, n, 1, &p) == 0);
        h_expect_close(m ? "semi-hard (device, hand)" : "batch-hard (device, hand)", &loss, &want[m], 1, 1e-6);
        h_expect_close(m ? "semi-hard (reference, hand)" : "batch-hard (reference, hand)", &lossr, &want[m], 1,
                       1e-12);
    }
    h_free(ctx, &bx), h_free(ctx, &bl), h_free(ctx, &bloss);
    h_ctx_free(ctx);
}

typedef struct trip_ud {
    const double *x;
    const int *lab;
    size_t n, d;
    const fcl_triplet_params *p;
} trip_ud;

static void trip_f(double *y, const double *x, void *ud)
{
    const trip_ud *u = ud;
    cr_assert(fcl_ref_triplet_loss_fwd(y, x, u->lab, u->n, u->d, u->p) == 0);
}

/* Skip an element whose +-h changes the mined triplets or a hinge's side. */
static int trip_kink(const double *xs, size_t i, double h, void *ud)
{
    const trip_ud *u = ud;
    double *v = (double *)xs, x0 = v[i];
    v[i] = x0 - h;
    trip_sig a = trip_signature(v, u->lab, u->n, u->d, u->p);
    v[i] = x0 + h;
    trip_sig b = trip_signature(v, u->lab, u->n, u->d, u->p);
    v[i] = x0;
    int k = !trip_sig_eq(&a, &b);
    trip_sig_free(&a);
    trip_sig_free(&b);
    return k;
}

Test(metric_loss, triplet_reference_vs_finite_differences)
{
    static const int lab[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 2};
    for (int mining = 0; mining < 2; mining++)
        for (int squared = 0; squared < 2; squared++) {
            fcl_triplet_params p = {(fcl_triplet_mining)mining, squared ? 0.5f : 0.7f, squared};
            size_t n = 10, d = 7;
            h_case("triplet FD %s %s n=%zu d=%zu", mining ? "semi-hard" : "batch-hard",
                   squared ? "squared" : "euclidean", n, d);
            double x[70], g[70] = {0}, r = 1.1;
            clustered(x, lab, n, d, 3, 0.9, 1, 40 + 2 * (uint64_t)mining + (uint64_t)squared);
            cr_assert(fcl_ref_triplet_loss_bwd(g, x, lab, n, d, &p, r) == 0);
            trip_sig sg = trip_signature(x, lab, n, d, &p);
            size_t active = 0;
            for (size_t t = 0; t < sg.nt; t++)
                active += sg.active[t] != 0;
            printf("  %zu triplets, %zu active\n", sg.nt, active);
            cr_expect(active > 0, "no active triplet");
            trip_sig_free(&sg);
            trip_ud u = {x, lab, n, d, &p};
            h_fd f = {.what = "triplet d/dx", .f = trip_f, .kink = trip_kink, .ud = &u, .x = x, .nx = n * d,
                      .ny = 1, .r = &r, .grad = g, .seed = 11, .samples = 70};
            h_fd_check(&f);
        }
}

/* ==== contrastive ============================================================================ */

static void contrastive_case(fcl_ctx *ctx, size_t n, size_t d, double margin, uint64_t seed)
{
    h_case("contrastive n=%zu d=%zu margin=%g", n, d, margin);
    size_t nx = n * d, one = 1, sx[2] = {n, d};
    double *a = h_alloc(nx), *b = h_alloc(nx), *y = h_alloc(n), *ga0 = h_alloc(nx), *gb0 = h_alloc(nx);
    double *ga = h_alloc(nx), *gb = h_alloc(nx), *gar = h_alloc(nx), *gbr = h_alloc(nx), loss, lossr;
    h_rand_f32(a, nx, seed, -1, 1);
    h_rand_f32(b, nx, seed + 1, -1, 1);
    h_rand_f32(ga0, nx, seed + 2, -0.01, 0.01);
    h_rand_f32(gb0, nx, seed + 3, -0.01, 0.01);
    size_t inside = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = (double)(i % 3 == 0);
        if (i % 4 == 1)   /* a close pair: inside the margin */
            for (size_t t = 0; t < d; t++)
                b[i * d + t] = (float)(a[i * d + t] + 0.1 * b[i * d + t] / sqrt((double)d));
        double dd = 0;
        for (size_t t = 0; t < d; t++)
            dd += (a[i * d + t] - b[i * d + t]) * (a[i * d + t] - b[i * d + t]);
        inside += sqrt(dd) < margin;
        cr_assert(fabs(sqrt(dd) - margin) > 1e-4, "pair %zu sits on the margin", i);
    }
    printf("  %zu of %zu pairs inside the margin\n", inside, n);
    h_buf ba = h_upload(ctx, a, 2, sx), bb = h_upload(ctx, b, 2, sx), by = h_upload(ctx, y, 1, &n);
    h_buf bloss = h_zeros(ctx, 1, &one), bga = h_upload(ctx, ga0, 2, sx), bgb = h_upload(ctx, gb0, 2, sx);
    h_name(&bloss, "loss"), h_name(&bga, "da"), h_name(&bgb, "db");
    fcl_contrastive_params p = {(float)margin};
    H_OK(ctx, fcl_contrastive_loss_fwd(ctx, &bloss.t, &ba.t, &bb.t, &by.t, &p));
    H_OK(ctx, fcl_contrastive_loss_bwd(ctx, &bga.t, &bgb.t, &ba.t, &bb.t, &by.t, &p, 0.9f));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &bga, ga);
    h_download(ctx, &bgb, gb);
    fcl_ref_contrastive_loss_fwd(&lossr, a, b, y, n, d, &p);
    fcl_ref_contrastive_loss_bwd(gar, gbr, a, b, y, n, d, &p, 0.9);
    h_expect_close("contrastive loss", &loss, &lossr, 1, H_TOL_FWD);
    double *dga = h_delta(ga, ga0, nx), *dgb = h_delta(gb, gb0, nx);
    h_expect_close("contrastive da", dga, gar, nx, H_TOL_BWD);
    h_expect_close("contrastive db", dgb, gbr, nx, H_TOL_BWD);
    /* da only */
    H_OK(ctx, fcl_contrastive_loss_bwd(ctx, &bga.t, NULL, &ba.t, &bb.t, &by.t, &p, 0.9f));
    double *ga2 = h_alloc(nx), *dga2 = NULL;
    h_download(ctx, &bga, ga2);
    dga2 = h_delta(ga2, ga, nx);
    h_expect_close("contrastive da (db NULL)", dga2, gar, nx, H_TOL_BWD);
    h_free(ctx, &ba), h_free(ctx, &bb), h_free(ctx, &by), h_free(ctx, &bloss), h_free(ctx, &bga);
    h_free(ctx, &bgb);
    double *all[] = {a, b, y, ga0, gb0, ga, gb, gar, gbr, dga, dgb, ga2, dga2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static void contrastive_matches_reference_body(void)
{
    fcl_ctx *ctx = h_ctx();
    contrastive_case(ctx, 1, 7, 1.0, 1);
    contrastive_case(ctx, 7, 13, 2.0, 2);
    contrastive_case(ctx, 33, 128, 8.0, 3);
    contrastive_case(ctx, 13, 7, 1.5, 4);
    h_ctx_free(ctx);
}
Test(metric_loss, contrastive_matches_reference) { contrastive_matches_reference_body(); }
Test(metric_loss, contrastive_matches_reference_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); contrastive_matches_reference_body(); }
Test(metric_loss, contrastive_matches_reference_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); contrastive_matches_reference_body(); }

typedef struct con_ud {
    const double *a, *b, *y;
    size_t n, d;
    const fcl_contrastive_params *p;
} con_ud;

static void con_f(double *out, const double *unused, void *ud)
{
    (void)unused;
    const con_ud *u = ud;
    fcl_ref_contrastive_loss_fwd(out, u->a, u->b, u->y, u->n, u->d, u->p);
}

Test(metric_loss, contrastive_reference_vs_finite_differences)
{
    size_t n = 8, d = 5;
    h_case("contrastive FD n=%zu d=%zu", n, d);
    double a[40], b[40], y[8] = {1, 0, 0, 1, 0, 0, 1, 0}, ga[40] = {0}, gb[40] = {0}, r = 1.2;
    h_rand(a, n * d, 1, -1, 1);
    h_rand(b, n * d, 2, -1, 1);
    fcl_contrastive_params p = {1.6f};
    for (size_t i = 0; i < n; i++) {
        double dd = 0;
        for (size_t t = 0; t < d; t++)
            dd += (a[i * d + t] - b[i * d + t]) * (a[i * d + t] - b[i * d + t]);
        printf("  pair %zu: y %g d %.4f\n", i, y[i], sqrt(dd));
        cr_assert(fabs(sqrt(dd) - 1.6) > 1e-3, "pair %zu is at the hinge", i);
    }
    fcl_ref_contrastive_loss_bwd(ga, gb, a, b, y, n, d, &p, r);
    con_ud u = {a, b, y, n, d, &p};
    h_fd fa = {.what = "contrastive d/da", .f = con_f, .ud = &u, .x = a, .nx = n * d, .ny = 1, .r = &r,
               .grad = ga, .seed = 5};
    h_fd fb = fa;
    fb.what = "contrastive d/db", fb.x = b, fb.grad = gb;
    h_fd_check(&fa);
    h_fd_check(&fb);
}

/* ==== histogram ============================================================================== */

/* 1 when some pair's similarity is within eps of a bin node (float could bin it differently). */
static int hist_fragile(const double *x, size_t n, size_t d, int bins, double eps)
{
    double *s = h_alloc(n * n), delta_ = 2.0 / (bins - 1);
    fcl_ref_cosine_sim_fwd(s, x, x, n, n, d, L2EPS);
    int fragile = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double u = (s[i * n + j] + 1.0) / delta_;
            fragile |= fabs(u - floor(u + 0.5)) * delta_ < eps;
        }
    free(s);
    return fragile;
}

static void histogram_case(fcl_ctx *ctx, size_t n, size_t d, int ids, double sigma, int bins, const int *given,
                           uint64_t seed)
{
    h_case("histogram n=%zu d=%zu ids=%d sigma=%g bins=%d", n, d, ids, sigma, bins);
    size_t nx = n * d, one = 1, sx[2] = {n, d};
    double *x = h_alloc(nx), *g0 = h_alloc(nx), *g = h_alloc(nx), *gr = h_alloc(nx), loss, lossr;
    int *lab = ialloc(n);
    for (size_t i = 0; i < n; i++)
        lab[i] = given ? given[i] : (int)(i % (size_t)ids);
    int attempt = 0;
    do {
        cr_assert(attempt < 50, "no batch away from the bin nodes found");
        clustered(x, lab, n, d, ids, sigma, 0, seed + 100 * (uint64_t)attempt++);
    } while (hist_fragile(x, n, d, bins, 1e-5));
    h_rand_f32(g0, nx, seed + 1, -0.01, 0.01);
    h_buf bx = h_upload(ctx, x, 2, sx), bl = upload_labels(ctx, lab, n), bloss = h_zeros(ctx, 1, &one);
    h_buf bg = h_upload(ctx, g0, 2, sx);
    h_name(&bloss, "loss"), h_name(&bg, "dx");
    fcl_histogram_params p = {bins};
    H_OK(ctx, fcl_histogram_loss_fwd(ctx, &bloss.t, &bx.t, &bl.t, &p));
    H_OK(ctx, fcl_histogram_loss_bwd(ctx, &bg.t, &bx.t, &bl.t, &p, 2.0f));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &bg, g);
    cr_assert(fcl_ref_histogram_loss_fwd(&lossr, x, lab, n, d, &p) == 0);
    cr_assert(fcl_ref_histogram_loss_bwd(gr, x, lab, n, d, &p, 2.0) == 0);
    printf("  loss %.6g (reference %.6g)\n", loss, lossr);
    int pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (lab[i] == lab[j])
                pos++;
            else
                neg++;
    if (pos && neg)   /* the data overlap: a zero loss would leave the gradient untested */
        cr_expect(lossr > 0.0, "positive and negative similarities do not overlap");
    h_expect_close("histogram loss", &loss, &lossr, 1, H_TOL_FWD);
    double *dg = h_delta(g, g0, nx);
    h_expect_close("histogram dx", dg, gr, nx, H_TOL_BWD);
    h_free(ctx, &bx), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &bg);
    free(x), free(g0), free(g), free(gr), free(dg), free(lab);
}

Test(metric_loss, histogram_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    histogram_case(ctx, 12, 7, 4, 1.0, 11, NULL, 1);
    histogram_case(ctx, 15, 13, 5, 1.0, 25, NULL, 2);
    histogram_case(ctx, 33, 128, 6, 3.0, 101, NULL, 3);
    histogram_case(ctx, 9, 13, 3, 1.0, 2, NULL, 4);      /* two bins: nodes at -1 and 1 */
    static const int same[6] = {4, 4, 4, 4, 4, 4};      /* no negative pair: loss 0, no gradient */
    histogram_case(ctx, 6, 7, 5, 1.0, 11, same, 5);
    histogram_case(ctx, 1, 7, 1, 1.0, 11, NULL, 6);      /* no pair at all */
    h_ctx_free(ctx);
}

typedef struct hist_ud {
    const int *lab;
    size_t n, d;
    int bins;
} hist_ud;

static void hist_f(double *y, const double *x, void *ud)
{
    const hist_ud *u = ud;
    fcl_histogram_params p = {u->bins};
    cr_assert(fcl_ref_histogram_loss_fwd(y, x, u->lab, u->n, u->d, &p) == 0);
}

/* Skip an element whose +-h moves a pair's similarity across a bin node. */
static int hist_kink(const double *xs, size_t i, double h, void *ud)
{
    const hist_ud *u = ud;
    size_t n = u->n;
    double *v = (double *)xs, x0 = v[i], *s = h_alloc(2 * n * n);
    for (int k = 0; k < 2; k++) {
        v[i] = x0 + (k ? h : -h);
        fcl_ref_cosine_sim_fwd(s + k * n * n, v, v, n, n, u->d, L2EPS);
    }
    v[i] = x0;
    int kink = 0;
    for (size_t p = 0; p < n * n; p++)
        kink |= fcl_ref_histogram_bin(s[p], u->bins) != fcl_ref_histogram_bin(s[n * n + p], u->bins);
    free(s);
    return kink;
}

Test(metric_loss, histogram_reference_vs_finite_differences)
{
    static const int lab[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 1};
    static const int bins[2] = {7, 31};
    for (int b = 0; b < 2; b++) {
        size_t n = 10, d = 6;
        h_case("histogram FD n=%zu d=%zu bins=%d", n, d, bins[b]);
        double x[60], g[60] = {0}, r = 1.0;
        clustered(x, lab, n, d, 3, 1.0, 0, 80 + (uint64_t)b);
        fcl_histogram_params p = {bins[b]};
        cr_assert(fcl_ref_histogram_loss_bwd(g, x, lab, n, d, &p, r) == 0);
        hist_ud u = {lab, n, d, bins[b]};
        h_fd f = {.what = "histogram d/dx", .f = hist_f, .kink = hist_kink, .ud = &u, .x = x, .nx = n * d,
                  .ny = 1, .r = &r, .grad = g, .seed = 13, .samples = 60};
        h_fd_check(&f);
    }
}

/* ==== determinism and bad input ============================================================== */

/* The same call twice gives the same bits (fixed-order reductions, no atomics). */
Test(metric_loss, backward_passes_are_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    h_case("determinism: ArcFace head, semi-hard triplet, histogram backward twice");
    size_t n = 24, d = 32, k = 37, sx[2] = {n, d}, sw[2] = {k, d}, sz[2] = {n, k}, one = 1;
    double *x = h_alloc(n * d), *w = h_alloc(k * d), *r1 = h_alloc(k * d), *r2 = h_alloc(k * d);
    int *lab = ialloc(n);
    for (size_t i = 0; i < n; i++)
        lab[i] = (int)(i % 6);
    clustered(x, lab, n, d, 6, 0.8, 1, 3);
    h_rand_f32(w, k * d, 4, -1, 1);
    h_buf bx = h_upload(ctx, x, 2, sx), bw = h_upload(ctx, w, 2, sw), bl = upload_labels(ctx, lab, n);
    h_buf bz = h_zeros(ctx, 2, sz), bc = h_zeros(ctx, 2, sz), bloss = h_zeros(ctx, 1, &one);
    fcl_margin_params mp = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};
    fcl_triplet_params tp = {FCL_TRIPLET_SEMI_HARD, 0.3f, 1};
    fcl_histogram_params hp = {51};
    H_OK(ctx, fcl_margin_head_fwd(ctx, &bloss.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, &mp));
    for (int what = 0; what < 3; what++) {
        double *out[2] = {r1, r2};
        size_t cnt = what == 0 ? k * d : n * d;
        for (int rep = 0; rep < 2; rep++) {
            h_buf g = what == 0 ? h_zeros(ctx, 2, sw) : h_zeros(ctx, 2, sx);
            if (what == 0)
                H_OK(ctx, fcl_margin_head_bwd(ctx, NULL, &g.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, &mp, 1.0f));
            else if (what == 1)
                H_OK(ctx, fcl_triplet_loss_bwd(ctx, &g.t, &bx.t, &bl.t, &tp, 1.0f));
            else
                H_OK(ctx, fcl_histogram_loss_bwd(ctx, &g.t, &bx.t, &bl.t, &hp, 1.0f));
            h_download(ctx, &g, out[rep]);
            h_free(ctx, &g);
        }
        cr_expect(memcmp(r1, r2, cnt * sizeof *r1) == 0, "backward %d differs between two runs", what);
    }
    h_free(ctx, &bx), h_free(ctx, &bw), h_free(ctx, &bl), h_free(ctx, &bz), h_free(ctx, &bc);
    h_free(ctx, &bloss);
    free(x), free(w), free(r1), free(r2), free(lab);
    h_ctx_free(ctx);
}

static void expect_status(fcl_ctx *ctx, fcl_status st, fcl_status want, const char *what, const char *needle)
{
    cr_expect_eq(st, want, "%s: got %s, want %s", what, fcl_status_name(st), fcl_status_name(want));
    printf("  %s -> %s: %s\n", what, fcl_status_name(st), fcl_ctx_errmsg(ctx));
    if (needle)
        cr_expect(strstr(fcl_ctx_errmsg(ctx), needle) != NULL, "%s: message lacks \"%s\"", what, needle);
}

Test(metric_loss, bad_input_is_rejected)
{
    fcl_ctx *ctx = h_ctx();
    h_case("metric losses: bad input");
    size_t s47[2] = {4, 7}, s48[2] = {4, 8}, s37[2] = {3, 7}, s117[2] = {11, 7}, s411[2] = {4, 11}, n4 = 4, one = 1;
    h_buf x = h_zeros(ctx, 2, s47), x8 = h_zeros(ctx, 2, s48), x3 = h_zeros(ctx, 2, s37);
    h_buf w = h_zeros(ctx, 2, s117), z = h_zeros(ctx, 2, s411), c = h_zeros(ctx, 2, s411);
    h_buf lab = h_zeros(ctx, 1, &n4), loss = h_zeros(ctx, 1, &one), xn = h_zeros(ctx, 1, &n4);
    fcl_margin_params mp = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x8.t, &w.t, &lab.t, &mp), FCL_ERR_SHAPE,
                  "head: x rows of 8 vs W rows of 7", "fcl_margin_head_fwd");
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x3.t, &w.t, &lab.t, &mp), FCL_ERR_SHAPE,
                  "head: 4 labels for 3 rows", "labels");
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x.t, &w.t, &lab.t, NULL),
                  FCL_ERR_INVALID_ARG, "head: NULL params", "NULL");
    mp.m = 3.5f;
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x.t, &w.t, &lab.t, &mp),
                  FCL_ERR_INVALID_ARG, "ArcFace m = 3.5", "ArcFace");
    mp.m = 0.5f, mp.s = 0.0f;
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x.t, &w.t, &lab.t, &mp),
                  FCL_ERR_INVALID_ARG, "ArcFace s = 0", "scale");
    fcl_margin_params sp = {FCL_MARGIN_SPHEREFACE, 0.0f, 2.5f, 0, 0.0f, 0.0f};
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x.t, &w.t, &lab.t, &sp),
                  FCL_ERR_INVALID_ARG, "SphereFace m = 2.5", "integer");
    sp.m = 4.0f, sp.lambda = -1.0f;
    expect_status(ctx, fcl_margin_head_fwd(ctx, &loss.t, &z.t, &c.t, &x.t, &w.t, &lab.t, &sp),
                  FCL_ERR_INVALID_ARG, "SphereFace lambda -1", "lambda");
    sp.lambda = 5.0f;
    fcl_error err;
    sp.kind = (fcl_margin_kind)9;
    cr_expect_eq(fcl_margin_check(&sp, &err), FCL_ERR_INVALID_ARG, "kind 9");
    printf("  fcl_margin_check(kind 9): %s\n", err.msg);
    sp.kind = FCL_MARGIN_SPHEREFACE;
    cr_expect_eq(fcl_margin_check(&sp, &err), FCL_OK, "SphereFace m 4 lambda 5: %s", err.msg);
    expect_status(ctx, fcl_margin_logits_fwd(ctx, &z.t, &c.t, &lab.t, NULL, &sp), FCL_ERR_INVALID_ARG,
                  "SphereFace without xnorm", "xnorm");
    fcl_margin_params cp = {FCL_MARGIN_COSFACE, 30.0f, 0.35f, 0, 0.0f, 0.0f};
    expect_status(ctx, fcl_margin_logits_fwd(ctx, &z.t, &c.t, &lab.t, &xn.t, &cp), FCL_ERR_INVALID_ARG,
                  "CosFace with xnorm", "xnorm");
    expect_status(ctx, fcl_margin_head_bwd(ctx, &x.t, NULL, &z.t, &c.t, &x.t, &w.t, &lab.t, &cp, 1.0f),
                  FCL_ERR_INVALID_ARG, "head: dx is x", "overlaps");
    expect_status(ctx, fcl_margin_head_bwd(ctx, &x3.t, NULL, &z.t, &c.t, &x.t, &w.t, &lab.t, &cp, 1.0f),
                  FCL_ERR_SHAPE, "head: dx of 3 rows", "dx");

    expect_status(ctx, fcl_center_loss_fwd(ctx, &loss.t, &x.t, &z.t, &lab.t), FCL_ERR_SHAPE,
                  "center: centers rows of 11 vs x rows of 7", "centers");
    expect_status(ctx, fcl_center_update(ctx, &w.t, &x.t, &lab.t, -0.5f), FCL_ERR_INVALID_ARG,
                  "center update alpha -0.5", "alpha");
    expect_status(ctx, fcl_center_loss_bwd(ctx, &w.t, NULL, &x.t, &w.t, &lab.t, 1.0f), FCL_ERR_SHAPE,
                  "center dx [11, 7] for x [4, 7]", "dx");

    fcl_triplet_params tp = {FCL_TRIPLET_BATCH_HARD, 0.0f, 1};
    expect_status(ctx, fcl_triplet_loss_fwd(ctx, &loss.t, &x.t, &lab.t, &tp), FCL_ERR_INVALID_ARG,
                  "triplet margin 0", "margin");
    tp.margin = 0.2f, tp.mining = (fcl_triplet_mining)7;
    expect_status(ctx, fcl_triplet_loss_fwd(ctx, &loss.t, &x.t, &lab.t, &tp), FCL_ERR_INVALID_ARG,
                  "triplet mining 7", "mining");
    tp.mining = FCL_TRIPLET_SEMI_HARD;
    expect_status(ctx, fcl_triplet_loss_bwd(ctx, &x.t, &x.t, &lab.t, &tp, 1.0f), FCL_ERR_INVALID_ARG,
                  "triplet dx is x", "overlaps");
    expect_status(ctx, fcl_triplet_loss_fwd(ctx, &loss.t, &x3.t, &lab.t, &tp), FCL_ERR_SHAPE,
                  "triplet 4 labels for 3 rows", "labels");

    fcl_contrastive_params cn = {1.0f};
    expect_status(ctx, fcl_contrastive_loss_fwd(ctx, &loss.t, &x.t, &x8.t, &lab.t, &cn), FCL_ERR_SHAPE,
                  "contrastive a [4, 7] b [4, 8]", "b");
    cn.margin = NAN;
    expect_status(ctx, fcl_contrastive_loss_fwd(ctx, &loss.t, &x.t, &x.t, &lab.t, &cn), FCL_ERR_INVALID_ARG,
                  "contrastive margin NaN", "margin");

    fcl_histogram_params hp = {1};
    expect_status(ctx, fcl_histogram_loss_fwd(ctx, &loss.t, &x.t, &lab.t, &hp), FCL_ERR_INVALID_ARG,
                  "histogram 1 bin", "bins");
    hp.bins = 11;
    expect_status(ctx, fcl_histogram_loss_fwd(ctx, &x.t, &x.t, &lab.t, &hp), FCL_ERR_INVALID_ARG,
                  "histogram loss is x", "overlaps");

    h_buf *all[] = {&x, &x8, &x3, &w, &z, &c, &lab, &loss, &xn};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        h_free(ctx, all[i]);
    h_ctx_free(ctx);
}

/* Labels that are not class indices: NaN rows, no out-of-bounds access (guards intact). */
static void bad_labels_give_nan_rows_body(void)
{
    fcl_ctx *ctx = h_ctx();
    h_case("center loss and margin head with bad labels");
    size_t n = 3, d = 5, k = 4, sx[2] = {3, 5}, sw[2] = {4, 5}, sz[2] = {3, 4}, one = 1;
    double x[15], w[20], lab[3] = {1, 4, -1}, loss, dx[15], z[12];
    h_rand_f32(x, n * d, 1, -1, 1);
    h_rand_f32(w, k * d, 2, -1, 1);
    h_buf bx = h_upload(ctx, x, 2, sx), bw = h_upload(ctx, w, 2, sw), bl = h_upload(ctx, lab, 1, &n);
    h_buf bloss = h_zeros(ctx, 1, &one), bdx = h_zeros(ctx, 2, sx), bz = h_zeros(ctx, 2, sz), bc = h_zeros(ctx, 2, sz);
    H_OK(ctx, fcl_center_loss_fwd(ctx, &bloss.t, &bx.t, &bw.t, &bl.t));
    h_download(ctx, &bloss, &loss);
    cr_expect(isnan(loss), "center loss with bad labels: %g", loss);
    H_OK(ctx, fcl_center_loss_bwd(ctx, &bdx.t, NULL, &bx.t, &bw.t, &bl.t, 1.0f));
    h_download(ctx, &bdx, dx);
    for (size_t t = 0; t < d; t++)
        cr_expect(isfinite(dx[t]) && isnan(dx[d + t]) && isnan(dx[2 * d + t]), "center dx rows");
    H_OK(ctx, fcl_center_update(ctx, &bw.t, &bx.t, &bl.t, 0.5f));
    h_check_guards(ctx, &bw);
    fcl_margin_params mp = {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f};
    H_OK(ctx, fcl_margin_head_fwd(ctx, &bloss.t, &bz.t, &bc.t, &bx.t, &bw.t, &bl.t, &mp));
    h_download(ctx, &bz, z);
    for (size_t j = 0; j < k; j++)
        cr_expect(isfinite(z[j]) && isnan(z[k + j]) && isnan(z[2 * k + j]), "logit rows");
    h_free(ctx, &bx), h_free(ctx, &bw), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &bdx);
    h_free(ctx, &bz), h_free(ctx, &bc);
    h_ctx_free(ctx);
}
Test(metric_loss, bad_labels_give_nan_rows) { bad_labels_give_nan_rows_body(); }
Test(metric_loss, bad_labels_give_nan_rows_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); bad_labels_give_nan_rows_body(); }
Test(metric_loss, bad_labels_give_nan_rows_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); bad_labels_give_nan_rows_body(); }
