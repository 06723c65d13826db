/* tests/test_ops_attn.c: r-SoftMax and radix sums (ResNeSt split attention) as op-driver
 * descriptors (OpenCL vs reference forward and every backward output, reduction group sizes
 * forced; reference vs finite differences), the layout against a hand-computed case, argument
 * errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "ops/attn_internal.h"
#include "ref/ref_attn.h"

/* ---- r-SoftMax: x, y, dy, saved y, dx ------------------------------------------------------------ */

typedef struct rs_case {
    size_t b, radix, card, rest;
    int ndim4;   /* [B, K, 1, 1] instead of [B, K] */
} rs_case;
static const rs_case rs_cases[] = {
    {2, 2, 1, 64, 1}, {3, 2, 2, 13, 0}, {1, 4, 3, 5, 1}, {5, 1, 1, 17, 0}, {2, 1, 2, 7, 1}, {4, 3, 1, 1, 0},
    /* the reference vs finite differences */
    {2, 2, 2, 3, 0}, {1, 4, 1, 5, 0}, {2, 1, 3, 2, 0},
};
#define N_RS_DEVICE 6
#define N_RS (sizeof rs_cases / sizeof rs_cases[0])

enum { X, Y, DY, SAVED, DX };

static size_t rs_n(const oc_case *c) { return h_numel(c->arg[X].ndim, c->arg[X].shape); }

/* the backward reads the saved output: as the device stores it (FD: the exact one) */
static void rs_fill(double *const *h, const oc_case *c)
{
    const rs_case *u = OC_P(c, rs_case);
    fcl_ref_rsoftmax_fwd(h[SAVED], h[X], u->b, u->radix, u->card, u->rest);
    if (c->device) h_to_f32(h[SAVED], rs_n(c));
}

static fcl_status rs_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const rs_case *u = OC_P(c, rs_case);
    return fcl_rsoftmax_fwd(ctx, t[Y], t[X], (int)u->radix, (int)u->card);
}

static fcl_status rs_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const rs_case *u = OC_P(c, rs_case);
    return fcl_rsoftmax_bwd(ctx, t[DX], t[DY], t[SAVED], (int)u->radix, (int)u->card);
}

static void rs_ref_fwd(double *const *h, const oc_case *c)
{
    const rs_case *u = OC_P(c, rs_case);
    fcl_ref_rsoftmax_fwd(h[Y], h[X], u->b, u->radix, u->card, u->rest);
}

static void rs_ref_bwd(double *const *h, const oc_case *c)
{
    const rs_case *u = OC_P(c, rs_case);
    fcl_ref_rsoftmax_bwd(h[DX], h[DY], h[SAVED], u->b, u->radix, u->card, u->rest);
}

static int rs_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= N_RS) return 0;
    const rs_case *u = &rs_cases[i];
    *OC_P(c, rs_case) = *u;
    size_t sh[4] = {u->b, u->radix * u->card * u->rest, 1, 1};
    int nd = u->ndim4 ? 4 : 2, fd = i >= N_RS_DEVICE;
    oc_arg_set(c, X, "x", OC_IN, nd, sh, fd ? -3 : -6, fd ? 3 : 6);
    oc_arg_set(c, Y, "y", OC_OUT, nd, sh, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, nd, sh, -1, 1);
    oc_arg_set(c, SAVED, "y saved", OC_IN, nd, sh, 0, 0);
    oc_arg_set(c, DX, "dx", OC_GRAD, nd, sh, -1, 1);
    snprintf(c->what, sizeof c->what, "rsoftmax B %zu radix %zu card %zu rest %zu", u->b, u->radix, u->card, u->rest);
    if (fd) {
        c->device = 0;
        oc_fd_add(c, X, Y, DY, DX, 48, NULL);
    }
    return 1;
}

Test(attn, rsoftmax)
{
    oc_run(&(oc_op){.name = "rsoftmax", .gen = rs_gen, .fill = rs_fill, .dev_fwd = rs_dev_fwd, .dev_bwd = rs_dev_bwd,
                    .ref_fwd = rs_ref_fwd, .ref_bwd = rs_ref_bwd});
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

/* ---- radix sums: x, attention a (weighted), y, dy, dx, da -------------------------------------------- */

typedef struct rsum_case {
    size_t b, radix, c, h, w;
} rsum_case;
static const rsum_case rsum_cases[] = {
    {2, 2, 5, 7, 7}, {3, 2, 17, 13, 11}, {1, 4, 3, 5, 9}, {2, 1, 6, 3, 3}, {4, 2, 9, 1, 1},
};
#define N_RSUM (sizeof rsum_cases / sizeof rsum_cases[0])
static const int wgs[] = {1, 4, 64};

enum { RX, RA, RY, RDY, RDX, RDA };

typedef struct rsum_tc {
    rsum_case s;
    int weighted, wg;
} rsum_tc;

static fcl_status rsum_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_radix_sum_fwd(ctx, t[RY], t[RX], t[RA], (int)OC_P(c, rsum_tc)->s.radix);
}

