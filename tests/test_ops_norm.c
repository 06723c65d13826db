/* tests/test_ops_norm.c: LayerNorm2d and layer scale: OpenCL vs reference (forward and every
 * backward output, every reduction group size forced), reference backward vs finite
 * differences, in-place use, determinism, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
#include "ops/norm_internal.h"
#include "ref/ref_norm.h"

/* Odd shapes: channel counts not multiples of 4, HW 1 ([N, C] and [N, C, 1, 1]: the classifier's
 * norm), one large C (ConvNeXt-like 96) */
typedef struct shape {
    int ndim;
    size_t s[4];
} shape;
static const shape shapes[] = {
    {4, {1, 3, 7, 7}}, {4, {2, 5, 13, 11}}, {4, {3, 17, 9, 9}}, {2, {4, 9}}, {4, {2, 96, 5, 3}},
    {4, {3, 7, 1, 1}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])
/* reduction group sizes forced on every shape: one work-item per channel, a small and a wide tree */
static const int wgs[] = {1, 4, 64};

static void dims(const shape *s, size_t *n, size_t *c, size_t *hw, char *str, size_t size)
{
    *n = s->s[0], *c = s->s[1], *hw = 1;
    for (int i = 2; i < s->ndim; i++) *hw *= s->s[i];
    int len = snprintf(str, size, "[");
    for (int i = 0; i < s->ndim; i++) len += snprintf(str + len, size - (size_t)len, i ? ", %zu" : "%zu", s->s[i]);
    snprintf(str + len, size - (size_t)len, "]");
}

static double *rand_f32(size_t n, uint64_t seed, double lo, double hi)
{
    double *v = h_alloc(n);
    h_rand(v, n, seed, lo, hi);
    h_to_f32(v, n);
    return v;
}

/* ---- LayerNorm2d -------------------------------------------------------------------------------- */

