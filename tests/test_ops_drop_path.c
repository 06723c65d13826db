/* tests/test_ops_drop_path.c: drop path (stochastic depth): OpenCL vs reference forward and
 * backward, per-sample masks, keep rate, seeding, inference identity, FD, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_eltwise.h>

#include "helpers/harness.h"
#include "ref/ref_eltwise.h"

typedef struct shape {
    int ndim;
    size_t s[4];
} shape;
/* odd per-sample sizes (147, 13, 1) so samples straddle the kernel's vector chunks */
static const shape shapes[] = {{4, {5, 3, 7, 7}}, {2, {7, 13}}, {4, {9, 1, 1, 1}}, {4, {33, 5, 3, 3}}};

Test(drop_path, matches_reference_per_sample)
{
    fcl_ctx *ctx = h_ctx();
    const float ps[] = {0.0f, 0.2f, 0.5f, 0.9f, 1.0f};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++)
            for (int training = 0; training <= 1; training++) {
                const shape *s = &shapes[si];
                size_t n = h_numel(s->ndim, s->s), per = n / s->s[0];
                fcl_dropout_params p = {ps[pi], 0xabcdefull + si * 7 + pi, training};
                h_case("drop path [%zu x %zu] p=%.1f %s", s->s[0], per, (double)p.p, training ? "train" : "eval");
                double *x = h_alloc(n), *y = h_alloc(n), *y_ref = h_alloc(n), *dy = h_alloc(n);
                double *dx0 = h_alloc(n), *dx = h_alloc(n), *dx_ref = h_alloc(n);
                h_rand(x, n, 1 + si, -2, 2), h_to_f32(x, n);
                h_rand(dy, n, 2 + si, -1, 1), h_to_f32(dy, n);
                h_rand(dx0, n, 3 + si, -1, 1), h_to_f32(dx0, n);
                fcl_ref_drop_path_fwd(y_ref, x, n, per, &p);
                memcpy(dx_ref, dx0, n * sizeof *dx);
                fcl_ref_drop_path_bwd(dx_ref, dy, n, per, &p);
                h_buf bx = h_upload(ctx, x, s->ndim, s->s), by = h_zeros(ctx, s->ndim, s->s);
                h_buf bdy = h_upload(ctx, dy, s->ndim, s->s), bdx = h_upload(ctx, dx0, s->ndim, s->s);
                h_name(&by, "y"), h_name(&bdx, "dx");
                H_OK(ctx, fcl_drop_path_fwd(ctx, &by.t, &bx.t, &p));
                H_OK(ctx, fcl_drop_path_bwd(ctx, &bdx.t, &bdy.t, &p));
                h_download(ctx, &by, y), h_download(ctx, &bdx, dx);
                h_check_guards(ctx, &bx), h_check_guards(ctx, &bdy);
                h_expect_close("drop path fwd", y, y_ref, n, H_TOL_FWD);
                h_expect_close("drop path bwd dx", dx, dx_ref, n, H_TOL_BWD);
                /* whole samples: all of a sample is scaled by the same factor, 0 or 1 / (1 - p) */
                double keep = training ? (p.p < 1 ? 1.0 / (1.0 - p.p) : 0.0) : 1.0;
                for (size_t b = 0; b < s->s[0]; b++) {
                    int kept = !training || fcl_drop_path_keep(p.seed, b, p.p);
                    for (size_t i = b * per; i < (b + 1) * per; i++)
                        if (fabs(y[i] - x[i] * (kept ? keep : 0.0)) > 1e-6 * (1 + fabs(x[i]))) {
                            cr_expect(0, "sample %zu element %zu: got %g, x %g, kept %d", b, i, y[i], x[i], kept);
                            break;
                        }
                }
                /* in place */
                H_OK(ctx, fcl_drop_path_fwd(ctx, &bx.t, &bx.t, &p));
                h_download(ctx, &bx, y);
                h_expect_close("drop path fwd in place", y, y_ref, n, H_TOL_FWD);
                h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bdx);
                free(x), free(y), free(y_ref), free(dy), free(dx0), free(dx), free(dx_ref);
            }
    h_ctx_free(ctx);
}