/* plain: da is an input passed as NULL (must stay as it was) */
static fcl_status rsum_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const rsum_tc *u = OC_P(c, rsum_tc);
    return fcl_radix_sum_bwd_wg(ctx, t[RDX], u->weighted ? t[RDA] : NULL, t[RDY], t[RX], t[RA], (int)u->s.radix,
                                u->wg);
}

static void rsum_ref_fwd(double *const *h, const oc_case *c)
{
    const rsum_case *s = &OC_P(c, rsum_tc)->s;
    fcl_ref_radix_sum_fwd(h[RY], h[RX], h[RA], s->b, s->radix, s->c, s->h * s->w);
}

static void rsum_ref_bwd(double *const *h, const oc_case *c)
{
    const rsum_tc *u = OC_P(c, rsum_tc);
    const rsum_case *s = &u->s;
    fcl_ref_radix_sum_bwd(h[RDX], u->weighted ? h[RDA] : NULL, h[RDY], h[RX], h[RA], s->b, s->radix, s->c,
                          s->h * s->w);
}

/* every case plain (the tuned group size) and weighted (every group size), then the reference vs FD */
static int rsum_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    rsum_tc u = {{2, 3, 2, 5, 1}, 1, 0};   /* FD: B 2, radix 3, C 2, 5 pixels */
    int fd = i == 4 * N_RSUM;
    if (i > 4 * N_RSUM) return 0;
    if (!fd) u = (rsum_tc){rsum_cases[i / 4], (i % 4) > 0, i % 4 ? wgs[i % 4 - 1] : wgs[0]};
    *OC_P(c, rsum_tc) = u;
    const rsum_case *s = &u.s;
    size_t xs[4] = {s->b, s->radix * s->c, s->h, s->w}, ys[4] = {s->b, s->c, s->h, s->w};
    size_t as[4] = {s->b, s->radix * s->c, 1, 1};
    oc_arg_set(c, RX, "x", OC_IN, 4, xs, -2, 2);
    oc_arg_set(c, RA, "a", u.weighted ? OC_IN : OC_NONE, 4, as, 0, 1);
    oc_arg_set(c, RY, "y", OC_OUT, 4, ys, 0, 0);
    oc_arg_set(c, RDY, "dy", OC_IN, 4, ys, -1, 1);
    oc_arg_set(c, RDX, "dx", OC_GRAD, 4, xs, -1, 1);
    oc_arg_set(c, RDA, "da", u.weighted ? OC_GRAD : OC_IN, 4, as, -1, 1);
    snprintf(c->what, sizeof c->what, "radix sum %s B %zu radix %zu C %zu %zux%zu wg %d", u.weighted ? "weighted" : "plain",
             s->b, s->radix, s->c, s->h, s->w, u.wg);
    if (fd) oc_fd_inputs(c, RY, RDY, 2, (const int[]){RX, RA}, (const int[]){RDX, RDA}, 0, NULL);
    return 1;
}

/* The pixels a work-item of the radix sums (cl/attn.cl FCL_ATTN_VEC) forced besides the device's
 * default (16 on AVX-512 CPUs): one (the GPUs' shape) and 4, whose vectors end inside every row
 * above (HW 49, 143, 45, 9: a scalar tail after whole vectors; HW 1: the tail only) */
static const char *const attn_vecs[] = {"attn:-DFCL_ATTN_VEC=1", "attn:-DFCL_ATTN_VEC=4", NULL};
static void radix_sum_tuned(int tuning)
{
    oc_run_tuned(&(oc_op){.name = "radix sum", .gen = rsum_gen, .dev_fwd = rsum_dev_fwd, .dev_bwd = rsum_dev_bwd,
                          .ref_fwd = rsum_ref_fwd, .ref_bwd = rsum_ref_bwd, .tunings = attn_vecs},
                 tuning);
}
Test(attn, radix_sum) { radix_sum_tuned(0); }
Test(attn, radix_sum_pixel_a_work_item) { radix_sum_tuned(1); }
Test(attn, radix_sum_vectors_of_4) { radix_sum_tuned(2); }

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
