/* tests/test_ops_attn.c: r-SoftMax and radix sums (ResNeSt split attention): OpenCL vs reference
 * forward and every backward output (reduction group sizes forced), reference vs finite
 * differences, the layout against a hand-computed case, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
#include "ops/attn_internal.h"
#include "ref/ref_attn.h"

static double *rand_f32(size_t n, uint64_t seed, double lo, double hi)
{
    double *v = h_alloc(n);
    h_rand(v, n, seed, lo, hi);
    h_to_f32(v, n);
    return v;
}

/* ---- r-SoftMax ---------------------------------------------------------------------------------- */

typedef struct rs_case {
    size_t b, radix, card, rest;
    int ndim4;   /* [B, K, 1, 1] instead of [B, K] */
} rs_case;
static const rs_case rs_cases[] = {
    {2, 2, 1, 64, 1}, {3, 2, 2, 13, 0}, {1, 4, 3, 5, 1}, {5, 1, 1, 17, 0}, {2, 1, 2, 7, 1}, {4, 3, 1, 1, 0},
};

Test(attn, rsoftmax)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t ci = 0; ci < sizeof rs_cases / sizeof rs_cases[0]; ci++) {
        const rs_case *c = &rs_cases[ci];
        size_t per = c->radix * c->card * c->rest, n = c->b * per;
        size_t sh[4] = {c->b, per, 1, 1};
        int nd = c->ndim4 ? 4 : 2;
        h_case("rsoftmax B %zu radix %zu card %zu rest %zu", c->b, c->radix, c->card, c->rest);
        double *x = rand_f32(n, 1 + ci, -6, 6), *y = h_alloc(n), *y_ref = h_alloc(n);
        fcl_ref_rsoftmax_fwd(y_ref, x, c->b, c->radix, c->card, c->rest);
        h_buf bx = h_upload(ctx, x, nd, sh), by = h_zeros(ctx, nd, sh);
        h_name(&by, "y");
        H_OK(ctx, fcl_rsoftmax_fwd(ctx, &by.t, &bx.t, (int)c->radix, (int)c->card));
        h_download(ctx, &by, y);
        h_expect_close("rsoftmax fwd", y, y_ref, n, H_TOL_FWD);

        double *ys = h_dup(y_ref, n);
        h_to_f32(ys, n);
        double *dy = rand_f32(n, 20 + ci, -1, 1), *dx0 = rand_f32(n, 30 + ci, -1, 1);
        double *dx_ref = h_dup(dx0, n), *dx = h_alloc(n);
        fcl_ref_rsoftmax_bwd(dx_ref, dy, ys, c->b, c->radix, c->card, c->rest);
        h_buf bys = h_upload(ctx, ys, nd, sh), bdy = h_upload(ctx, dy, nd, sh), bdx = h_upload(ctx, dx0, nd, sh);
        h_name(&bdx, "dx");
        H_OK(ctx, fcl_rsoftmax_bwd(ctx, &bdx.t, &bdy.t, &bys.t, (int)c->radix, (int)c->card));
        h_download(ctx, &bdx, dx);
        h_check_guards(ctx, &bys), h_check_guards(ctx, &bdy);
        h_expect_close("rsoftmax bwd dx", dx, dx_ref, n, H_TOL_BWD);
        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bys), h_free(ctx, &bdy), h_free(ctx, &bdx);
        free(x), free(y), free(y_ref), free(ys), free(dy), free(dx0), free(dx_ref), free(dx);
    }
    h_ctx_free(ctx);
}

/* The layout, by hand: B 1, card 2, radix 2, rest 1. x = [g0r0, g0r1, g1r0, g1r1] = [0, ln 3, 1, 1]:
 * y = [g0r0, g1r0, g0r1, g1r1] = [1/4, 1/2, 3/4, 1/2]. Large logits must not overflow. */
Test(attn, rsoftmax_layout_by_hand)
{
    h_case("rsoftmax layout by hand");
    const double x[4] = {0, log(3.0), 1, 1}, want[4] = {0.25, 0.5, 0.75, 0.5};
    double y[4];
    fcl_ref_rsoftmax_fwd(y, x, 1, 2, 2, 1);
    for (int i = 0; i < 4; i++) cr_expect(fabs(y[i] - want[i]) < 1e-12, "y[%d] = %g, want %g", i, y[i], want[i]);
    fcl_ctx *ctx = h_ctx();
    const double big[4] = {1000, 999, -1000, 80};
    size_t sh[2] = {1, 4};
    h_buf bx = h_upload(ctx, big, 2, sh), by = h_zeros(ctx, 2, sh);
    H_OK(ctx, fcl_rsoftmax_fwd(ctx, &by.t, &bx.t, 2, 2));
    h_download(ctx, &by, y);
    double e = exp(-1.0);
    cr_expect(fabs(y[0] - 1 / (1 + e)) < 1e-6 && fabs(y[2] - e / (1 + e)) < 1e-6, "got %g %g", y[0], y[2]);
    cr_expect(y[1] < 1e-30 && fabs(y[3] - 1) < 1e-6, "got %g %g", y[1], y[3]);
    h_free(ctx, &bx), h_free(ctx, &by);
    h_ctx_free(ctx);
}

