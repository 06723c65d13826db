/* tests/test_ops_act.c: activations and PReLU: OpenCL vs reference (forward and backward),
 * reference backward vs finite differences, in-place use, determinism, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
#include "ref/ref_act.h"

/* Shapes: batch 1, odd spatial sizes 7 / 13 / 31, channel counts 3, 5, 17 (not multiples of
 * 4/8/16), a numel below one vector (36) and a 1-D tensor. */
typedef struct shape {
    int ndim;
    size_t s[4];
} shape;
static const shape act_shapes[] = {
    {4, {1, 3, 7, 7}}, {4, {2, 5, 13, 13}}, {4, {3, 17, 31, 31}}, {4, {4, 9, 1, 1}}, {1, {13}},
};
#define N_ACT_SHAPES (sizeof act_shapes / sizeof act_shapes[0])

static void shape_str(const shape *s, char *buf, size_t size)
{
    int len = snprintf(buf, size, "[");
    for (int i = 0; i < s->ndim; i++)
        len += snprintf(buf + len, size - (size_t)len, i ? ", %zu" : "%zu", s->s[i]);
    snprintf(buf + len, size - (size_t)len, "]");
}

/* Points where the activation is not differentiable. */
static size_t act_kinks(fcl_act_kind kind, double *k)
{
    switch (kind) {
    case FCL_ACT_RELU:
    case FCL_ACT_LEAKY_RELU: k[0] = 0; return 1;
    case FCL_ACT_RELU6: k[0] = 0; k[1] = 6; return 2;
    case FCL_ACT_HARDSWISH:
    case FCL_ACT_HARDSIGMOID: k[0] = -3; k[1] = 3; return 2;
    default: return 0;
    }
}

typedef struct act_fd_ud {
    fcl_act_params p;
    size_t n;
    double kinks[2];
    size_t nk;
} act_fd_ud;

static void act_fd_f(double *y, const double *x, void *ud)
{
    act_fd_ud *u = ud;
    fcl_ref_act_fwd(y, x, u->n, &u->p);
}

static int act_fd_kink(const double *x, size_t i, double h, void *ud)
{
    act_fd_ud *u = ud;
    for (size_t k = 0; k < u->nk; k++)
        if (fabs(x[i] - u->kinks[k]) <= 2 * h) return 1;
    return 0;
}

/* One kind: every shape forward + backward on the device vs the reference, in-place forward on
 * the first shape, and the reference backward vs finite differences. */