static void run_ln(int affine)
{
    fcl_ctx *ctx = h_ctx();
    const double eps = 1e-6;
    for (size_t si = 0; si < N_SHAPES; si++) {
        size_t n, c, hw;
        char ss[64], what[128];
        dims(&shapes[si], &n, &c, &hw, ss, sizeof ss);
        size_t nt = n * c * hw, np = n * hw;
        /* an offset of 3 per channel makes the mean matter (a bad two-pass sum would show) */
        double *x = rand_f32(nt, 10 + si, -2, 4), *w = affine ? rand_f32(c, 20 + si, 0.5, 1.5) : NULL;
        double *b = affine ? rand_f32(c, 30 + si, -1, 1) : NULL;
        double *y_ref = h_alloc(nt), *m_ref = h_alloc(np), *r_ref = h_alloc(np), *y = h_alloc(nt);
        double *m = h_alloc(np), *r = h_alloc(np);
        fcl_ref_ln2d_fwd(y_ref, m_ref, r_ref, x, w, b, n, c, hw, eps);
        h_case("ln2d fwd %s %s", affine ? "affine" : "no affine", ss);
        h_buf bx = h_upload(ctx, x, shapes[si].ndim, shapes[si].s), by = h_zeros(ctx, shapes[si].ndim, shapes[si].s);
        h_buf bm = h_zeros(ctx, 1, &np), br = h_zeros(ctx, 1, &np);
        h_buf bw = affine ? h_upload(ctx, w, 1, &c) : (h_buf){0}, bb = affine ? h_upload(ctx, b, 1, &c) : (h_buf){0};
        h_name(&by, "y"), h_name(&bm, "save_mean"), h_name(&br, "save_rstd");
        H_OK(ctx, fcl_ln2d_fwd(ctx, &by.t, &bm.t, &br.t, &bx.t, affine ? &bw.t : NULL, affine ? &bb.t : NULL,
                               (float)eps));
        h_download(ctx, &by, y), h_download(ctx, &bm, m), h_download(ctx, &br, r);
        snprintf(what, sizeof what, "ln2d fwd y %s", ss);
        h_expect_close(what, y, y_ref, nt, H_TOL_FWD);
        snprintf(what, sizeof what, "ln2d fwd mean %s", ss);
        h_expect_close(what, m, m_ref, np, H_TOL_FWD);
        snprintf(what, sizeof what, "ln2d fwd rstd %s", ss);
        h_expect_close(what, r, r_ref, np, H_TOL_FWD);

        /* backward: every output accumulates into non-zero values; saved statistics as the
         * device stored them (so only the backward's own error is measured) */
        double *dy = rand_f32(nt, 40 + si, -1, 1), *dx0 = rand_f32(nt, 50 + si, -1, 1);
        double *dw0 = rand_f32(c, 60 + si, -1, 1), *db0 = rand_f32(c, 70 + si, -1, 1);
        double *dx_ref = h_dup(dx0, nt), *dw_ref = h_dup(dw0, c), *db_ref = h_dup(db0, c);
        double *dx = h_alloc(nt), *dw = h_alloc(c), *db = h_alloc(c);
        fcl_ref_ln2d_bwd(dx_ref, dw_ref, db_ref, dy, x, w, n, c, hw, eps);
        h_buf bdy = h_upload(ctx, dy, shapes[si].ndim, shapes[si].s);
        double *first = h_alloc(c);
        for (size_t wi = 0; wi < sizeof wgs / sizeof wgs[0]; wi++) {
            h_case("ln2d bwd %s %s group %d", affine ? "affine" : "no affine", ss, wgs[wi]);
            h_buf bdx = h_upload(ctx, dx0, shapes[si].ndim, shapes[si].s);
            h_buf bdw = h_upload(ctx, dw0, 1, &c), bdb = h_upload(ctx, db0, 1, &c);
            h_name(&bdx, "dx"), h_name(&bdw, "dweight"), h_name(&bdb, "dbias");
            H_OK(ctx, fcl_ln2d_bwd_wg(ctx, &bdx.t, &bdw.t, &bdb.t, &bdy.t, &bx.t, affine ? &bw.t : NULL,
                                      &bm.t, &br.t, wgs[wi]));
            h_download(ctx, &bdx, dx), h_download(ctx, &bdw, dw), h_download(ctx, &bdb, db);
            h_check_guards(ctx, &bx), h_check_guards(ctx, &bm), h_check_guards(ctx, &br);
            snprintf(what, sizeof what, "ln2d bwd dx %s wg %d", ss, wgs[wi]);
            h_expect_close(what, dx, dx_ref, nt, H_TOL_BWD);
            snprintf(what, sizeof what, "ln2d bwd dweight %s wg %d", ss, wgs[wi]);
            h_expect_close(what, dw, dw_ref, c, H_TOL_BWD);
            snprintf(what, sizeof what, "ln2d bwd dbias %s wg %d", ss, wgs[wi]);
            h_expect_close(what, db, db_ref, c, H_TOL_BWD);
            /* determinism: the same group size twice gives the same bits */
            if (wi == 0) memcpy(first, dw, c * sizeof *dw);
            if (wi == 0) {
                h_buf bz = h_upload(ctx, dw0, 1, &c);
                H_OK(ctx, fcl_ln2d_bwd_wg(ctx, NULL, &bz.t, NULL, &bdy.t, &bx.t, affine ? &bw.t : NULL, &bm.t,
                                          &br.t, wgs[wi]));
                h_download(ctx, &bz, dw);
                cr_expect(memcmp(first, dw, c * sizeof *dw) == 0, "ln2d dweight differs between two runs");
                h_free(ctx, &bz);
            }
            h_free(ctx, &bdx), h_free(ctx, &bdw), h_free(ctx, &bdb);
        }
        if (si == 1) {   /* in place: y == x */
            h_case("ln2d fwd in place %s", ss);
            H_OK(ctx, fcl_ln2d_fwd(ctx, &bx.t, NULL, NULL, &bx.t, affine ? &bw.t : NULL, affine ? &bb.t : NULL,
                                   (float)eps));
            h_download(ctx, &bx, y);
            h_expect_close("ln2d fwd in place", y, y_ref, nt, H_TOL_FWD);
        }
        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bm), h_free(ctx, &br), h_free(ctx, &bdy);
        if (affine) h_free(ctx, &bw), h_free(ctx, &bb);
        free(x), free(w), free(b), free(y_ref), free(m_ref), free(r_ref), free(y), free(m), free(r);
        free(dy), free(dx0), free(dw0), free(db0), free(dx_ref), free(dw_ref), free(db_ref);
        free(dx), free(dw), free(db), free(first);
    }
    h_ctx_free(ctx);
}

Test(norm, ln2d_affine) { run_ln(1); }
Test(norm, ln2d_plain) { run_ln(0); }