typedef struct rs_fd_ud {
    size_t b, radix, card, rest;
} rs_fd_ud;

static void rs_fd_f(double *y, const double *x, void *ud)
{
    rs_fd_ud *u = ud;
    fcl_ref_rsoftmax_fwd(y, x, u->b, u->radix, u->card, u->rest);
}

Test(attn, rsoftmax_reference_fd)
{
    const rs_fd_ud cases[] = {{2, 2, 2, 3}, {1, 4, 1, 5}, {2, 1, 3, 2}};
    for (size_t ci = 0; ci < 3; ci++) {
        rs_fd_ud u = cases[ci];
        size_t n = u.b * u.radix * u.card * u.rest;
        h_case("rsoftmax reference vs finite differences radix %zu", u.radix);
        double *x = rand_f32(n, 40 + ci, -3, 3), *r = rand_f32(n, 50 + ci, -1, 1);
        double *y = h_alloc(n), *g = h_alloc(n);
        fcl_ref_rsoftmax_fwd(y, x, u.b, u.radix, u.card, u.rest);
        fcl_ref_rsoftmax_bwd(g, r, y, u.b, u.radix, u.card, u.rest);
        char what[64];
        snprintf(what, sizeof what, "rsoftmax dx radix %zu", u.radix);
        h_fd_check(&(h_fd){.what = what, .f = rs_fd_f, .ud = &u, .x = x, .nx = n, .ny = n, .r = r, .grad = g,
                           .samples = 48, .seed = ci});
        free(x), free(r), free(y), free(g);
    }
}

/* ---- radix sums --------------------------------------------------------------------------------- */

typedef struct rsum_case {
    size_t b, radix, c, h, w;
} rsum_case;
static const rsum_case rsum_cases[] = {
    {2, 2, 5, 7, 7}, {3, 2, 17, 13, 11}, {1, 4, 3, 5, 9}, {2, 1, 6, 3, 3}, {4, 2, 9, 1, 1},
};
static const int wgs[] = {1, 4, 64};

Test(attn, radix_sum)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t ci = 0; ci < sizeof rsum_cases / sizeof rsum_cases[0]; ci++)
        for (int weighted = 0; weighted <= 1; weighted++) {
            const rsum_case *c = &rsum_cases[ci];
            size_t hw = c->h * c->w, nx = c->b * c->radix * c->c * hw, ny = c->b * c->c * hw;
            size_t na = c->b * c->radix * c->c;
            size_t xs[4] = {c->b, c->radix * c->c, c->h, c->w}, ys[4] = {c->b, c->c, c->h, c->w};
            size_t as[4] = {c->b, c->radix * c->c, 1, 1};
            char what[128];
            h_case("radix sum %s B %zu radix %zu C %zu %zux%zu", weighted ? "weighted" : "plain", c->b, c->radix,
                   c->c, c->h, c->w);
            double *x = rand_f32(nx, 1 + ci, -2, 2), *a = weighted ? rand_f32(na, 2 + ci, 0, 1) : NULL;
            double *y = h_alloc(ny), *y_ref = h_alloc(ny);
            fcl_ref_radix_sum_fwd(y_ref, x, a, c->b, c->radix, c->c, hw);
            h_buf bx = h_upload(ctx, x, 4, xs), by = h_zeros(ctx, 4, ys);
            h_buf ba = weighted ? h_upload(ctx, a, 4, as) : (h_buf){0};
            h_name(&by, "y");
            H_OK(ctx, fcl_radix_sum_fwd(ctx, &by.t, &bx.t, weighted ? &ba.t : NULL, (int)c->radix));
            h_download(ctx, &by, y);
            snprintf(what, sizeof what, "radix sum fwd %s", weighted ? "weighted" : "plain");
            h_expect_close(what, y, y_ref, ny, H_TOL_FWD);

            double *dy = rand_f32(ny, 3 + ci, -1, 1), *dx0 = rand_f32(nx, 4 + ci, -1, 1);
            double *da0 = rand_f32(na, 5 + ci, -1, 1), *dx_ref = h_dup(dx0, nx), *da_ref = h_dup(da0, na);
            double *dx = h_alloc(nx), *da = h_alloc(na);
            fcl_ref_radix_sum_bwd(dx_ref, weighted ? da_ref : NULL, dy, x, a, c->b, c->radix, c->c, hw);
            h_buf bdy = h_upload(ctx, dy, 4, ys);
            for (size_t wi = 0; wi < (weighted ? 3u : 1u); wi++) {
                h_buf bdx = h_upload(ctx, dx0, 4, xs), bda = h_upload(ctx, da0, 4, as);
                h_name(&bdx, "dx"), h_name(&bda, "da");
                H_OK(ctx, fcl_radix_sum_bwd_wg(ctx, &bdx.t, weighted ? &bda.t : NULL, &bdy.t, &bx.t,
                                               weighted ? &ba.t : NULL, (int)c->radix, wgs[wi]));
                h_download(ctx, &bdx, dx), h_download(ctx, &bda, da);
                snprintf(what, sizeof what, "radix sum bwd dx wg %d", wgs[wi]);
                h_expect_close(what, dx, dx_ref, nx, H_TOL_BWD);
                snprintf(what, sizeof what, "radix sum bwd da wg %d", wgs[wi]);
                h_expect_close(what, da, weighted ? da_ref : da0, na, H_TOL_BWD);
                h_free(ctx, &bdx), h_free(ctx, &bda);
            }
            h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy);
            if (weighted) h_free(ctx, &ba);
            free(x), free(a), free(y), free(y_ref), free(dy), free(dx0), free(da0), free(dx_ref), free(da_ref);
            free(dx), free(da);
        }
    h_ctx_free(ctx);
}