static void run_act(fcl_act_kind kind, float slope)
{
    fcl_act_params p = {kind, slope};
    const char *name = fcl_act_name(kind);
    int saves_y = fcl_act_saves_output(kind);
    fcl_ctx *ctx = h_ctx();
    for (size_t si = 0; si < N_ACT_SHAPES; si++) {
        const shape *s = &act_shapes[si];
        char ss[64], what[96];
        shape_str(s, ss, sizeof ss);
        h_case("act %s fwd+bwd %s", name, ss);
        size_t n = h_numel(s->ndim, s->s);
        double *x = h_alloc(n), *y = h_alloc(n), *y_ref = h_alloc(n), *dy = h_alloc(n);
        double *dx0 = h_alloc(n), *dx = h_alloc(n), *dx_ref = h_alloc(n);
        h_rand(x, n, 100 + si, -8, 8);
        h_to_f32(x, n);
        fcl_ref_act_fwd(y_ref, x, n, &p);

        h_buf bx = h_upload(ctx, x, s->ndim, s->s), by = h_zeros(ctx, s->ndim, s->s);
        h_name(&bx, "x");
        h_name(&by, "y");
        H_OK(ctx, fcl_act_fwd(ctx, &by.t, &bx.t, &p));
        h_download(ctx, &by, y);
        h_check_guards(ctx, &bx);
        snprintf(what, sizeof what, "%s fwd %s", name, ss);
        h_expect_close(what, y, y_ref, n, H_TOL_FWD);

        /* backward accumulates into a non-zero dx; saved is y (rounded as stored) or x */
        double *saved = h_dup(saves_y ? y_ref : x, n);
        h_to_f32(saved, n);
        h_rand(dy, n, 200 + si, -1, 1);
        h_to_f32(dy, n);
        h_rand(dx0, n, 300 + si, -1, 1);
        h_to_f32(dx0, n);
        memcpy(dx_ref, dx0, n * sizeof *dx_ref);
        fcl_ref_act_bwd(dx_ref, dy, saved, n, &p);
        h_buf bdx = h_upload(ctx, dx0, s->ndim, s->s), bdy = h_upload(ctx, dy, s->ndim, s->s);
        h_buf bs = h_upload(ctx, saved, s->ndim, s->s);
        h_name(&bdx, "dx");
        H_OK(ctx, fcl_act_bwd(ctx, &bdx.t, &bdy.t, &bs.t, &p));
        h_download(ctx, &bdx, dx);
        snprintf(what, sizeof what, "%s bwd dx %s", name, ss);
        h_expect_close(what, dx, dx_ref, n, H_TOL_BWD);

        if (si == 1) {   /* in place: y == x */
            H_OK(ctx, fcl_act_fwd(ctx, &bx.t, &bx.t, &p));
            h_download(ctx, &bx, y);
            snprintf(what, sizeof what, "%s fwd in place %s", name, ss);
            h_expect_close(what, y, y_ref, n, H_TOL_FWD);
        }
        h_free(ctx, &bx);
        h_free(ctx, &by);
        h_free(ctx, &bdx);
        h_free(ctx, &bdy);
        h_free(ctx, &bs);
        free(x), free(y), free(y_ref), free(dy), free(dx0), free(dx), free(dx_ref), free(saved);
    }

    /* reference backward vs central differences (inputs kept away from the kinks) */
    h_case("act %s reference backward vs finite differences", name);
    act_fd_ud u = {p, 96, {0, 0}, 0};
    u.nk = act_kinks(kind, u.kinks);
    double *x = h_alloc(u.n), *r = h_alloc(u.n), *g = h_alloc(u.n), *y = h_alloc(u.n);
    h_rand_avoid(x, u.n, 7, -8, 8, u.kinks, u.nk, 1e-3);
    h_rand(r, u.n, 8, -1, 1);
    fcl_ref_act_fwd(y, x, u.n, &p);
    fcl_ref_act_bwd(g, r, saves_y ? y : x, u.n, &p);
    char what[64];
    snprintf(what, sizeof what, "%s dx", name);
    h_fd_check(&(h_fd){.what = what, .f = act_fd_f, .kink = act_fd_kink, .ud = &u, .x = x,
                       .nx = u.n, .ny = u.n, .r = r, .grad = g, .samples = 96, .seed = 9});
    free(x), free(r), free(g), free(y);
    h_ctx_free(ctx);
}

/* Finite differences through points exactly at the kinks: without the kink callback the check
 * would compare the central difference 0.5 (or 0.5 + slope / 2) with PyTorch's one-sided
 * convention; with it those points are skipped and counted. */
Test(act, fd_skips_kinks)
{
    const fcl_act_kind kinds[] = {FCL_ACT_RELU, FCL_ACT_LEAKY_RELU, FCL_ACT_RELU6, FCL_ACT_HARDSWISH};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fcl_act_params p = {kinds[k], 0.1f};
        h_case("act %s finite differences with inputs at the kinks", fcl_act_name(p.kind));
        act_fd_ud u = {p, 40, {0, 0}, 0};
        u.nk = act_kinks(p.kind, u.kinks);
        double *x = h_alloc(u.n), *r = h_alloc(u.n), *g = h_alloc(u.n), *y = h_alloc(u.n);
        h_rand_avoid(x, u.n, 11, -8, 8, u.kinks, u.nk, 1e-3);
        for (size_t i = 0; i < u.n; i += 4) x[i] = u.kinks[(i / 4) % u.nk];   /* 10 of 40 at kinks */
        h_rand(r, u.n, 12, -1, 1);
        fcl_ref_act_fwd(y, x, u.n, &p);
        fcl_ref_act_bwd(g, r, fcl_act_saves_output(p.kind) ? y : x, u.n, &p);
        char what[64];
        snprintf(what, sizeof what, "%s dx (kinks skipped)", fcl_act_name(p.kind));
        h_fd_check(&(h_fd){.what = what, .f = act_fd_f, .kink = act_fd_kink, .ud = &u, .x = x,
                           .nx = u.n, .ny = u.n, .r = r, .grad = g, .samples = 40, .seed = 1});
        free(x), free(r), free(g), free(y);
    }
}

