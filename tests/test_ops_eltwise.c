/* tests/test_ops_eltwise.c: add, axpby, sum, SE channel multiply, concat, dropout, flatten: OpenCL vs reference, FD, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_eltwise.h>

#include "helpers/harness.h"
#include "ref/ref_eltwise.h"

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

/* Sizes around the vector width (4 or 8) and odd spatial products. */
static const size_t sizes[] = {1, 3, 7, 8, 9, 13 * 13, 31 * 31 * 3, 100003};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- add and BLAS-1 ----------------------------------------------------------------------------- */

Test(eltwise, add_forward_backward_and_in_place)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        h_case("add n=%zu", n);
        double *a = h_alloc(n), *b = h_alloc(n), *y = h_alloc(n), *ref = h_alloc(n), *g0 = h_alloc(n);
        frand(a, n, 1 + s, -2, 2);
        frand(b, n, 2 + s, -2, 2);
        frand(g0, n, 3 + s, -1, 1);
        fcl_ref_add_fwd(ref, a, b, n);
        h_buf ba = h_upload(ctx, a, 1, &n), bb = h_upload(ctx, b, 1, &n), by = h_upload(ctx, g0, 1, &n);
        h_name(&by, "y");
        H_OK(ctx, fcl_add_fwd(ctx, &by.t, &ba.t, &bb.t));
        h_download(ctx, &by, y);
        h_expect_close("add y = a + b", y, ref, n, H_TOL_FWD);

        /* in place: a = a + b */
        H_OK(ctx, fcl_add_fwd(ctx, &ba.t, &ba.t, &bb.t));
        h_download(ctx, &ba, y);
        h_expect_close("add in place a = a + b", y, ref, n, H_TOL_FWD);

        /* accumulate: b += y (= a + b) */
        H_OK(ctx, fcl_add_acc(ctx, &bb.t, &by.t));
        h_download(ctx, &bb, y);
        for (size_t i = 0; i < n; i++)
            ref[i] += b[i];
        h_expect_close("add_acc b += x", y, ref, n, H_TOL_FWD);

        /* backward: da += dy, db += dy; da and db the same tensor gets both */
        h_buf bda = h_upload(ctx, g0, 1, &n), bdy = h_upload(ctx, a, 1, &n);
        H_OK(ctx, fcl_add_bwd(ctx, &bda.t, NULL, &bdy.t));
        H_OK(ctx, fcl_add_bwd(ctx, &bda.t, &bda.t, &bdy.t));
        h_download(ctx, &bda, y);
        double *d = delta(y, g0, n);
        for (size_t i = 0; i < n; i++)
            ref[i] = 3 * a[i];
        h_expect_close("add bwd (3 accumulations)", d, ref, n, H_TOL_BWD);

        h_free(ctx, &ba), h_free(ctx, &bb), h_free(ctx, &by), h_free(ctx, &bda), h_free(ctx, &bdy);
        free(a), free(b), free(y), free(ref), free(g0), free(d);
    }
    h_ctx_free(ctx);
}

