/* tests/test_ops_drop_path.c: drop path (stochastic depth) as an op-driver descriptor (OpenCL vs
 * reference forward and backward, reference backward vs FD), per-sample masks, in-place use, keep
 * rate, seeding, inference identity, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_eltwise.h>

#include "helpers/opcheck.h"
#include "ref/ref_eltwise.h"

typedef oc_shape shape;
/* odd per-sample sizes (147, 13, 1) so samples straddle the kernel's vector chunks; the last one
 * is the reference vs finite differences */
static const shape shapes[] = {{4, {5, 3, 7, 7}}, {2, {7, 13}}, {4, {9, 1, 1, 1}}, {4, {33, 5, 3, 3}}, {2, {10, 6}}};
static const float probs[] = {0.0f, 0.2f, 0.5f, 0.9f, 1.0f};
#define N_DEVICE (4 * 5 * 2)

enum { X, Y, DY, DX };

static size_t dp_per(const oc_case *c) { return h_numel(c->arg[X].ndim, c->arg[X].shape) / c->arg[X].shape[0]; }

static fcl_status dp_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_drop_path_fwd(ctx, t[Y], t[X], OC_P(c, fcl_dropout_params));
}

static fcl_status dp_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_drop_path_bwd(ctx, t[DX], t[DY], OC_P(c, fcl_dropout_params));
}

static void dp_ref_fwd(double *const *h, const oc_case *c)
{
    size_t n = h_numel(c->arg[X].ndim, c->arg[X].shape);
    fcl_ref_drop_path_fwd(h[Y], h[X], n, dp_per(c), OC_P(c, fcl_dropout_params));
}

static void dp_ref_bwd(double *const *h, const oc_case *c)
{
    size_t n = h_numel(c->arg[X].ndim, c->arg[X].shape);
    fcl_ref_drop_path_bwd(h[DX], h[DY], n, dp_per(c), OC_P(c, fcl_dropout_params));
}

/* whole samples: all of a sample is scaled by the same factor, 0 or 1 / (1 - p); then in place */
static void dp_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    const fcl_dropout_params *p = OC_P(c, fcl_dropout_params);
    size_t n = b[X].numel, per = dp_per(c);
    double *y = h_alloc(n), keep = p->training ? (p->p < 1 ? 1.0 / (1.0 - p->p) : 0.0) : 1.0;
    h_download(ctx, &b[Y], y);
    for (size_t s = 0; s < c->arg[X].shape[0]; s++) {
        int kept = !p->training || fcl_drop_path_keep(p->seed, s, p->p);
        for (size_t i = s * per; i < (s + 1) * per; i++)
            if (fabs(y[i] - h[X][i] * (kept ? keep : 0.0)) > 1e-6 * (1 + fabs(h[X][i]))) {
                cr_expect(0, "sample %zu element %zu: got %g, x %g, kept %d", s, i, y[i], h[X][i], kept);
                break;
            }
    }
    H_OK(ctx, fcl_drop_path_fwd(ctx, &b[X].t, &b[X].t, p));
    h_download(ctx, &b[X], y);
    h_expect_close("drop path fwd in place", y, want[Y], n, H_TOL_FWD);
    free(y);
}

/* every shape x every p x train / eval, then the reference vs FD (p 0.4, 60 samples) */
static int dp_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i > N_DEVICE) return 0;
    size_t si = i / 10, pi = (i / 2) % 5;
    fcl_dropout_params *p = OC_P(c, fcl_dropout_params);
    *p = i == N_DEVICE ? (fcl_dropout_params){0.4f, 99, 1}
                       : (fcl_dropout_params){probs[pi], 0xabcdefull + si * 7 + pi, (int)(i % 2)};
    const shape *s = &shapes[si];
    oc_arg_set(c, X, "x", OC_IN, s->ndim, s->s, -2, 2);
    oc_arg_set(c, Y, "y", OC_OUT, s->ndim, s->s, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, s->ndim, s->s, -1, 1);
    oc_arg_set(c, DX, "dx", OC_GRAD, s->ndim, s->s, -1, 1);
    snprintf(c->what, sizeof c->what, "drop path [%zu x %zu] p=%.1f %s", s->s[0], dp_per(c), (double)p->p,
             p->training ? "train" : "eval");
    if (i == N_DEVICE) {
        c->device = 0;
        oc_fd_add(c, X, Y, DY, DX, 60, NULL);
    }
    return 1;
}

Test(drop_path, matches_reference_per_sample)
{
    oc_run(&(oc_op){.name = "drop path", .gen = dp_gen, .dev_fwd = dp_dev_fwd, .dev_bwd = dp_dev_bwd,
                    .ref_fwd = dp_ref_fwd, .ref_bwd = dp_ref_bwd, .extra = dp_extra});
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