typedef struct rsum_fd_ud {
    const double *x, *a;
    size_t b, radix, c, hw;
    int wrt_a;
} rsum_fd_ud;

static void rsum_fd_f(double *y, const double *v, void *ud)
{
    rsum_fd_ud *u = ud;
    fcl_ref_radix_sum_fwd(y, u->wrt_a ? u->x : v, u->wrt_a ? v : u->a, u->b, u->radix, u->c, u->hw);
}

Test(attn, radix_sum_reference_fd)
{
    h_case("radix sum reference vs finite differences");
    const size_t b = 2, radix = 3, c = 2, hw = 5, nx = b * radix * c * hw, ny = b * c * hw, na = b * radix * c;
    double *x = rand_f32(nx, 1, -2, 2), *a = rand_f32(na, 2, 0, 1), *r = rand_f32(ny, 3, -1, 1);
    double *gx = h_alloc(nx), *ga = h_alloc(na), *xv = h_dup(x, nx), *av = h_dup(a, na);
    fcl_ref_radix_sum_bwd(gx, ga, r, x, a, b, radix, c, hw);
    rsum_fd_ud u = {x, a, b, radix, c, hw, 0};
    h_fd_check(&(h_fd){.what = "radix sum dx", .f = rsum_fd_f, .ud = &u, .x = xv, .nx = nx, .ny = ny, .r = r,
                       .grad = gx, .seed = 4});
    u.wrt_a = 1;
    h_fd_check(&(h_fd){.what = "radix sum da", .f = rsum_fd_f, .ud = &u, .x = av, .nx = na, .ny = ny, .r = r,
                       .grad = ga, .seed = 5});
    free(x), free(a), free(r), free(gx), free(ga), free(xv), free(av);
}

Test(attn, errors)
{
    h_case("attn argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t s6[] = {2, 6}, s4[] = {2, 4}, x4[] = {2, 6, 2, 2}, y4[] = {2, 3, 2, 2}, y5[] = {2, 4, 2, 2};
    double v[48] = {0};
    h_buf a = h_upload(ctx, v, 2, s6), b = h_zeros(ctx, 2, s6), c = h_upload(ctx, v, 2, s4);
    h_buf x = h_upload(ctx, v, 4, x4), y = h_zeros(ctx, 4, y4), yb = h_zeros(ctx, 4, y5);
    cr_expect(fcl_rsoftmax_fwd(ctx, &b.t, &a.t, 4, 1) == FCL_ERR_SHAPE, "6 per sample, radix 4: %s",
              fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_rsoftmax_fwd") != NULL);
    cr_expect(fcl_rsoftmax_fwd(ctx, &a.t, &a.t, 2, 1) == FCL_ERR_INVALID_ARG, "in place must be refused");
    cr_expect(fcl_rsoftmax_fwd(ctx, &b.t, &a.t, 0, 1) == FCL_ERR_INVALID_ARG, "radix 0");
    cr_expect(fcl_rsoftmax_fwd(ctx, &c.t, &a.t, 2, 1) == FCL_ERR_SHAPE, "numel mismatch");
    cr_expect(fcl_radix_sum_fwd(ctx, &yb.t, &x.t, NULL, 2) == FCL_ERR_SHAPE, "C 4 for 6 / radix 2: %s",
              fcl_ctx_errmsg(ctx));
    cr_expect(fcl_radix_sum_fwd(ctx, &y.t, &x.t, &c.t, 2) == FCL_ERR_SHAPE, "a of 8 for 12");
    cr_expect(fcl_radix_sum_fwd(ctx, &y.t, &x.t, &a.t, 2) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_radix_sum_bwd(ctx, NULL, &b.t, &y.t, &x.t, NULL, 2) == FCL_ERR_INVALID_ARG, "da without a");
    h_free(ctx, &a), h_free(ctx, &b), h_free(ctx, &c), h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &yb);
    h_ctx_free(ctx);
}
