/* tests/test_ops_loss.c: cross-entropy, log-softmax, L2 normalisation, cosine similarity: OpenCL vs reference, FD, bad input. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_loss.h>

#include "helpers/harness.h"
#include "ref/ref_loss.h"

/* Random values already rounded to float, so device and reference see the same inputs. */
static void frand(double *x, size_t n, uint64_t seed, double lo, double hi)
{
    h_rand(x, n, seed, lo, hi);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)x[i];
}

static double *delta(const double *got, const double *before, size_t n)
{
    double *d = h_alloc(n);
    for (size_t i = 0; i < n; i++)
        d[i] = got[i] - before[i];
    return d;
}

/* ---- cross-entropy ------------------------------------------------------------------------------ */

typedef struct xent_case {
    size_t n, k;
    double eps, dloss;
    double lo, hi;   /* logit range */
} xent_case;

static void xent_case_run(fcl_ctx *ctx, const xent_case *c, uint64_t seed)
{
    h_case("softmax xent n=%zu k=%zu eps=%.2f dloss=%.2f logits [%g, %g)", c->n, c->k, c->eps, c->dloss,
           c->lo, c->hi);
    size_t nz = c->n * c->k;
    double *z = h_alloc(nz), *lab = h_alloc(c->n), *g0 = h_alloc(nz), *g = h_alloc(nz), *gr = h_alloc(nz);
    double *rl = h_alloc(c->n), *rlr = h_alloc(c->n), loss, lossr;
    int *labi = malloc(c->n * sizeof *labi);
    cr_assert(labi != NULL);
    frand(z, nz, seed, c->lo, c->hi);
    frand(g0, nz, seed + 1, -0.01, 0.01);
    h_rand(lab, c->n, seed + 2, 0, (double)c->k);
    for (size_t i = 0; i < c->n; i++) {
        labi[i] = (int)lab[i];
        lab[i] = labi[i];
    }
    size_t sz[2] = {c->n, c->k}, one = 1;
    h_buf bz = h_upload(ctx, z, 2, sz), bl = h_zeros(ctx, 1, &c->n), bloss = h_zeros(ctx, 1, &one);
    h_buf brl = h_zeros(ctx, 1, &c->n), bg = h_upload(ctx, g0, 2, sz);
    h_name(&bloss, "loss"), h_name(&brl, "row_loss"), h_name(&bg, "dlogits");
    H_OK(ctx, fcl_labels_upload(ctx, &bl.t, labi, c->n, (int)c->k));
    fcl_xent_params p = {(float)c->eps};
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &bloss.t, &brl.t, &bz.t, &bl.t, &p));
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &bg.t, &bz.t, &bl.t, &p, (float)c->dloss));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &brl, rl);
    h_download(ctx, &bg, g);
    h_check_guards(ctx, &bz);

    fcl_ref_softmax_xent_fwd(&lossr, rlr, z, labi, c->n, c->k, c->eps);
    fcl_ref_softmax_xent_bwd(gr, z, labi, c->n, c->k, c->eps, c->dloss);
    h_expect_close("xent loss (mean)", &loss, &lossr, 1, H_TOL_FWD);
    h_expect_close("xent row losses", rl, rlr, c->n, H_TOL_FWD);
    double *dg = delta(g, g0, nz);
    h_expect_close("xent dlogits", dg, gr, nz, H_TOL_BWD);

    /* without row_loss: the same loss, bit for bit (fixed-order reduction) */
    double loss2;
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &bloss.t, NULL, &bz.t, &bl.t, &p));
    h_download(ctx, &bloss, &loss2);
    cr_expect(loss2 == loss, "loss without row_loss differs: %.9g vs %.9g", loss2, loss);

    h_free(ctx, &bz), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &brl), h_free(ctx, &bg);
    free(z), free(lab), free(g0), free(g), free(gr), free(rl), free(rlr), free(labi), free(dg);
}