typedef struct ln_fd_ud {
    const double *x, *w, *b;
    size_t n, c, hw;
    int wrt;   /* 0: x, 1: weight, 2: bias */
} ln_fd_ud;

static void ln_fd_f(double *y, const double *v, void *ud)
{
    ln_fd_ud *u = ud;
    fcl_ref_ln2d_fwd(y, NULL, NULL, u->wrt == 0 ? v : u->x, u->wrt == 1 ? v : u->w, u->wrt == 2 ? v : u->b,
                     u->n, u->c, u->hw, 1e-6);
}

Test(norm, ln2d_reference_fd)
{
    const size_t n = 2, c = 5, hw = 6, nt = n * c * hw;
    h_case("ln2d reference backward vs finite differences [2, 5, 2, 3]");
    double *x = rand_f32(nt, 1, -2, 3), *w = rand_f32(c, 2, 0.5, 1.5), *b = rand_f32(c, 3, -1, 1);
    double *r = rand_f32(nt, 4, -1, 1);
    double *gx = h_alloc(nt), *gw = h_alloc(c), *gb = h_alloc(c);
    fcl_ref_ln2d_bwd(gx, gw, gb, r, x, w, n, c, hw, 1e-6);
    ln_fd_ud u = {x, w, b, n, c, hw, 0};
    double *xv = h_dup(x, nt), *wv = h_dup(w, c), *bv = h_dup(b, c);
    h_fd_check(&(h_fd){.what = "ln2d dx", .f = ln_fd_f, .ud = &u, .x = xv, .nx = nt, .ny = nt, .r = r,
                       .grad = gx, .samples = 60, .seed = 5});
    u.wrt = 1;
    h_fd_check(&(h_fd){.what = "ln2d dweight", .f = ln_fd_f, .ud = &u, .x = wv, .nx = c, .ny = nt, .r = r,
                       .grad = gw, .seed = 6});
    u.wrt = 2;
    h_fd_check(&(h_fd){.what = "ln2d dbias", .f = ln_fd_f, .ud = &u, .x = bv, .nx = c, .ny = nt, .r = r,
                       .grad = gb, .seed = 7});
    free(x), free(w), free(b), free(r), free(gx), free(gw), free(gb), free(xv), free(wv), free(bv);
}

/* ---- layer scale -------------------------------------------------------------------------------- */

Test(norm, layer_scale)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t si = 0; si < N_SHAPES; si++) {
        size_t n, c, hw;
        char ss[64], what[128];
        dims(&shapes[si], &n, &c, &hw, ss, sizeof ss);
        size_t nt = n * c * hw;
        const size_t *sh = shapes[si].s;
        int nd = shapes[si].ndim;
        double *x = rand_f32(nt, 110 + si, -2, 2), *g = rand_f32(c, 120 + si, -1, 1);
        double *y_ref = h_alloc(nt), *y = h_alloc(nt);
        fcl_ref_layer_scale_fwd(y_ref, x, g, n, c, hw);
        h_case("layer scale fwd %s", ss);
        h_buf bx = h_upload(ctx, x, nd, sh), bg = h_upload(ctx, g, 1, &c), by = h_zeros(ctx, nd, sh);
        h_name(&by, "y");
        H_OK(ctx, fcl_layer_scale_fwd(ctx, &by.t, &bx.t, &bg.t));
        h_download(ctx, &by, y);
        snprintf(what, sizeof what, "layer scale fwd %s", ss);
        h_expect_close(what, y, y_ref, nt, H_TOL_FWD);

        double *dy = rand_f32(nt, 130 + si, -1, 1), *dx0 = rand_f32(nt, 140 + si, -1, 1);
        double *dg0 = rand_f32(c, 150 + si, -1, 1);
        double *dx_ref = h_dup(dx0, nt), *dg_ref = h_dup(dg0, c), *dx = h_alloc(nt), *dg = h_alloc(c);
        fcl_ref_layer_scale_bwd(dx_ref, dg_ref, dy, x, g, n, c, hw);
        h_buf bdy = h_upload(ctx, dy, nd, sh);
        for (size_t wi = 0; wi < sizeof wgs / sizeof wgs[0]; wi++) {
            h_case("layer scale bwd %s group %d", ss, wgs[wi]);
            h_buf bdx = h_upload(ctx, dx0, nd, sh), bdg = h_upload(ctx, dg0, 1, &c);
            h_name(&bdx, "dx"), h_name(&bdg, "dgamma");
            H_OK(ctx, fcl_layer_scale_bwd_wg(ctx, &bdx.t, &bdg.t, &bdy.t, &bx.t, &bg.t, wgs[wi]));
            h_download(ctx, &bdx, dx), h_download(ctx, &bdg, dg);
            snprintf(what, sizeof what, "layer scale bwd dx %s wg %d", ss, wgs[wi]);
            h_expect_close(what, dx, dx_ref, nt, H_TOL_BWD);
            snprintf(what, sizeof what, "layer scale bwd dgamma %s wg %d", ss, wgs[wi]);
            h_expect_close(what, dg, dg_ref, c, H_TOL_BWD);
            h_free(ctx, &bdx), h_free(ctx, &bdg);
        }
        if (si == 2) {   /* in place */
            H_OK(ctx, fcl_layer_scale_fwd(ctx, &bx.t, &bx.t, &bg.t));
            h_download(ctx, &bx, y);
            h_expect_close("layer scale fwd in place", y, y_ref, nt, H_TOL_FWD);
        }
        h_free(ctx, &bx), h_free(ctx, &bg), h_free(ctx, &by), h_free(ctx, &bdy);
        free(x), free(g), free(y_ref), free(y), free(dy), free(dx0), free(dg0), free(dx_ref), free(dg_ref);
        free(dx), free(dg);
    }
    h_ctx_free(ctx);
}