Test(eltwise, axpby_axpy_scale)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        h_case("axpby/axpy/scale n=%zu", n);
        double *x = h_alloc(n), *y0 = h_alloc(n), *got = h_alloc(n), *ref = h_alloc(n), *nan = h_alloc(n);
        frand(x, n, 10 + s, -3, 3);
        frand(y0, n, 20 + s, -3, 3);
        for (size_t i = 0; i < n; i++)
            nan[i] = NAN;
        h_buf bx = h_upload(ctx, x, 1, &n), by = h_upload(ctx, y0, 1, &n);

        H_OK(ctx, fcl_axpby(ctx, &by.t, 0.75f, &bx.t, -1.5f));
        h_download(ctx, &by, got);
        memcpy(ref, y0, n * sizeof *ref);
        fcl_ref_axpby(ref, 0.75, x, -1.5, n);
        h_expect_close("axpby 0.75 x - 1.5 y", got, ref, n, H_TOL_FWD);

        H_OK(ctx, fcl_axpy(ctx, &by.t, -2.0f, &bx.t));
        h_download(ctx, &by, got);
        fcl_ref_axpby(ref, -2.0, x, 1.0, n);
        h_expect_close("axpy y -= 2 x", got, ref, n, H_TOL_FWD);

        H_OK(ctx, fcl_scale(ctx, &by.t, 0.125f));
        h_download(ctx, &by, got);
        for (size_t i = 0; i < n; i++)
            ref[i] *= 0.125;
        h_expect_close("scale y *= 0.125", got, ref, n, H_TOL_FWD);

        /* beta 0 overwrites: NaN in y must not survive */
        h_buf bn = h_upload(ctx, nan, 1, &n);
        H_OK(ctx, fcl_axpby(ctx, &bn.t, 2.0f, &bx.t, 0.0f));
        h_download(ctx, &bn, got);
        fcl_ref_axpby(ref, 2.0, x, 0.0, n);
        h_expect_close("axpby beta 0 over NaN", got, ref, n, H_TOL_FWD);

        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bn);
        free(x), free(y0), free(got), free(ref), free(nan);
    }
    h_ctx_free(ctx);
}

Test(eltwise, sum_is_exact_enough_and_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    static const size_t ns[] = {1, 63, 64, 65, 1000, 100003};
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
        size_t n = ns[s], one = 1;
        h_case("sum n=%zu", n);
        double *x = h_alloc(n), got[2], want;
        frand(x, n, 30 + s, 0, 2);   /* positive: the sum is well conditioned */
        want = 0.5 * fcl_ref_sum(x, n);
        h_buf bx = h_upload(ctx, x, 1, &n), o1 = h_zeros(ctx, 1, &one), o2 = h_zeros(ctx, 1, &one);
        H_OK(ctx, fcl_sum(ctx, &o1.t, &bx.t, 0.5f));
        H_OK(ctx, fcl_sum(ctx, &o2.t, &bx.t, 0.5f));
        h_download(ctx, &o1, &got[0]);
        h_download(ctx, &o2, &got[1]);
        h_expect_close("sum * 0.5", got, &want, 1, H_TOL_FWD);
        cr_expect(got[0] == got[1], "sum n=%zu differs between runs: %.9g vs %.9g", n, got[0], got[1]);
        h_free(ctx, &bx), h_free(ctx, &o1), h_free(ctx, &o2);
        free(x);
    }
    h_ctx_free(ctx);
}

/* ---- channel-wise multiply (SE) ------------------------------------------------------------- */

typedef struct chm_case {
    size_t n, c, h, w;
    int s4d;   /* s as [N, C, 1, 1] instead of [N, C] */
} chm_case;

