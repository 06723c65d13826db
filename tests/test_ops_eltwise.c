/* tests/test_ops_eltwise.c: add, channel multiply (SE) and concat as op-driver descriptors (OpenCL vs
 * reference, FD), axpby, sum, concat slices, dropout, flatten, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_eltwise.h>

#include "helpers/opcheck.h"
#include "ref/ref_eltwise.h"

/* Sizes around the vector width (4 or 8) and odd spatial products. */
static const size_t sizes[] = {1, 3, 7, 8, 9, 13 * 13, 31 * 31 * 3, 100003};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- add: a, b, y, dy, da, db ------------------------------------------------------------------- */

enum { A, B, Y, DY, DA, DB };

static size_t numel0(const oc_case *c) { return h_numel(c->arg[0].ndim, c->arg[0].shape); }

OC_DEV_CALL(add_dev_fwd, fcl_add_fwd(ctx, t[Y], t[A], t[B]))

OC_DEV_CALL(add_dev_bwd, fcl_add_bwd(ctx, t[DA], t[DB], t[DY]))

static void add_ref_fwd(double *const *h, const oc_case *c)
{
    fcl_ref_add_fwd(h[Y], h[A], h[B], numel0(c));
}

static void add_ref_bwd(double *const *h, const oc_case *c)
{
    for (size_t i = 0; i < numel0(c); i++) h[DA][i] += h[DY][i], h[DB][i] += h[DY][i];
}

/* in place a = a + b; accumulate b += y (= a + b); da and db the same tensor gets both */
static void add_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    size_t n = numel0(c);
    double *y = h_alloc(n), *ref = h_dup(want[Y], n);
    H_OK(ctx, fcl_add_fwd(ctx, &b[A].t, &b[A].t, &b[B].t));
    h_download(ctx, &b[A], y);
    h_expect_close("add in place a = a + b", y, ref, n, H_TOL_FWD);
    H_OK(ctx, fcl_add_acc(ctx, &b[B].t, &b[Y].t));
    h_download(ctx, &b[B], y);
    for (size_t i = 0; i < n; i++) ref[i] += h[B][i];
    h_expect_close("add_acc b += x", y, ref, n, H_TOL_FWD);
    h_buf bda = h_upload(ctx, h[DA], 1, &n);
    H_OK(ctx, fcl_add_bwd(ctx, &bda.t, NULL, &b[DY].t));
    H_OK(ctx, fcl_add_bwd(ctx, &bda.t, &bda.t, &b[DY].t));
    h_download(ctx, &bda, y);
    double *d = h_delta(y, h[DA], n);
    for (size_t i = 0; i < n; i++) ref[i] = 3 * h[DY][i];
    h_expect_close("add bwd (3 accumulations)", d, ref, n, H_TOL_BWD);
    h_free(ctx, &bda);
    free(y), free(ref), free(d);
}

static int add_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= NSIZES) return 0;
    const size_t *n = &sizes[i];
    oc_arg_set(c, A, "a", OC_IN, 1, n, -2, 2);
    oc_arg_set(c, B, "b", OC_IN, 1, n, -2, 2);
    oc_arg_set(c, Y, "y", OC_OUT, 1, n, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, 1, n, -2, 2);
    oc_arg_set(c, DA, "da", OC_GRAD, 1, n, -1, 1)->delta = 1;
    oc_arg_set(c, DB, "db", OC_GRAD, 1, n, -1, 1)->delta = 1;
    snprintf(c->what, sizeof c->what, "add n=%zu", *n);
    return 1;
}

Test(eltwise, add_forward_backward_and_in_place)
{
    oc_run(&(oc_op){.name = "add", .gen = add_gen, .dev_fwd = add_dev_fwd, .dev_bwd = add_dev_bwd,
                    .ref_fwd = add_ref_fwd, .ref_bwd = add_ref_bwd, .extra = add_extra});
}

Test(eltwise, axpby_axpy_scale)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        h_case("axpby/axpy/scale n=%zu", n);
        double *x = h_alloc(n), *y0 = h_alloc(n), *got = h_alloc(n), *ref = h_alloc(n), *nan = h_alloc(n);
        h_rand_f32(x, n, 10 + s, -3, 3);
        h_rand_f32(y0, n, 20 + s, -3, 3);
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
        h_rand_f32(x, n, 30 + s, 0, 2);   /* positive: the sum is well conditioned */
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