typedef struct ls_fd_ud {
    const double *x, *g;
    size_t n, c, hw;
    int wrt_g;
} ls_fd_ud;

static void ls_fd_f(double *y, const double *v, void *ud)
{
    ls_fd_ud *u = ud;
    fcl_ref_layer_scale_fwd(y, u->wrt_g ? u->x : v, u->wrt_g ? v : u->g, u->n, u->c, u->hw);
}

Test(norm, layer_scale_reference_fd)
{
    const size_t n = 3, c = 4, hw = 5, nt = n * c * hw;
    h_case("layer scale reference backward vs finite differences [3, 4, 5]");
    double *x = rand_f32(nt, 1, -2, 2), *g = rand_f32(c, 2, -1, 1), *r = rand_f32(nt, 3, -1, 1);
    double *gx = h_alloc(nt), *gg = h_alloc(c), *xv = h_dup(x, nt), *gv = h_dup(g, c);
    fcl_ref_layer_scale_bwd(gx, gg, r, x, g, n, c, hw);
    ls_fd_ud u = {x, g, n, c, hw, 0};
    h_fd_check(&(h_fd){.what = "layer scale dx", .f = ls_fd_f, .ud = &u, .x = xv, .nx = nt, .ny = nt, .r = r,
                       .grad = gx, .seed = 4});
    u.wrt_g = 1;
    h_fd_check(&(h_fd){.what = "layer scale dgamma", .f = ls_fd_f, .ud = &u, .x = gv, .nx = c, .ny = nt,
                       .r = r, .grad = gg, .seed = 5});
    free(x), free(g), free(r), free(gx), free(gg), free(xv), free(gv);
}

/* ---- scaled weight standardisation -------------------------------------------------------------- */

static const shape wstd_shapes[] = {
    {4, {5, 3, 3, 3}}, {4, {7, 1, 3, 3}}, {2, {3, 17}}, {4, {9, 4, 1, 1}}, {4, {6, 13, 5, 5}}, {4, {2, 1, 1, 1}},
};