Test(act, relu) { run_act(FCL_ACT_RELU, 0); }
Test(act, relu6) { run_act(FCL_ACT_RELU6, 0); }
Test(act, leaky_relu) { run_act(FCL_ACT_LEAKY_RELU, 0.01f); }
Test(act, leaky_relu_slope) { run_act(FCL_ACT_LEAKY_RELU, -0.3f); }
Test(act, sigmoid) { run_act(FCL_ACT_SIGMOID, 0); }
Test(act, tanh) { run_act(FCL_ACT_TANH, 0); }
Test(act, silu) { run_act(FCL_ACT_SILU, 0); }
Test(act, hardswish) { run_act(FCL_ACT_HARDSWISH, 0); }
Test(act, hardsigmoid) { run_act(FCL_ACT_HARDSIGMOID, 0); }
Test(act, gelu) { run_act(FCL_ACT_GELU, 0); }
Test(act, gelu_tanh) { run_act(FCL_ACT_GELU_TANH, 0); }

/* Exact values at and around the kinks, with PyTorch's conventions (relu'(0) = 0,
 * leaky'(0) = slope, relu6'(6) = 0, hardswish'(-3) = -1/2, hardswish'(3) = 3/3 + 1/2), and NaN
 * propagating through the forward as in PyTorch. */
Test(act, kinks_and_nan)
{
    fcl_ctx *ctx = h_ctx();
    const double xs[] = {-3, 0, 3, 6, -0.5, 0.5, 7, -4};
    const size_t n = sizeof xs / sizeof xs[0];
    for (int kind = 0; kind < FCL_ACT_COUNT; kind++) {
        fcl_act_params p = {(fcl_act_kind)kind, 0.25f};
        h_case("act %s exact kink values", fcl_act_name(p.kind));
        double y_ref[8], y[8], ones[8], dx[8], dx_ref[8] = {0};
        for (size_t i = 0; i < n; i++) ones[i] = 1;
        fcl_ref_act_fwd(y_ref, xs, n, &p);
        h_buf bx = h_upload(ctx, xs, 1, &n), by = h_zeros(ctx, 1, &n);
        H_OK(ctx, fcl_act_fwd(ctx, &by.t, &bx.t, &p));
        h_download(ctx, &by, y);
        h_expect_close("kink fwd", y, y_ref, n, H_TOL_FWD);
        const double *saved = fcl_act_saves_output(p.kind) ? y_ref : xs;
        fcl_ref_act_bwd(dx_ref, ones, saved, n, &p);
        h_buf bs = h_upload(ctx, saved, 1, &n), bo = h_upload(ctx, ones, 1, &n), bdx = h_zeros(ctx, 1, &n);
        H_OK(ctx, fcl_act_bwd(ctx, &bdx.t, &bo.t, &bs.t, &p));
        h_download(ctx, &bdx, dx);
        h_expect_close("kink bwd", dx, dx_ref, n, H_TOL_BWD);
        if (p.kind == FCL_ACT_RELU) cr_expect(dx_ref[1] == 0, "relu'(0) must be 0");
        if (p.kind == FCL_ACT_LEAKY_RELU) cr_expect(dx_ref[1] == 0.25, "leaky'(0) must be the slope");
        if (p.kind == FCL_ACT_RELU6) cr_expect(dx_ref[3] == 0 && dx_ref[1] == 0, "relu6'(0) = relu6'(6) = 0");
        if (p.kind == FCL_ACT_HARDSWISH)
            cr_expect(dx_ref[0] == -0.5 && dx_ref[2] == 1.5, "hardswish'(-3) = -0.5, hardswish'(3) = 1.5");

        /* NaN in, NaN out */
        double nanv = NAN, out;
        size_t one = 1;
        h_buf bn = h_upload(ctx, &nanv, 1, &one);
        H_OK(ctx, fcl_act_fwd(ctx, &bn.t, &bn.t, &p));
        h_download(ctx, &bn, &out);
        cr_expect(isnan(out), "%s(NaN) must be NaN, got %g", fcl_act_name(p.kind), out);
        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bs), h_free(ctx, &bo), h_free(ctx, &bdx);
        h_free(ctx, &bn);
    }
    h_ctx_free(ctx);
}

/* ---- PReLU -------------------------------------------------------------------------------------- */

typedef struct prelu_case {
    shape s;
    int shared;   /* one slope for all channels */
} prelu_case;
static const prelu_case prelu_cases[] = {
    {{4, {2, 5, 13, 13}}, 0}, {{4, {1, 3, 7, 7}}, 1}, {{2, {6, 7}}, 0}, {{4, {3, 17, 31, 31}}, 0},
    {{3, {2, 19, 9}}, 1},
};