/* ---- channel-wise multiply (SE): x, s, y, dy, dx, ds ------------------------------------------- */

typedef struct chm_case {
    size_t n, c, h, w;
    int s4d;   /* s as [N, C, 1, 1] instead of [N, C] */
} chm_case;
static const chm_case chm_cases[] = {
    {1, 3, 7, 7, 0},   {2, 13, 5, 5, 1},  {4, 17, 1, 1, 0}, {3, 5, 13, 13, 1},
    {1, 1, 31, 31, 0}, {2, 37, 14, 14, 0}, {32, 64, 7, 7, 1},
    {2, 3, 5, 5, 0},   /* the reference vs finite differences */
};
#define N_CHM (sizeof chm_cases / sizeof chm_cases[0])

enum { CX, CS, CY, CDY, CDX, CDS };

static void chm_dims(const oc_case *c, size_t *nc, size_t *hw)
{
    const oc_arg *x = &c->arg[CX];
    *nc = x->shape[0] * x->shape[1], *hw = x->shape[2] * x->shape[3];
}

OC_DEV_CALL(chm_dev_fwd, fcl_chmul_fwd(ctx, t[CY], t[CX], t[CS]))

OC_DEV_CALL(chm_dev_bwd, fcl_chmul_bwd(ctx, t[CDX], t[CDS], t[CDY], t[CX], t[CS]))

static void chm_ref_fwd(double *const *h, const oc_case *c)
{
    size_t nc, hw;
    chm_dims(c, &nc, &hw);
    fcl_ref_chmul_fwd(h[CY], h[CX], h[CS], nc, hw);
}

/* the reference overwrites: add onto the starts as the device does */
static void chm_ref_bwd(double *const *h, const oc_case *c)
{
    size_t nc, hw;
    chm_dims(c, &nc, &hw);
    double *dx = h_alloc(nc * hw), *ds = h_alloc(nc);
    fcl_ref_chmul_bwd(dx, ds, h[CDY], h[CX], h[CS], nc, hw);
    for (size_t i = 0; i < nc * hw; i++) h[CDX][i] += dx[i];
    for (size_t i = 0; i < nc; i++) h[CDS][i] += ds[i];
    free(dx), free(ds);
}

/* in place: x = x * s */
static void chm_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h;
    (void)c;
    double *y = h_alloc(b[CX].numel);
    H_OK(ctx, fcl_chmul_fwd(ctx, &b[CX].t, &b[CX].t, &b[CS].t));
    h_download(ctx, &b[CX], y);
    h_expect_close("chmul fwd in place", y, want[CY], b[CX].numel, H_TOL_FWD);
    free(y);
}

static int chm_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= N_CHM) return 0;
    const chm_case *k = &chm_cases[i];
    int fd = i == N_CHM - 1;
    size_t sx[4] = {k->n, k->c, k->h, k->w}, ss[4] = {k->n, k->c, 1, 1};
    oc_arg_set(c, CX, "x", OC_IN, 4, sx, fd ? -1 : -2, fd ? 1 : 2);
    oc_arg_set(c, CS, "s", OC_IN, k->s4d ? 4 : 2, ss, fd ? -1 : 0, 1);
    oc_arg_set(c, CY, "y", OC_OUT, 4, sx, 0, 0);
    oc_arg_set(c, CDY, "dy", OC_IN, 4, sx, -1, 1);
    oc_arg_set(c, CDX, "dx", OC_GRAD, 4, sx, -1, 1)->delta = 1;
    oc_arg_set(c, CDS, "ds", OC_GRAD, k->s4d ? 4 : 2, ss, -1, 1)->delta = 1;
    snprintf(c->what, sizeof c->what, "chmul x=[%zu, %zu, %zu, %zu] s4d=%d", k->n, k->c, k->h, k->w, k->s4d);
    if (fd) oc_fd_inputs(c, CY, CDY, 2, (const int[]){CX, CS}, (const int[]){CDX, CDS}, 0, NULL);
    return 1;
}