static void run_wstd(int with_gain)
{
    fcl_ctx *ctx = h_ctx();
    const double eps = 1e-5;
    for (size_t si = 0; si < sizeof wstd_shapes / sizeof wstd_shapes[0]; si++) {
        const shape *sh = &wstd_shapes[si];
        size_t o = sh->s[0], nt = h_numel(sh->ndim, sh->s), k = nt / o;
        double scale = 1.7 / sqrt((double)k);
        char ss[64], what[128];
        size_t d0, d1, d2;
        dims(sh, &d0, &d1, &d2, ss, sizeof ss);
        double *w = rand_f32(nt, 210 + si, -1, 1.5), *gain = with_gain ? rand_f32(o, 220 + si, 0.5, 2) : NULL;
        double *wh_ref = h_alloc(nt), *wh = h_alloc(nt);
        fcl_ref_wstd_fwd(wh_ref, w, gain, o, k, scale, eps);
        double *dwh = rand_f32(nt, 230 + si, -1, 1), *dw0 = rand_f32(nt, 240 + si, -1, 1);
        double *dg0 = rand_f32(o, 250 + si, -1, 1), *dw_ref = h_dup(dw0, nt), *dg_ref = h_dup(dg0, o);
        double *dw = h_alloc(nt), *dg = h_alloc(o);
        fcl_ref_wstd_bwd(dw_ref, with_gain ? dg_ref : NULL, dwh, w, gain, o, k, scale, eps);
        h_buf bw = h_upload(ctx, w, sh->ndim, sh->s), bdwh = h_upload(ctx, dwh, sh->ndim, sh->s);
        h_buf bg = with_gain ? h_upload(ctx, gain, 1, &o) : (h_buf){0};
        for (size_t wi = 0; wi < sizeof wgs / sizeof wgs[0]; wi++) {
            h_case("wstd %s %s group %d", with_gain ? "gain" : "no gain", ss, wgs[wi]);
            h_buf bwh = h_zeros(ctx, sh->ndim, sh->s), bdw = h_upload(ctx, dw0, sh->ndim, sh->s);
            h_buf bdg = h_upload(ctx, dg0, 1, &o);
            h_name(&bwh, "w_hat"), h_name(&bdw, "dw"), h_name(&bdg, "dgain");
            H_OK(ctx, fcl_wstd_fwd_wg(ctx, &bwh.t, &bw.t, with_gain ? &bg.t : NULL, (float)scale, (float)eps,
                                      wgs[wi]));
            H_OK(ctx, fcl_wstd_bwd_wg(ctx, &bdw.t, with_gain ? &bdg.t : NULL, &bdwh.t, &bw.t,
                                      with_gain ? &bg.t : NULL, (float)scale, (float)eps, wgs[wi]));
            h_download(ctx, &bwh, wh), h_download(ctx, &bdw, dw), h_download(ctx, &bdg, dg);
            h_check_guards(ctx, &bw), h_check_guards(ctx, &bdwh);
            snprintf(what, sizeof what, "wstd fwd %s wg %d", ss, wgs[wi]);
            h_expect_close(what, wh, wh_ref, nt, H_TOL_FWD);
            snprintf(what, sizeof what, "wstd bwd dw %s wg %d", ss, wgs[wi]);
            h_expect_close(what, dw, dw_ref, nt, H_TOL_BWD);
            snprintf(what, sizeof what, "wstd bwd dgain %s wg %d", ss, wgs[wi]);
            h_expect_close(what, dg, dg_ref, o, H_TOL_BWD);
            h_free(ctx, &bwh), h_free(ctx, &bdw), h_free(ctx, &bdg);
        }
        h_free(ctx, &bw), h_free(ctx, &bdwh);
        if (with_gain) h_free(ctx, &bg);
        free(w), free(gain), free(wh_ref), free(wh), free(dwh), free(dw0), free(dg0), free(dw_ref), free(dg_ref);
        free(dw), free(dg);
    }
    h_ctx_free(ctx);
}

Test(norm, wstd_gain) { run_wstd(1); }
Test(norm, wstd_no_gain) { run_wstd(0); }

typedef struct ws_fd_ud {
    const double *w, *g;
    size_t o, k;
    int wrt_g;
} ws_fd_ud;

static void ws_fd_f(double *y, const double *v, void *ud)
{
    ws_fd_ud *u = ud;
    fcl_ref_wstd_fwd(y, u->wrt_g ? u->w : v, u->wrt_g ? v : u->g, u->o, u->k, 0.37, 1e-5);
}