typedef struct prelu_fd_ud {
    const double *x, *a;
    size_t n, c, inner, na;
    int wrt_a;
} prelu_fd_ud;

static void prelu_fd_f(double *y, const double *v, void *ud)
{
    prelu_fd_ud *u = ud;
    fcl_ref_prelu_fwd(y, u->wrt_a ? u->x : v, u->wrt_a ? v : u->a, u->n, u->c, u->inner, u->na);
}

static int prelu_fd_kink(const double *v, size_t i, double h, void *ud)
{
    prelu_fd_ud *u = ud;
    return !u->wrt_a && fabs(v[i]) <= 2 * h;
}

Test(act, prelu)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t ci = 0; ci < sizeof prelu_cases / sizeof prelu_cases[0]; ci++) {
        const prelu_case *pc = &prelu_cases[ci];
        const shape *s = &pc->s;
        char ss[64], what[96];
        shape_str(s, ss, sizeof ss);
        h_case("prelu %s slopes %s", pc->shared ? "shared" : "per-channel", ss);
        size_t n = h_numel(s->ndim, s->s);
        size_t bn_ = s->s[0], c = s->s[1], inner = n / (bn_ * c), na = pc->shared ? 1 : c;
        double *x = h_alloc(n), *a = h_alloc(na), *y = h_alloc(n), *y_ref = h_alloc(n);
        double *dy = h_alloc(n), *dx0 = h_alloc(n), *dx = h_alloc(n), *dx_ref = h_alloc(n);
        double *da0 = h_alloc(na), *da = h_alloc(na), *da_ref = h_alloc(na);
        h_rand(x, n, 10 + ci, -2, 2);
        h_rand(a, na, 20 + ci, -0.5, 0.5);
        h_rand(dy, n, 30 + ci, -1, 1);
        h_rand(dx0, n, 40 + ci, -1, 1);
        h_rand(da0, na, 50 + ci, -1, 1);
        h_to_f32(x, n), h_to_f32(a, na), h_to_f32(dy, n), h_to_f32(dx0, n), h_to_f32(da0, na);
        fcl_ref_prelu_fwd(y_ref, x, a, bn_, c, inner, na);
        memcpy(dx_ref, dx0, n * sizeof *dx_ref);
        memcpy(da_ref, da0, na * sizeof *da_ref);
        fcl_ref_prelu_bwd(dx_ref, da_ref, dy, x, a, bn_, c, inner, na);

        h_buf bx = h_upload(ctx, x, s->ndim, s->s), ba = h_upload(ctx, a, 1, &na);
        h_buf by = h_zeros(ctx, s->ndim, s->s), bdy = h_upload(ctx, dy, s->ndim, s->s);
        h_buf bdx = h_upload(ctx, dx0, s->ndim, s->s), bda = h_upload(ctx, da0, 1, &na);
        h_name(&by, "y"), h_name(&bdx, "dx"), h_name(&bda, "da");
        H_OK(ctx, fcl_prelu_fwd(ctx, &by.t, &bx.t, &ba.t));
        h_download(ctx, &by, y);
        snprintf(what, sizeof what, "prelu fwd %s", ss);
        h_expect_close(what, y, y_ref, n, H_TOL_FWD);
        H_OK(ctx, fcl_prelu_bwd(ctx, &bdx.t, &bda.t, &bdy.t, &bx.t, &ba.t));
        h_download(ctx, &bdx, dx);
        h_download(ctx, &bda, da);
        snprintf(what, sizeof what, "prelu bwd dx %s", ss);
        h_expect_close(what, dx, dx_ref, n, H_TOL_BWD);
        snprintf(what, sizeof what, "prelu bwd da %s", ss);
        h_expect_close(what, da, da_ref, na, H_TOL_BWD);

        /* determinism: the slope gradient from zero, twice, bit for bit */
        double *z = h_alloc(na), *r1 = h_alloc(na), *r2 = h_alloc(na);
        for (int rep = 0; rep < 2; rep++) {
            h_buf bz = h_upload(ctx, z, 1, &na);
            H_OK(ctx, fcl_prelu_bwd(ctx, NULL, &bz.t, &bdy.t, &bx.t, &ba.t));
            h_download(ctx, &bz, rep ? r2 : r1);
            h_free(ctx, &bz);
        }
        cr_expect(memcmp(r1, r2, na * sizeof *r1) == 0, "prelu da differs between two runs");

        /* FD on a small slice of the same layout: d/dx and d/da */
        if (n <= 4096) {
            double *r = h_alloc(n), *gx = h_alloc(n), *ga = h_alloc(na);
            h_rand(r, n, 60 + ci, -1, 1);
            fcl_ref_prelu_bwd(gx, ga, r, x, a, bn_, c, inner, na);
            prelu_fd_ud u = {x, a, bn_, c, inner, na, 0};
            double *xv = h_dup(x, n), *av = h_dup(a, na);
            snprintf(what, sizeof what, "prelu dx %s", ss);
            h_fd_check(&(h_fd){.what = what, .f = prelu_fd_f, .kink = prelu_fd_kink, .ud = &u,
                               .x = xv, .nx = n, .ny = n, .r = r, .grad = gx, .seed = ci});
            u.wrt_a = 1;
            snprintf(what, sizeof what, "prelu da %s", ss);
            h_fd_check(&(h_fd){.what = what, .f = prelu_fd_f, .ud = &u, .x = av, .nx = na, .ny = n,
                               .r = r, .grad = ga, .seed = ci});
            free(r), free(gx), free(ga), free(xv), free(av);
        }
        h_free(ctx, &bx), h_free(ctx, &ba), h_free(ctx, &by), h_free(ctx, &bdy);
        h_free(ctx, &bdx), h_free(ctx, &bda);
        free(x), free(a), free(y), free(y_ref), free(dy), free(dx0), free(dx), free(dx_ref);
        free(da0), free(da), free(da_ref), free(z), free(r1), free(r2);
    }
    h_ctx_free(ctx);
}