/* The keep rate over many samples is 1 - p, samples are independent of each other, and the mask
 * is a function of the seed: the same seed gives the same mask, another seed another. */
Test(drop_path, keep_rate_and_seeding)
{
    h_case("drop path keep rate and seeding");
    const size_t n = 20000;
    const float ps[] = {0.1f, 0.3f, 0.5f};
    for (size_t q = 0; q < 3; q++) {
        size_t kept = 0, same = 0, pairs = 0;
        for (size_t b = 0; b < n; b++) {
            int k1 = fcl_drop_path_keep(42, b, ps[q]);
            kept += (size_t)k1;
            same += (size_t)(k1 == fcl_drop_path_keep(43, b, ps[q]));
            pairs += (size_t)(b > 0 && k1 && fcl_drop_path_keep(42, b - 1, ps[q]));
        }
        double rate = (double)kept / n, want = 1.0 - ps[q];
        /* 5 standard deviations of a binomial proportion */
        double sd = sqrt(want * (1 - want) / n);
        cr_expect(fabs(rate - want) < 5 * sd, "p=%.1f: keep rate %.4f, want %.4f", (double)ps[q], rate, want);
        cr_expect(fabs((double)pairs / n - want * want) < 5 * sd, "neighbouring samples are correlated");
        cr_expect(same < n - n / 20, "seeds 42 and 43 give (nearly) the same mask");
    }
    cr_expect(fcl_drop_path_keep(7, 3, 0.4f) == fcl_dropout_keep(7, 3, 0.4f));
}

typedef struct dp_fd_ud {
    size_t n, per;
    fcl_dropout_params p;
} dp_fd_ud;

static void dp_fd_f(double *y, const double *x, void *ud)
{
    dp_fd_ud *u = ud;
    fcl_ref_drop_path_fwd(y, x, u->n, u->per, &u->p);
}

Test(drop_path, reference_fd)
{
    h_case("drop path reference backward vs finite differences");
    dp_fd_ud u = {60, 6, {0.4f, 99, 1}};
    double *x = h_alloc(u.n), *r = h_alloc(u.n), *g = h_alloc(u.n);
    h_rand(x, u.n, 1, -2, 2), h_rand(r, u.n, 2, -1, 1);
    fcl_ref_drop_path_bwd(g, r, u.n, u.per, &u.p);
    h_fd_check(&(h_fd){.what = "drop path dx", .f = dp_fd_f, .ud = &u, .x = x, .nx = u.n, .ny = u.n, .r = r,
                       .grad = g, .samples = 60, .seed = 3});
    free(x), free(r), free(g);
}

Test(drop_path, errors)
{
    h_case("drop path argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t s6[] = {2, 3}, s32[] = {3, 2};
    double v[6] = {0};
    h_buf a = h_upload(ctx, v, 2, s6), b = h_upload(ctx, v, 2, s32);
    fcl_dropout_params p = {0.5f, 1, 1}, bad = {1.5f, 1, 1};
    cr_expect(fcl_drop_path_fwd(ctx, &b.t, &a.t, &p) == FCL_ERR_SHAPE, "[3, 2] vs [2, 3]: %s", fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_drop_path_fwd") != NULL);
    cr_expect(fcl_drop_path_fwd(ctx, &a.t, &a.t, &bad) == FCL_ERR_INVALID_ARG, "p > 1");
    cr_expect(fcl_drop_path_bwd(ctx, &a.t, &a.t, &p) == FCL_ERR_INVALID_ARG, "dx == dy must be refused");
    cr_expect(fcl_drop_path_fwd(ctx, &a.t, NULL, &p) == FCL_ERR_INVALID_ARG);
    h_free(ctx, &a), h_free(ctx, &b);
    h_ctx_free(ctx);
}