static void chmul_case(fcl_ctx *ctx, const chm_case *k, uint64_t seed)
{
    h_case("chmul x=[%zu, %zu, %zu, %zu] s4d=%d", k->n, k->c, k->h, k->w, k->s4d);
    size_t nc = k->n * k->c, hw = k->h * k->w, nx = nc * hw;
    double *x = h_alloc(nx), *s = h_alloc(nc), *dy = h_alloc(nx), *dx0 = h_alloc(nx), *ds0 = h_alloc(nc);
    double *y = h_alloc(nx), *yr = h_alloc(nx), *dx = h_alloc(nx), *ds = h_alloc(nc);
    double *dxr = h_alloc(nx), *dsr = h_alloc(nc);
    frand(x, nx, seed, -2, 2);
    frand(s, nc, seed + 1, 0, 1);
    frand(dy, nx, seed + 2, -1, 1);
    frand(dx0, nx, seed + 3, -1, 1);
    frand(ds0, nc, seed + 4, -1, 1);
    size_t sx[4] = {k->n, k->c, k->h, k->w}, ss4[4] = {k->n, k->c, 1, 1}, ss2[2] = {k->n, k->c};
    h_buf bx = h_upload(ctx, x, 4, sx), by = h_zeros(ctx, 4, sx), bdy = h_upload(ctx, dy, 4, sx);
    h_buf bs = k->s4d ? h_upload(ctx, s, 4, ss4) : h_upload(ctx, s, 2, ss2);
    h_buf bdx = h_upload(ctx, dx0, 4, sx);
    h_buf bds = k->s4d ? h_upload(ctx, ds0, 4, ss4) : h_upload(ctx, ds0, 2, ss2);
    h_name(&by, "y"), h_name(&bdx, "dx"), h_name(&bds, "ds");

    H_OK(ctx, fcl_chmul_fwd(ctx, &by.t, &bx.t, &bs.t));
    H_OK(ctx, fcl_chmul_bwd(ctx, &bdx.t, &bds.t, &bdy.t, &bx.t, &bs.t));
    h_download(ctx, &by, y);
    h_download(ctx, &bdx, dx);
    h_download(ctx, &bds, ds);
    fcl_ref_chmul_fwd(yr, x, s, nc, hw);
    fcl_ref_chmul_bwd(dxr, dsr, dy, x, s, nc, hw);
    h_expect_close("chmul fwd y", y, yr, nx, H_TOL_FWD);
    double *gdx = delta(dx, dx0, nx), *gds = delta(ds, ds0, nc);
    h_expect_close("chmul bwd dx", gdx, dxr, nx, H_TOL_BWD);
    h_expect_close("chmul bwd ds", gds, dsr, nc, H_TOL_BWD);

    /* in place: x = x * s */
    H_OK(ctx, fcl_chmul_fwd(ctx, &bx.t, &bx.t, &bs.t));
    h_download(ctx, &bx, y);
    h_expect_close("chmul fwd in place", y, yr, nx, H_TOL_FWD);

    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bs), h_free(ctx, &bdx);
    h_free(ctx, &bds);
    double *all[] = {x, s, dy, dx0, ds0, y, yr, dx, ds, dxr, dsr, gdx, gds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

Test(eltwise, chmul_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    static const chm_case cases[] = {
        {1, 3, 7, 7, 0},   {2, 13, 5, 5, 1},  {4, 17, 1, 1, 0}, {3, 5, 13, 13, 1},
        {1, 1, 31, 31, 0}, {2, 37, 14, 14, 0}, {32, 64, 7, 7, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        chmul_case(ctx, &cases[i], 200 + 10 * i);
    h_ctx_free(ctx);
}

typedef struct chm_ud {
    const double *x, *s;
    size_t nc, hw;
} chm_ud;

static void chm_f(double *y, const double *unused, void *ud)
{
    (void)unused;
    const chm_ud *u = ud;
    fcl_ref_chmul_fwd(y, u->x, u->s, u->nc, u->hw);
}

Test(eltwise, chmul_reference_vs_finite_differences)
{
    size_t nc = 2 * 3, hw = 5 * 5;
    h_case("chmul FD nc=%zu hw=%zu", nc, hw);
    double *x = h_alloc(nc * hw), *s = h_alloc(nc), *r = h_alloc(nc * hw);
    double *dx = h_alloc(nc * hw), *ds = h_alloc(nc);
    h_rand(x, nc * hw, 1, -1, 1);
    h_rand(s, nc, 2, -1, 1);
    h_rand(r, nc * hw, 3, -1, 1);
    fcl_ref_chmul_bwd(dx, ds, r, x, s, nc, hw);
    chm_ud u = {x, s, nc, hw};
    h_fd fx = {.what = "chmul d/dx", .f = chm_f, .ud = &u, .x = x, .nx = nc * hw, .ny = nc * hw,
               .r = r, .grad = dx, .seed = 4};
    h_fd fs = fx;
    fs.what = "chmul d/ds", fs.x = s, fs.nx = nc, fs.grad = ds;
    h_fd_check(&fx);
    h_fd_check(&fs);
    free(x), free(s), free(r), free(dx), free(ds);
}

/* ---- concat ------------------------------------------------------------------------------------- */

static void concat_case(fcl_ctx *ctx, size_t n, const size_t *ch, int count, size_t h, size_t w,
                        uint64_t seed)
{
    char chs[64] = "";
    for (int i = 0, len = 0; i < count && len >= 0 && (size_t)len < sizeof chs; i++)
        len += snprintf(chs + len, sizeof chs - (size_t)len, i ? "+%zu" : "%zu", ch[i]);
    h_case("concat n=%zu channels %s h=%zu w=%zu", n, chs, h, w);
    size_t ct = 0, inner = h * w;
    for (int i = 0; i < count; i++)
        ct += ch[i];
    double *xs[4], *dx0[4], *dxr[4];
    h_buf bxs[4], bdx[4];
    const fcl_tensor *xt[4];
    fcl_tensor *dt[4];
    for (int i = 0; i < count; i++) {
        size_t m = n * ch[i] * inner, sh[4] = {n, ch[i], h, w};
        xs[i] = h_alloc(m);
        dx0[i] = h_alloc(m);
        dxr[i] = h_alloc(m);
        frand(xs[i], m, seed + (uint64_t)i, -1, 1);
        frand(dx0[i], m, seed + 10 + (uint64_t)i, -1, 1);
        bxs[i] = h_upload(ctx, xs[i], 4, sh);
        bdx[i] = h_upload(ctx, dx0[i], 4, sh);
        xt[i] = &bxs[i].t;
        /* input 1 gets no gradient (NULL), the rest do */
        dt[i] = i == 1 ? NULL : &bdx[i].t;
    }
    size_t ny = n * ct * inner, sy[4] = {n, ct, h, w};
    double *y = h_alloc(ny), *yr = h_alloc(ny), *dy = h_alloc(ny), *got = h_alloc(ny);
    frand(dy, ny, seed + 99, -1, 1);
    h_buf by = h_zeros(ctx, 4, sy), bdy = h_upload(ctx, dy, 4, sy);
    h_name(&by, "concat y");

    H_OK(ctx, fcl_concat_fwd(ctx, &by.t, xt, count));
    h_download(ctx, &by, y);
    fcl_ref_concat_fwd(yr, (const double *const *)xs, ch, count, n, inner);
    h_expect_close("concat fwd", y, yr, ny, 0.0);   /* a copy: exact */

    H_OK(ctx, fcl_concat_bwd(ctx, dt, ch, count, &bdy.t));
    double *dref[4];
    for (int i = 0; i < count; i++) {
        memcpy(dxr[i], dx0[i], n * ch[i] * inner * sizeof(double));
        dref[i] = i == 1 ? NULL : dxr[i];
    }
    fcl_ref_concat_bwd(dref, ch, count, dy, n, inner);
    for (int i = 0; i < count; i++) {
        size_t m = n * ch[i] * inner;
        h_download(ctx, &bdx[i], got);
        char what[64];
        snprintf(what, sizeof what, "concat bwd dx[%d]%s", i, i == 1 ? " (NULL: untouched)" : "");
        h_expect_close(what, got, dxr[i], m, H_TOL_BWD);
    }
    for (int i = 0; i < count; i++) {
        h_free(ctx, &bxs[i]), h_free(ctx, &bdx[i]);
        free(xs[i]), free(dx0[i]), free(dxr[i]);
    }
    h_free(ctx, &by), h_free(ctx, &bdy);
    free(y), free(yr), free(dy), free(got);
}

Test(eltwise, concat_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    static const size_t c3[] = {3, 5, 7}, c2[] = {1, 12}, c4[] = {13, 32, 32, 9}, c1[] = {6};
    concat_case(ctx, 1, c3, 3, 7, 7, 1);
    concat_case(ctx, 2, c2, 2, 13, 13, 2);
    concat_case(ctx, 3, c4, 4, 5, 3, 3);
    concat_case(ctx, 5, c1, 1, 1, 1, 4);
    concat_case(ctx, 32, c3, 3, 14, 14, 5);
    h_ctx_free(ctx);
}

/* A DenseNet block appending features to a preallocated buffer, and the matching slice gradient. */
Test(eltwise, concat_put_and_take_slices)
{
    fcl_ctx *ctx = h_ctx();
    size_t n = 2, c = 5, ct = 11, h = 3, w = 7, m = n * c * h * w, my = n * ct * h * w;
    h_case("concat put/take n=%zu c=%zu into %zu channels at 4", n, c, ct);
    size_t sx[4] = {n, c, h, w}, sy[4] = {n, ct, h, w};
    double *x = h_alloc(m), *y0 = h_alloc(my), *y = h_alloc(my), *ref = h_alloc(my), *g = h_alloc(m);
    double *gref = h_alloc(m);
    frand(x, m, 1, -1, 1);
    frand(y0, my, 2, -1, 1);
    h_buf bx = h_upload(ctx, x, 4, sx), by = h_upload(ctx, y0, 4, sy), bg = h_zeros(ctx, 4, sx);
    H_OK(ctx, fcl_concat_put(ctx, &by.t, 4, &bx.t));
    h_download(ctx, &by, y);
    memcpy(ref, y0, my * sizeof *ref);
    for (size_t b = 0; b < n; b++)
        memcpy(ref + (b * ct + 4) * h * w, x + b * c * h * w, c * h * w * sizeof *ref);
    h_expect_close("concat_put", y, ref, my, 0.0);
    H_OK(ctx, fcl_concat_take_acc(ctx, &bg.t, &by.t, 4));
    H_OK(ctx, fcl_concat_take_acc(ctx, &bg.t, &by.t, 4));
    h_download(ctx, &bg, g);
    for (size_t i = 0; i < m; i++)
        gref[i] = 2 * x[i];
    h_expect_close("concat_take_acc twice", g, gref, m, H_TOL_BWD);

    fcl_status st = fcl_concat_put(ctx, &by.t, 7, &bx.t);   /* 7 + 5 > 11 */
    cr_expect_eq(st, FCL_ERR_SHAPE, "slice past the end: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bg);
    free(x), free(y0), free(y), free(ref), free(g), free(gref);
    h_ctx_free(ctx);
}

/* ---- dropout -------------------------------------------------------------------------------------- */

static void dropout_run(fcl_ctx *ctx, const double *x, size_t n, const fcl_dropout_params *p, double *y)
{
    h_buf bx = h_upload(ctx, x, 1, &n), by = h_zeros(ctx, 1, &n);
    H_OK(ctx, fcl_dropout_fwd(ctx, &by.t, &bx.t, p));
    h_download(ctx, &by, y);
    h_free(ctx, &bx), h_free(ctx, &by);
}

Test(eltwise, dropout_reproducible_seeded_and_matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    static const size_t ns[] = {1, 13, 1001, 200003};
    static const float ps[] = {0.1f, 0.3f, 0.5f, 0.9f};
    for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
        size_t n = ns[s];
        for (size_t q = 0; q < sizeof ps / sizeof ps[0]; q++) {
            fcl_dropout_params p = {ps[q], 0x1234567ull + s, 1};
            h_case("dropout n=%zu p=%.2f", n, (double)p.p);
            double *x = h_alloc(n), *y1 = h_alloc(n), *y2 = h_alloc(n), *y3 = h_alloc(n);
            double *yr = h_alloc(n), *g0 = h_alloc(n), *g = h_alloc(n), *gr = h_alloc(n);
            frand(x, n, 40 + s, 0.5, 1.5);   /* never 0: a zero output means dropped */
            frand(g0, n, 50 + s, -1, 1);
            dropout_run(ctx, x, n, &p, y1);
            dropout_run(ctx, x, n, &p, y2);
            fcl_dropout_params p2 = p;
            p2.seed = p.seed + 1;
            dropout_run(ctx, x, n, &p2, y3);
            fcl_ref_dropout_fwd(yr, x, n, &p);
            h_expect_close("dropout fwd vs reference", y1, yr, n, H_TOL_FWD);
            cr_expect(memcmp(y1, y2, n * sizeof *y1) == 0, "same seed, different output");
            size_t kept = 0, differ = 0;
            for (size_t i = 0; i < n; i++) {
                kept += y1[i] != 0.0;
                differ += (y1[i] != 0.0) != (y3[i] != 0.0);
            }
            double frac = 1.0 - (double)kept / (double)n;
            printf("  dropped fraction %.4f (p %.2f), masks of seeds s and s+1 differ in %zu of %zu\n",
                   frac, (double)p.p, differ, n);
            if (n >= 1000) {
                /* binomial: 5 sigma plus a little */
                double sigma = sqrt(p.p * (1 - p.p) / (double)n);
                cr_expect(fabs(frac - p.p) < 5 * sigma + 1e-3, "dropped %.4f, p %.2f", frac, (double)p.p);
                cr_expect(differ > n / 20, "another seed should give another mask (%zu differ)", differ);
            }
            /* backward: same mask, accumulates */
            h_buf bg = h_upload(ctx, g0, 1, &n), bdy = h_upload(ctx, x, 1, &n);
            H_OK(ctx, fcl_dropout_bwd(ctx, &bg.t, &bdy.t, &p));
            h_download(ctx, &bg, g);
            memcpy(gr, g0, n * sizeof *gr);
            fcl_ref_dropout_bwd(gr, x, n, &p);
            double *dg = delta(g, g0, n), *dgr = delta(gr, g0, n);
            h_expect_close("dropout bwd vs reference", dg, dgr, n, H_TOL_BWD);
            size_t mismatch = 0;
            for (size_t i = 0; i < n; i++)
                mismatch += (dg[i] != 0.0) != (y1[i] != 0.0);
            cr_expect(mismatch == 0, "backward mask differs from forward mask at %zu elements", mismatch);
            h_free(ctx, &bg), h_free(ctx, &bdy);
            free(x), free(y1), free(y2), free(y3), free(yr), free(g0), free(g), free(gr), free(dg), free(dgr);
        }
    }
    h_ctx_free(ctx);
}

Test(eltwise, dropout_inference_and_edge_probabilities)
{
    fcl_ctx *ctx = h_ctx();
    size_t n = 1000;
    double *x = h_alloc(n), *y = h_alloc(n), *g = h_alloc(n), *zero = h_alloc(n);
    frand(x, n, 60, -1, 1);
    h_case("dropout inference (identity)");
    fcl_dropout_params ev = {0.5f, 7, 0};
    dropout_run(ctx, x, n, &ev, y);
    h_expect_close("dropout eval = identity", y, x, n, 0.0);
    h_buf bg = h_zeros(ctx, 1, &n), bdy = h_upload(ctx, x, 1, &n);
    H_OK(ctx, fcl_dropout_bwd(ctx, &bg.t, &bdy.t, &ev));
    h_download(ctx, &bg, g);
    h_expect_close("dropout eval bwd = identity", g, x, n, 0.0);

    h_case("dropout p=0 and p=1 (training)");
    fcl_dropout_params p0 = {0.0f, 7, 1}, p1 = {1.0f, 7, 1};
    dropout_run(ctx, x, n, &p0, y);
    h_expect_close("dropout p=0 = identity", y, x, n, 0.0);
    dropout_run(ctx, x, n, &p1, y);
    h_expect_close("dropout p=1 = zeros", y, zero, n, 0.0);

    /* in place y = x */
    fcl_dropout_params pt = {0.25f, 99, 1};
    double *yr = h_alloc(n);
    fcl_ref_dropout_fwd(yr, x, n, &pt);
    H_OK(ctx, fcl_dropout_fwd(ctx, &bdy.t, &bdy.t, &pt));
    h_download(ctx, &bdy, y);
    h_expect_close("dropout in place", y, yr, n, H_TOL_FWD);

    fcl_dropout_params bad = {1.5f, 1, 1};
    fcl_status st = fcl_dropout_fwd(ctx, &bg.t, &bdy.t, &bad);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "p = 1.5: %s", fcl_status_name(st));
    bad.p = NAN;
    st = fcl_dropout_fwd(ctx, &bg.t, &bdy.t, &bad);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "p = NaN: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    /* the exposed predicate and threshold */
    cr_expect_eq(fcl_dropout_threshold(0.5f), 1u << 23);
    cr_expect_eq(fcl_dropout_threshold(0.0f), 0u);
    cr_expect_eq(fcl_dropout_threshold(1.0f), 1u << 24);
    h_free(ctx, &bg), h_free(ctx, &bdy);
    free(x), free(y), free(g), free(zero), free(yr);
    h_ctx_free(ctx);
}

/* ---- flatten and bad input ---------------------------------------------------------------------- */

Test(eltwise, flatten_is_a_view)
{
    fcl_ctx *ctx = h_ctx();
    h_case("flatten");
    size_t sx[4] = {3, 5, 7, 2};
    h_buf bx = h_zeros(ctx, 4, sx);
    fcl_tensor f;
    H_OK(ctx, fcl_flatten(ctx, &bx.t, &f));
    cr_expect_eq(f.ndim, 2);
    cr_expect_eq(f.shape[0], 3u);
    cr_expect_eq(f.shape[1], 70u);
    cr_expect(f.buf == bx.t.buf && f.offset == bx.t.offset && !f.owned, "flatten must be a view");
    h_free(ctx, &bx);
    h_ctx_free(ctx);
}

Test(eltwise, bad_input_gives_clear_errors)
{
    fcl_ctx *ctx = h_ctx();
    h_case("eltwise bad input");
    size_t s7 = 7, s8 = 8, sx[4] = {2, 3, 4, 4}, ss[2] = {2, 4}, sbig[4] = {2, 10, 4, 4},
           sodd[4] = {2, 3, 5, 4};
    h_buf a = h_zeros(ctx, 1, &s7), b = h_zeros(ctx, 1, &s8), x = h_zeros(ctx, 4, sx);
    h_buf s = h_zeros(ctx, 2, ss), big = h_zeros(ctx, 4, sbig), odd = h_zeros(ctx, 4, sodd);
    fcl_status st = fcl_add_fwd(ctx, &a.t, &a.t, &b.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "add of 7 and 8 elements: %s", fcl_status_name(st));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_add_fwd") != NULL, "names the op: %s", fcl_ctx_errmsg(ctx));
    st = fcl_chmul_fwd(ctx, &x.t, &x.t, &s.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "scale of 4 channels for 3: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    const fcl_tensor *two[2] = {&x.t, &x.t};
    st = fcl_concat_fwd(ctx, &big.t, two, 2);
    cr_expect_eq(st, FCL_ERR_SHAPE, "3 + 3 channels into 10: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    st = fcl_concat_put(ctx, &big.t, 0, &odd.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "mismatched H*W: %s", fcl_status_name(st));
    st = fcl_axpby(ctx, &a.t, 1.0f, NULL, 1.0f);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "NULL x: %s", fcl_status_name(st));
    /* partial overlap: y = elements 1..7 of a buffer, x = elements 0..6 */
    fcl_tensor v1, v2;
    size_t six = 6;
    H_OK(ctx, fcl_tensor_view(ctx, &b.t, 0, 1, &six, &v1));
    H_OK(ctx, fcl_tensor_view(ctx, &b.t, 1, 1, &six, &v2));
    st = fcl_axpby(ctx, &v2, 1.0f, &v1, 1.0f);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "partial overlap: %s", fcl_status_name(st));
    h_free(ctx, &a), h_free(ctx, &b), h_free(ctx, &x), h_free(ctx, &s), h_free(ctx, &big);
    h_free(ctx, &odd);
    h_ctx_free(ctx);
}