static void softmax_xent_matches_reference_body(void)
{
    fcl_ctx *ctx = h_ctx();
    static const xent_case cases[] = {
        {1, 2, 0.0, 1.0, -3, 3},      {1, 10, 0.1, 1.0, -3, 3},    {7, 13, 0.1, 1.0, -5, 5},
        {5, 1, 0.1, 1.0, -1, 1},      {32, 1000, 0.1, 1.0, -8, 8}, {33, 101, 0.0, 0.5, -4, 4},
        {3, 37, 0.3, 2.0, -2, 2},     {17, 7, 1.0, 1.0, -3, 3},
        /* numerically stable: huge logits (exp would overflow without the max shift) */
        {9, 11, 0.1, 1.0, 950, 1000}, {4, 19, 0.1, 1.0, -200, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        xent_case_run(ctx, &cases[i], 300 + 10 * i);
    h_ctx_free(ctx);
}
Test(loss, softmax_xent_matches_reference) { softmax_xent_matches_reference_body(); }
Test(loss, softmax_xent_matches_reference_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); softmax_xent_matches_reference_body(); }
Test(loss, softmax_xent_matches_reference_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); softmax_xent_matches_reference_body(); }

/* Labels that are not class indices poison their row (NaN), never read out of bounds; host
 * labels are checked on upload. */
static void softmax_xent_bad_labels_body(void)
{
    fcl_ctx *ctx = h_ctx();
    h_case("softmax xent bad labels");
    size_t n = 4, k = 5, sz[2] = {n, k}, one = 1;
    double z[20], lab[4] = {1, 5, -1, 2.5}, rl[4], g[20], loss;
    frand(z, n * k, 1, -1, 1);
    h_buf bz = h_upload(ctx, z, 2, sz), bl = h_upload(ctx, lab, 1, &n), bloss = h_zeros(ctx, 1, &one);
    h_buf brl = h_zeros(ctx, 1, &n), bg = h_zeros(ctx, 2, sz);
    fcl_xent_params p = {0.1f};
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &bloss.t, &brl.t, &bz.t, &bl.t, &p));
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &bg.t, &bz.t, &bl.t, &p, 1.0f));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &brl, rl);
    h_download(ctx, &bg, g);
    cr_expect(isfinite(rl[0]) && isnan(rl[1]) && isnan(rl[2]) && isnan(rl[3]),
              "row losses %g %g %g %g: only row 0 has a valid label", rl[0], rl[1], rl[2], rl[3]);
    cr_expect(isnan(loss), "the mean loss shows the bad labels: %g", loss);
    for (size_t j = 0; j < k; j++)
        cr_expect(isfinite(g[j]) && isnan(g[k + j]), "gradient row 0 finite, row 1 NaN");

    int bad[4] = {0, 1, 5, 2};
    fcl_status st = fcl_labels_upload(ctx, &bl.t, bad, n, (int)k);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "label 5 of 5 classes: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "index 2") != NULL, "names the position");
    p.label_smoothing = -0.1f;
    st = fcl_softmax_xent_fwd(ctx, &bloss.t, NULL, &bz.t, &bl.t, &p);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "negative smoothing: %s", fcl_status_name(st));
    p.label_smoothing = 0.1f;
    size_t n3 = 3;
    h_buf bl3 = h_zeros(ctx, 1, &n3);
    st = fcl_softmax_xent_fwd(ctx, &bloss.t, NULL, &bz.t, &bl3.t, &p);
    cr_expect_eq(st, FCL_ERR_SHAPE, "3 labels for 4 rows: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    h_free(ctx, &bz), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &brl), h_free(ctx, &bg);
    h_free(ctx, &bl3);
    h_ctx_free(ctx);
}
Test(loss, softmax_xent_bad_labels) { softmax_xent_bad_labels_body(); }
Test(loss, softmax_xent_bad_labels_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); softmax_xent_bad_labels_body(); }
Test(loss, softmax_xent_bad_labels_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); softmax_xent_bad_labels_body(); }

/* Gradients below the smallest normal float are stored as zero, in every variant and in the
 * reference: subnormal operands made the GEMMs after an ArcFace head 20x slower on x86. Row 0:
 * probabilities e^-100 and e^-95 (subnormal) and e^-80 (normal, kept); row 1 an ordinary row. */