Test(eltwise, chmul_matches_reference)
{
    oc_run(&(oc_op){.name = "chmul", .gen = chm_gen, .dev_fwd = chm_dev_fwd, .dev_bwd = chm_dev_bwd,
                    .ref_fwd = chm_ref_fwd, .ref_bwd = chm_ref_bwd, .extra = chm_extra});
}

/* ---- concat: x[0..3], y, dy, dx[0..3] (input 1 gets no gradient: NULL, must stay as it was) ----- */

enum { XS = 0, CCY = 4, CCDY = 5, DXS = 6 };

typedef struct concat_case {
    size_t n, h, w;
    int count;
    size_t ch[4];
} concat_case;
static const concat_case concat_cases[] = {
    {1, 7, 7, 3, {3, 5, 7}}, {2, 13, 13, 2, {1, 12}}, {3, 5, 3, 4, {13, 32, 32, 9}}, {5, 1, 1, 1, {6}},
    {32, 14, 14, 3, {3, 5, 7}},
};

static fcl_status concat_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const concat_case *k = OC_P(c, concat_case);
    const fcl_tensor *xt[4] = {t[XS], t[XS + 1], t[XS + 2], t[XS + 3]};
    return fcl_concat_fwd(ctx, t[CCY], xt, k->count);
}

static fcl_status concat_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const concat_case *k = OC_P(c, concat_case);
    fcl_tensor *dt[4] = {t[DXS], NULL, t[DXS + 2], t[DXS + 3]};
    return fcl_concat_bwd(ctx, dt, k->ch, k->count, t[CCDY]);
}

static void concat_ref_fwd(double *const *h, const oc_case *c)
{
    const concat_case *k = OC_P(c, concat_case);
    const double *xs[4] = {h[XS], h[XS + 1], h[XS + 2], h[XS + 3]};
    fcl_ref_concat_fwd(h[CCY], xs, k->ch, k->count, k->n, k->h * k->w);
}

static void concat_ref_bwd(double *const *h, const oc_case *c)
{
    const concat_case *k = OC_P(c, concat_case);
    double *dref[4] = {h[DXS], NULL, h[DXS + 2], h[DXS + 3]};
    fcl_ref_concat_bwd(dref, k->ch, k->count, h[CCDY], k->n, k->h * k->w);
}

static int concat_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= sizeof concat_cases / sizeof concat_cases[0]) return 0;
    const concat_case *k = &concat_cases[i];
    *OC_P(c, concat_case) = *k;
    size_t ct = 0;
    char chs[64] = "";
    for (int j = 0, len = 0; j < k->count; j++) {
        size_t sh[4] = {k->n, k->ch[j], k->h, k->w};
        oc_arg_set(c, XS + j, "x", OC_IN, 4, sh, -1, 1);
        oc_arg_set(c, DXS + j, "dx", j == 1 ? OC_IN : OC_GRAD, 4, sh, -1, 1);
        ct += k->ch[j];
        len += snprintf(chs + len, sizeof chs - (size_t)len, j ? "+%zu" : "%zu", k->ch[j]);
    }
    size_t sy[4] = {k->n, ct, k->h, k->w};
    oc_arg_set(c, CCY, "y", OC_OUT, 4, sy, 0, 0)->tol = OC_EXACT;   /* a copy: exact */
    oc_arg_set(c, CCDY, "dy", OC_IN, 4, sy, -1, 1);
    snprintf(c->what, sizeof c->what, "concat n=%zu channels %s h=%zu w=%zu", k->n, chs, k->h, k->w);
    return 1;
}

Test(eltwise, concat_matches_reference)
{
    oc_run(&(oc_op){.name = "concat", .gen = concat_gen, .dev_fwd = concat_dev_fwd, .dev_bwd = concat_dev_bwd,
                    .ref_fwd = concat_ref_fwd, .ref_bwd = concat_ref_bwd});
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
    h_rand_f32(x, m, 1, -1, 1);
    h_rand_f32(y0, my, 2, -1, 1);
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
            h_rand_f32(x, n, 40 + s, 0.5, 1.5);   /* never 0: a zero output means dropped */
            h_rand_f32(g0, n, 50 + s, -1, 1);
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
            double *dg = h_delta(g, g0, n), *dgr = h_delta(gr, g0, n);
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
    h_rand_f32(x, n, 60, -1, 1);
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