/* ---- errors --------------------------------------------------------------------------------------- */

Test(act, names)
{
    h_case("act names round trip");
    for (int k = 0; k < FCL_ACT_COUNT; k++) {
        fcl_act_kind back;
        cr_assert(fcl_act_name((fcl_act_kind)k) != NULL);
        cr_expect(fcl_act_parse(fcl_act_name((fcl_act_kind)k), &back) == 0 && back == (fcl_act_kind)k);
    }
    fcl_act_kind s;
    cr_expect(fcl_act_parse("SWISH", &s) == 0 && s == FCL_ACT_SILU);
    cr_expect(fcl_act_parse("gelu", &s) == 0 && s == FCL_ACT_GELU);
    cr_expect(fcl_act_parse("gelu_erf", &s) == -1);
    cr_expect(fcl_act_name(FCL_ACT_COUNT) == NULL);
}

Test(act, errors)
{
    h_case("act argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t s6[] = {2, 3}, s7[] = {7}, s3[] = {3}, s2[] = {2};
    double v[7] = {0};
    h_buf a6 = h_upload(ctx, v, 2, s6), b7 = h_upload(ctx, v, 1, s7), c3 = h_upload(ctx, v, 1, s3);
    h_buf d2 = h_upload(ctx, v, 1, s2), e6 = h_upload(ctx, v, 2, s6);
    fcl_act_params p = {FCL_ACT_RELU, 0};
    fcl_status st = fcl_act_fwd(ctx, &b7.t, &a6.t, &p);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "fcl_act_fwd"), "numel mismatch: %s",
              fcl_ctx_errmsg(ctx));
    cr_expect(fcl_act_fwd(ctx, &a6.t, NULL, &p) == FCL_ERR_INVALID_ARG);
    fcl_act_params bad = {(fcl_act_kind)99, 0};
    cr_expect(fcl_act_fwd(ctx, &e6.t, &a6.t, &bad) == FCL_ERR_INVALID_ARG);
    cr_expect(fcl_act_bwd(ctx, &a6.t, &a6.t, &e6.t, &p) == FCL_ERR_INVALID_ARG, "dx == dy must be refused");
    /* slopes: 2 for 3 channels */
    cr_expect(fcl_prelu_fwd(ctx, &e6.t, &a6.t, &d2.t) == FCL_ERR_SHAPE, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_prelu_fwd(ctx, &e6.t, &a6.t, &c3.t) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_prelu_bwd(ctx, NULL, &d2.t, &e6.t, &a6.t, &c3.t) == FCL_ERR_SHAPE, "da of 2 for 3 slopes");
    h_free(ctx, &a6), h_free(ctx, &b7), h_free(ctx, &c3), h_free(ctx, &d2), h_free(ctx, &e6);
    h_ctx_free(ctx);
}