static void softmax_xent_flushes_subnormals_body(void)
{
    fcl_ctx *ctx = h_ctx();
    h_case("softmax xent subnormal gradients");
    size_t n = 2, k = 4, sz[2] = {n, k};
    double z[8] = {0, -100, -95, -80, 0.5, -0.25, 1, 0}, g[8], gr[8] = {0};
    int labi[2] = {0, 2};
    h_buf bz = h_upload(ctx, z, 2, sz), bl = h_zeros(ctx, 1, &n), bg = h_zeros(ctx, 2, sz);
    H_OK(ctx, fcl_labels_upload(ctx, &bl.t, labi, n, (int)k));
    fcl_xent_params p = {0.0f};
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &bg.t, &bz.t, &bl.t, &p, 1.0f));
    h_download(ctx, &bg, g);
    fcl_ref_softmax_xent_bwd(gr, z, labi, n, k, 0.0, 1.0);
    for (size_t j = 0; j < n * k; j++) {
        float f = (float)g[j];
        cr_expect(f == 0.0f || fabsf(f) >= FLT_MIN, "dlogits[%zu] = %g is subnormal", j, g[j]);
    }
    cr_expect(g[1] == 0.0 && g[2] == 0.0 && gr[1] == 0.0 && gr[2] == 0.0, "e^-100, e^-95: %g %g (reference %g %g)",
              g[1], g[2], gr[1], gr[2]);
    cr_expect(g[3] > 0.0 && gr[3] > 0.0, "e^-80 / 2 is normal and kept: %g (reference %g)", g[3], gr[3]);
    h_expect_close("xent dlogits with subnormals", g, gr, n * k, H_TOL_BWD);
    h_free(ctx, &bz), h_free(ctx, &bl), h_free(ctx, &bg);
    h_ctx_free(ctx);
}
Test(loss, softmax_xent_flushes_subnormals) { softmax_xent_flushes_subnormals_body(); }
Test(loss, softmax_xent_flushes_subnormals_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); softmax_xent_flushes_subnormals_body(); }
Test(loss, softmax_xent_flushes_subnormals_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); softmax_xent_flushes_subnormals_body(); }

typedef struct xent_ud {
    const int *lab;
    size_t n, k;
    double eps;
} xent_ud;

static void xent_f(double *y, const double *z, void *ud)
{
    const xent_ud *u = ud;
    fcl_ref_softmax_xent_fwd(y, NULL, z, u->lab, u->n, u->k, u->eps);
}

Test(loss, softmax_xent_reference_vs_finite_differences)
{
    static const double epss[] = {0.0, 0.1, 0.5};
    for (size_t e = 0; e < 3; e++) {
        size_t n = 4, k = 7;
        h_case("softmax xent FD n=%zu k=%zu eps=%.2f", n, k, epss[e]);
        double z[28], g[28] = {0}, r = 1.7;
        int lab[4] = {0, 6, 3, 3};
        h_rand(z, n * k, 5 + e, -3, 3);
        fcl_ref_softmax_xent_bwd(g, z, lab, n, k, epss[e], r);
        xent_ud u = {lab, n, k, epss[e]};
        h_fd f = {.what = "xent d/dlogits", .f = xent_f, .ud = &u, .x = z, .nx = n * k, .ny = 1,
                  .r = &r, .grad = g, .seed = 6};
        h_fd_check(&f);
    }
}

/* ---- log-softmax ------------------------------------------------------------------------------------ */

static void log_softmax_matches_reference_body(void)
{
    fcl_ctx *ctx = h_ctx();
    static const size_t shapes[][2] = {{1, 1}, {1, 10}, {7, 13}, {32, 1000}, {5, 3}, {64, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t n = shapes[s][0], k = shapes[s][1], m = n * k, sh[2] = {n, k};
        h_case("log_softmax n=%zu k=%zu", n, k);
        double *x = h_alloc(m), *y = h_alloc(m), *yr = h_alloc(m), *dy = h_alloc(m), *g0 = h_alloc(m);
        double *g = h_alloc(m), *gr = h_alloc(m);
        frand(x, m, 70 + s, -10, 10);
        frand(dy, m, 80 + s, -1, 1);
        frand(g0, m, 90 + s, -1, 1);
        fcl_ref_log_softmax_fwd(yr, x, n, k);
        h_buf bx = h_upload(ctx, x, 2, sh), by = h_zeros(ctx, 2, sh), bdy = h_upload(ctx, dy, 2, sh);
        h_buf bg = h_upload(ctx, g0, 2, sh);
        H_OK(ctx, fcl_log_softmax_fwd(ctx, &by.t, &bx.t));
        h_download(ctx, &by, y);
        h_expect_close("log_softmax fwd", y, yr, m, H_TOL_FWD);
        /* the backward uses the device's y, rounded to float like the reference's input */
        fcl_ref_log_softmax_bwd(gr, dy, y, n, k);
        H_OK(ctx, fcl_log_softmax_bwd(ctx, &bg.t, &bdy.t, &by.t));
        h_download(ctx, &bg, g);
        double *dg = delta(g, g0, m);
        h_expect_close("log_softmax bwd", dg, gr, m, H_TOL_BWD);
        /* in place */
        H_OK(ctx, fcl_log_softmax_fwd(ctx, &bx.t, &bx.t));
        h_download(ctx, &bx, y);
        h_expect_close("log_softmax fwd in place", y, yr, m, H_TOL_FWD);
        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bg);
        free(x), free(y), free(yr), free(dy), free(g0), free(g), free(gr), free(dg);
    }
    h_ctx_free(ctx);
}
Test(loss, log_softmax_matches_reference) { log_softmax_matches_reference_body(); }
Test(loss, log_softmax_matches_reference_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); log_softmax_matches_reference_body(); }
Test(loss, log_softmax_matches_reference_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); log_softmax_matches_reference_body(); }