Test(norm, wstd_reference_fd)
{
    const size_t o = 4, k = 9, nt = o * k;
    h_case("wstd reference backward vs finite differences [4, 1, 3, 3]");
    double *w = rand_f32(nt, 1, -1, 1), *g = rand_f32(o, 2, 0.5, 2), *r = rand_f32(nt, 3, -1, 1);
    double *gw = h_alloc(nt), *gg = h_alloc(o), *wv = h_dup(w, nt), *gv = h_dup(g, o);
    fcl_ref_wstd_bwd(gw, gg, r, w, g, o, k, 0.37, 1e-5);
    ws_fd_ud u = {w, g, o, k, 0};
    h_fd_check(&(h_fd){.what = "wstd dw", .f = ws_fd_f, .ud = &u, .x = wv, .nx = nt, .ny = nt, .r = r,
                       .grad = gw, .samples = 36, .seed = 4});
    u.wrt_g = 1;
    h_fd_check(&(h_fd){.what = "wstd dgain", .f = ws_fd_f, .ud = &u, .x = gv, .nx = o, .ny = nt, .r = r,
                       .grad = gg, .seed = 5});
    free(w), free(g), free(r), free(gw), free(gg), free(wv), free(gv);
}

/* ---- errors ------------------------------------------------------------------------------------- */

Test(norm, errors)
{
    h_case("ln2d / layer scale argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t s4[] = {2, 3, 2, 2}, s3[] = {3}, s2[] = {2}, s8[] = {8};
    double v[24] = {0};
    h_buf x = h_upload(ctx, v, 4, s4), y = h_zeros(ctx, 4, s4), w3 = h_upload(ctx, v, 1, s3);
    h_buf w2 = h_upload(ctx, v, 1, s2), m8 = h_zeros(ctx, 1, s8), r8 = h_zeros(ctx, 1, s8), m3 = h_zeros(ctx, 1, s3);
    cr_expect(fcl_ln2d_fwd(ctx, &y.t, &m8.t, &r8.t, &x.t, &w2.t, NULL, 1e-6f) == FCL_ERR_SHAPE, "weight of 2 for 3 "
              "channels: %s", fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_ln2d_fwd") != NULL);
    cr_expect(fcl_ln2d_fwd(ctx, &y.t, &m3.t, &r8.t, &x.t, &w3.t, NULL, 1e-6f) == FCL_ERR_SHAPE, "save_mean of 3");
    cr_expect(fcl_ln2d_fwd(ctx, &y.t, &m8.t, NULL, &x.t, &w3.t, NULL, 1e-6f) == FCL_ERR_INVALID_ARG);
    cr_expect(fcl_ln2d_fwd(ctx, &y.t, NULL, NULL, &x.t, NULL, NULL, -1.0f) == FCL_ERR_INVALID_ARG, "eps < 0");
    cr_expect(fcl_ln2d_fwd(ctx, &y.t, NULL, NULL, &x.t, NULL, NULL, 1e-6f) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_ln2d_bwd(ctx, &y.t, NULL, NULL, &y.t, &x.t, NULL, &m8.t, &r8.t) == FCL_ERR_INVALID_ARG,
              "dx == dy must be refused");
    cr_expect(fcl_ln2d_bwd(ctx, &y.t, NULL, NULL, &x.t, &x.t, NULL, NULL, &r8.t) == FCL_ERR_INVALID_ARG,
              "the backward needs the saved statistics");
    cr_expect(fcl_layer_scale_fwd(ctx, &y.t, &x.t, &w2.t) == FCL_ERR_SHAPE);
    cr_expect(fcl_layer_scale_bwd(ctx, NULL, &w3.t, &x.t, &x.t, &w3.t) == FCL_ERR_INVALID_ARG,
              "dgamma == gamma must be refused");
    /* weight standardisation: gain of 2 for 2 output channels of [2, 3, 2, 2] is fine, 3 is not */
    cr_expect(fcl_wstd_fwd(ctx, &y.t, &x.t, &w3.t, 1.0f, 1e-5f) == FCL_ERR_SHAPE, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_wstd_fwd(ctx, &y.t, &x.t, &w2.t, 1.0f, 1e-5f) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_wstd_fwd(ctx, &x.t, &x.t, NULL, 1.0f, 1e-5f) == FCL_ERR_INVALID_ARG, "in place");
    cr_expect(fcl_wstd_fwd(ctx, &y.t, &x.t, NULL, NAN, 1e-5f) == FCL_ERR_INVALID_ARG, "NaN scale");
    cr_expect(fcl_wstd_bwd(ctx, &y.t, NULL, &y.t, &x.t, NULL, 1.0f, 1e-5f) == FCL_ERR_INVALID_ARG, "dw == dw_hat");
    h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &w3), h_free(ctx, &w2), h_free(ctx, &m8), h_free(ctx, &r8);
    h_free(ctx, &m3);
    h_ctx_free(ctx);
}