typedef struct rows_ud {
    size_t n, k;
} rows_ud;

static void lsm_f(double *y, const double *x, void *ud)
{
    const rows_ud *u = ud;
    fcl_ref_log_softmax_fwd(y, x, u->n, u->k);
}

Test(loss, log_softmax_reference_vs_finite_differences)
{
    size_t n = 3, k = 9;
    h_case("log_softmax FD n=%zu k=%zu", n, k);
    double x[27], y[27], r[27], g[27] = {0};
    h_rand(x, n * k, 1, -4, 4);
    h_rand(r, n * k, 2, -1, 1);
    fcl_ref_log_softmax_fwd(y, x, n, k);
    fcl_ref_log_softmax_bwd(g, r, y, n, k);
    rows_ud u = {n, k};
    h_fd f = {.what = "log_softmax d/dx", .f = lsm_f, .ud = &u, .x = x, .nx = n * k, .ny = n * k,
              .r = r, .grad = g, .seed = 3};
    h_fd_check(&f);
}

/* ---- L2 normalisation ---------------------------------------------------------------------------- */

static void l2norm_matches_reference_incl_zero_rows_body(void)
{
    fcl_ctx *ctx = h_ctx();
    static const size_t shapes[][2] = {{1, 1}, {1, 512}, {7, 13}, {32, 128}, {5, 3}, {33, 257}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t n = shapes[s][0], d = shapes[s][1], m = n * d, sh[2] = {n, d};
        h_case("l2norm n=%zu d=%zu", n, d);
        double *x = h_alloc(m), *y = h_alloc(m), *yr = h_alloc(m), *dy = h_alloc(m), *g0 = h_alloc(m);
        double *g = h_alloc(m), *gr = h_alloc(m);
        frand(x, m, 100 + s, -2, 2);
        frand(dy, m, 110 + s, -1, 1);
        frand(g0, m, 120 + s, -1, 1);
        if (n > 2) {
            /* row 1 all zero and row 2 tiny (norm < 1e-12): both use the eps clamp */
            for (size_t j = 0; j < d; j++) {
                x[d + j] = 0.0;
                x[2 * d + j] = (float)(1e-14 * (double)(j % 3));
            }
        }
        fcl_ref_l2norm_fwd(yr, x, n, d, FCL_L2NORM_EPS);
        memcpy(gr, g0, m * sizeof *gr);
        fcl_ref_l2norm_bwd(gr, dy, x, n, d, FCL_L2NORM_EPS);
        h_buf bx = h_upload(ctx, x, 2, sh), by = h_zeros(ctx, 2, sh), bdy = h_upload(ctx, dy, 2, sh);
        h_buf bg = h_upload(ctx, g0, 2, sh);
        H_OK(ctx, fcl_l2norm_fwd(ctx, &by.t, &bx.t));
        H_OK(ctx, fcl_l2norm_bwd(ctx, &bg.t, &bdy.t, &bx.t));
        h_download(ctx, &by, y);
        h_download(ctx, &bg, g);
        h_expect_close("l2norm fwd", y, yr, m, H_TOL_FWD);
        double *dg = delta(g, g0, m), *dgr = delta(gr, g0, m);
        if (n > 2) {
            /* the clamped rows' gradients are dy / 1e-12: compare them on their own scale */
            h_expect_close("l2norm bwd (regular rows)", dg, dgr, d, H_TOL_BWD);
            h_expect_close("l2norm bwd (clamped rows)", dg + d, dgr + d, 2 * d, H_TOL_BWD);
            h_expect_close("l2norm bwd (the rest)", dg + 3 * d, dgr + 3 * d, m - 3 * d, H_TOL_BWD);
        } else {
            h_expect_close("l2norm bwd", dg, dgr, m, H_TOL_BWD);
        }
        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bg);
        free(x), free(y), free(yr), free(dy), free(g0), free(g), free(gr), free(dg), free(dgr);
    }
    h_ctx_free(ctx);
}
Test(loss, l2norm_matches_reference_incl_zero_rows) { l2norm_matches_reference_incl_zero_rows_body(); }
Test(loss, l2norm_matches_reference_incl_zero_rows_gpu_rows) { h_force("loss:-DFCL_ROW_WG=64"); l2norm_matches_reference_incl_zero_rows_body(); }
Test(loss, l2norm_matches_reference_incl_zero_rows_gpu_rows_tree) { h_force("loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0"); l2norm_matches_reference_incl_zero_rows_body(); }

static void l2_f(double *y, const double *x, void *ud)
{
    const rows_ud *u = ud;
    fcl_ref_l2norm_fwd(y, x, u->n, u->k, FCL_L2NORM_EPS);
}

Test(loss, l2norm_reference_vs_finite_differences)
{
    size_t n = 4, d = 6;
    h_case("l2norm FD n=%zu d=%zu", n, d);
    double x[24], r[24], g[24] = {0};
    h_rand(x, n * d, 1, -1, 1);
    h_rand(r, n * d, 2, -1, 1);
    fcl_ref_l2norm_bwd(g, r, x, n, d, FCL_L2NORM_EPS);
    rows_ud u = {n, d};
    h_fd f = {.what = "l2norm d/dx", .f = l2_f, .ud = &u, .x = x, .nx = n * d, .ny = n * d, .r = r,
              .grad = g, .seed = 9};
    h_fd_check(&f);
}

/* ---- cosine similarity ----------------------------------------------------------------------------- */

static void cosine_case(fcl_ctx *ctx, size_t na, size_t nb, size_t d, int same, uint64_t seed)
{
    if (same)
        nb = na;
    h_case("cosine sim na=%zu nb=%zu d=%zu %s", na, nb, d, same ? "(B is A, dB is dA)" : "");
    size_t sa[2] = {na, d}, sb[2] = {nb, d}, ss[2] = {na, nb};
    double *a = h_alloc(na * d), *b = h_alloc(nb * d), *ds = h_alloc(na * nb), *s = h_alloc(na * nb);
    double *sr = h_alloc(na * nb), *da0 = h_alloc(na * d), *db0 = h_alloc(nb * d);
    double *da = h_alloc(na * d), *db = h_alloc(nb * d), *dar = h_alloc(na * d), *dbr = h_alloc(nb * d);
    frand(a, na * d, seed, -1, 1);
    frand(b, nb * d, seed + 1, -1, 1);
    frand(ds, na * nb, seed + 2, -1, 1);
    frand(da0, na * d, seed + 3, -1, 1);
    frand(db0, nb * d, seed + 4, -1, 1);
    if (same)
        memcpy(b, a, na * d * sizeof *a);
    h_buf ba = h_upload(ctx, a, 2, sa), bb = h_upload(ctx, b, 2, sb), bs = h_zeros(ctx, 2, ss);
    h_buf bds = h_upload(ctx, ds, 2, ss), bda = h_upload(ctx, da0, 2, sa), bdb = h_upload(ctx, db0, 2, sb);
    h_name(&bs, "S"), h_name(&bda, "dA"), h_name(&bdb, "dB");
    const fcl_tensor *tb = same ? &ba.t : &bb.t;
    fcl_tensor *tdb = same ? &bda.t : &bdb.t;
    H_OK(ctx, fcl_cosine_sim_fwd(ctx, &bs.t, &ba.t, tb));
    H_OK(ctx, fcl_cosine_sim_bwd(ctx, &bda.t, tdb, &bds.t, &ba.t, tb));
    h_download(ctx, &bs, s);
    h_download(ctx, &bda, da);
    h_download(ctx, &bdb, db);
    fcl_ref_cosine_sim_fwd(sr, a, b, na, nb, d, FCL_L2NORM_EPS);
    memset(dar, 0, na * d * sizeof *dar);
    memset(dbr, 0, nb * d * sizeof *dbr);
    cr_assert(fcl_ref_cosine_sim_bwd(dar, dbr, ds, a, b, na, nb, d, FCL_L2NORM_EPS) == 0);
    h_expect_close("cosine fwd S", s, sr, na * nb, H_TOL_FWD);
    double *gda = delta(da, da0, na * d);
    if (same) {
        for (size_t i = 0; i < na * d; i++)
            dar[i] += dbr[i];
        h_expect_close("cosine bwd dA (both sides)", gda, dar, na * d, H_TOL_BWD);
        h_expect_close("cosine bwd dB untouched", db, db0, nb * d, 0.0);
    } else {
        double *gdb = delta(db, db0, nb * d);
        h_expect_close("cosine bwd dA", gda, dar, na * d, H_TOL_BWD);
        h_expect_close("cosine bwd dB", gdb, dbr, nb * d, H_TOL_BWD);
        free(gdb);
    }
    h_free(ctx, &ba), h_free(ctx, &bb), h_free(ctx, &bs), h_free(ctx, &bds), h_free(ctx, &bda);
    h_free(ctx, &bdb);
    double *all[] = {a, b, ds, s, sr, da0, db0, da, db, dar, dbr, gda};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

Test(loss, cosine_sim_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    cosine_case(ctx, 1, 1, 1, 0, 1);
    cosine_case(ctx, 1, 7, 13, 0, 2);
    cosine_case(ctx, 5, 3, 31, 0, 3);
    cosine_case(ctx, 32, 32, 512, 0, 4);
    cosine_case(ctx, 33, 17, 128, 0, 5);
    cosine_case(ctx, 9, 0, 37, 1, 6);
    cosine_case(ctx, 32, 0, 128, 1, 7);
    h_ctx_free(ctx);
}

typedef struct cos_ud {
    const double *a, *b;
    size_t na, nb, d;
} cos_ud;

static void cos_f(double *y, const double *unused, void *ud)
{
    (void)unused;   /* the perturbed array is a or b, which ud points at */
    const cos_ud *u = ud;
    fcl_ref_cosine_sim_fwd(y, u->a, u->b, u->na, u->nb, u->d, FCL_L2NORM_EPS);
}

Test(loss, cosine_sim_reference_vs_finite_differences)
{
    size_t na = 3, nb = 4, d = 5;
    h_case("cosine sim FD na=%zu nb=%zu d=%zu", na, nb, d);
    double a[15], b[20], r[12], da[15] = {0}, db[20] = {0};
    h_rand(a, na * d, 1, -1, 1);
    h_rand(b, nb * d, 2, -1, 1);
    h_rand(r, na * nb, 3, -1, 1);
    cr_assert(fcl_ref_cosine_sim_bwd(da, db, r, a, b, na, nb, d, FCL_L2NORM_EPS) == 0);
    cos_ud u = {a, b, na, nb, d};
    h_fd fa = {.what = "cosine d/dA", .f = cos_f, .ud = &u, .x = a, .nx = na * d, .ny = na * nb,
               .r = r, .grad = da, .seed = 4};
    h_fd fb = fa;
    fb.what = "cosine d/dB", fb.x = b, fb.nx = nb * d, fb.grad = db;
    h_fd_check(&fa);
    h_fd_check(&fb);
}

Test(loss, shapes_are_checked)
{
    fcl_ctx *ctx = h_ctx();
    h_case("loss-family bad shapes");
    size_t s45[2] = {4, 5}, s46[2] = {4, 6}, s35[2] = {3, 5}, s44[2] = {4, 4};
    h_buf a = h_zeros(ctx, 2, s45), b = h_zeros(ctx, 2, s46), c = h_zeros(ctx, 2, s35), s = h_zeros(ctx, 2, s44);
    fcl_status st = fcl_log_softmax_fwd(ctx, &b.t, &a.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "log_softmax into a wider y: %s", fcl_status_name(st));
    st = fcl_l2norm_bwd(ctx, &c.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "l2norm dx with 3 rows for 4: %s", fcl_status_name(st));
    st = fcl_cosine_sim_fwd(ctx, &s.t, &a.t, &b.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "rows of 5 and 6: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    st = fcl_cosine_sim_fwd(ctx, &c.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "S [3, 5] for 4 x 4: %s", fcl_status_name(st));
    st = fcl_l2norm_bwd(ctx, &a.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "dx aliasing x: %s", fcl_status_name(st));
    st = fcl_cosine_sim_bwd(ctx, &a.t, NULL, &s.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "dA aliasing A: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    h_free(ctx, &a), h_free(ctx, &b), h_free(ctx, &c), h_free(ctx, &s);
    h_ctx_free(ctx);
}
