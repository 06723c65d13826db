/* tests/test_ops_norm.c: LayerNorm2d, layer scale and scaled weight standardisation as op-driver
 * descriptors (OpenCL vs reference forward and every backward output, every reduction group size
 * forced; reference backward vs finite differences), in-place use, determinism, argument errors. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "ops/norm_internal.h"
#include "ref/ref_norm.h"

/* Odd shapes: channel counts not multiples of 4, HW 1 ([N, C] and [N, C, 1, 1]: the classifier's
 * norm), one large C (ConvNeXt-like 96) */
typedef oc_shape shape;
static const shape shapes[] = {
    {4, {1, 3, 7, 7}}, {4, {2, 5, 13, 11}}, {4, {3, 17, 9, 9}}, {2, {4, 9}}, {4, {2, 96, 5, 3}},
    {4, {3, 7, 1, 1}},
};
/* weights [out, in, kh, kw] of the weight standardisation */
static const shape wstd_shapes[] = {
    {4, {5, 3, 3, 3}}, {4, {7, 1, 3, 3}}, {2, {3, 17}}, {4, {9, 4, 1, 1}}, {4, {6, 13, 5, 5}}, {4, {2, 1, 1, 1}},
};
#define N_SHAPES 6
/* reduction group sizes forced on every shape: one work-item per channel, a small and a wide tree */
static const int wgs[] = {1, 4, 64};
#define N_WGS 3

/* The three ops share their operand slots: x (or w), the scale (weight / gamma / gain), bias,
 * y, the saved mean and rstd (ln2d), dy, dx, dscale, dbias. */
enum { X, S, B, Y, M, R, DY, DX, DS, DB };
enum { K_LN, K_LS, K_WSTD };
static const char *const kind_names[] = {"ln2d", "layer scale", "wstd"};

typedef struct norm_case {
    int kind, affine, wg;   /* affine: ln2d's weight and bias, wstd's gain */
    size_t n, c, hw;        /* wstd: out, per-output count k, 1 */
    double eps, scale;
} norm_case;

static fcl_status norm_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const norm_case *u = OC_P(c, norm_case);
    switch (u->kind) {
    case K_LN: return fcl_ln2d_fwd(ctx, t[Y], t[M], t[R], t[X], t[S], t[B], (float)u->eps);
    case K_LS: return fcl_layer_scale_fwd(ctx, t[Y], t[X], t[S]);
    default: return fcl_wstd_fwd_wg(ctx, t[Y], t[X], t[S], (float)u->scale, (float)u->eps, u->wg);
    }
}

/* ln2d's backward reads the saved statistics as the device stored them (so only the backward's
 * own error is measured); every gradient accumulates into non-zero values */
static fcl_status norm_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const norm_case *u = OC_P(c, norm_case);
    switch (u->kind) {
    case K_LN: return fcl_ln2d_bwd_wg(ctx, t[DX], t[DS], t[DB], t[DY], t[X], t[S], t[M], t[R], u->wg);
    case K_LS: return fcl_layer_scale_bwd_wg(ctx, t[DX], t[DS], t[DY], t[X], t[S], u->wg);
    default:   /* without a gain, dgain is an input passed as NULL (must stay as it was) */
        return fcl_wstd_bwd_wg(ctx, t[DX], u->affine ? t[DS] : NULL, t[DY], t[X], t[S], (float)u->scale,
                               (float)u->eps, u->wg);
    }
}

static void norm_ref_fwd(double *const *h, const oc_case *c)
{
    const norm_case *u = OC_P(c, norm_case);
    if (u->kind == K_LN) fcl_ref_ln2d_fwd(h[Y], h[M], h[R], h[X], h[S], h[B], u->n, u->c, u->hw, u->eps);
    else if (u->kind == K_LS) fcl_ref_layer_scale_fwd(h[Y], h[X], h[S], u->n, u->c, u->hw);
    else fcl_ref_wstd_fwd(h[Y], h[X], h[S], u->n, u->c, u->scale, u->eps);
}

static void norm_ref_bwd(double *const *h, const oc_case *c)
{
    const norm_case *u = OC_P(c, norm_case);
    if (u->kind == K_LN) fcl_ref_ln2d_bwd(h[DX], h[DS], h[DB], h[DY], h[X], h[S], u->n, u->c, u->hw, u->eps);
    else if (u->kind == K_LS) fcl_ref_layer_scale_bwd(h[DX], h[DS], h[DY], h[X], h[S], u->n, u->c, u->hw);
    else fcl_ref_wstd_bwd(h[DX], u->affine ? h[DS] : NULL, h[DY], h[X], h[S], u->n, u->c, u->scale, u->eps);
}

/* ln2d: dweight alone, from the same start, twice gives the same bits (first group size), and
 * in place y == x on the second shape; layer scale: in place on the third shape */
static void norm_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    const norm_case *u = OC_P(c, norm_case);
    const oc_arg *xa = &c->arg[X];
    if (u->kind == K_LN && u->wg == wgs[0]) {
        size_t ch = u->c;
        double *first = h_alloc(ch), *again = h_alloc(ch);
        h_download(ctx, &b[DS], first);
        h_buf bz = h_upload(ctx, h[DS], 1, &ch);
        H_OK(ctx, fcl_ln2d_bwd_wg(ctx, NULL, &bz.t, NULL, &b[DY].t, &b[X].t, u->affine ? &b[S].t : NULL, &b[M].t,
                                  &b[R].t, u->wg));
        h_download(ctx, &bz, again);
        cr_expect(memcmp(first, again, ch * sizeof *first) == 0, "ln2d dweight differs between two runs");
        h_free(ctx, &bz);
        free(first), free(again);
    }
    int in_place = (u->kind == K_LN && xa->shape[1] == shapes[1].s[1] && xa->shape[2] == shapes[1].s[2]) ||
                   (u->kind == K_LS && xa->shape[1] == shapes[2].s[1] && xa->shape[2] == shapes[2].s[2]);
    if (!in_place || u->wg != wgs[0]) return;
    h_case("%s fwd in place", c->what);
    double *y = h_alloc(b[X].numel);
    if (u->kind == K_LN)
        H_OK(ctx, fcl_ln2d_fwd(ctx, &b[X].t, NULL, NULL, &b[X].t, u->affine ? &b[S].t : NULL,
                               u->affine ? &b[B].t : NULL, (float)u->eps));
    else
        H_OK(ctx, fcl_layer_scale_fwd(ctx, &b[X].t, &b[X].t, &b[S].t));
    h_download(ctx, &b[X], y);
    h_expect_close(u->kind == K_LN ? "ln2d fwd in place" : "layer scale fwd in place", y, want[Y], b[X].numel,
                   H_TOL_FWD);
    free(y);
}

/* The operands of one case of shape s. */
static void norm_args(oc_case *c, const norm_case *u, const shape *s)
{
    *OC_P(c, norm_case) = *u;
    size_t ch = u->kind == K_WSTD ? u->n : u->c, np = u->n * u->hw;
    oc_role sr = u->kind == K_LS || u->affine ? OC_IN : OC_NONE;
    static const double x_lo[] = {-2, -2, -1}, x_hi[] = {4, 2, 1.5}, s_lo[] = {0.5, -1, 0.5}, s_hi[] = {1.5, 1, 2};
    /* ln2d: an offset per channel makes the mean matter (a bad two-pass sum would show) */
    oc_arg_set(c, X, u->kind == K_WSTD ? "w" : "x", OC_IN, s->ndim, s->s, x_lo[u->kind], x_hi[u->kind]);
    oc_arg_set(c, S, u->kind == K_LN ? "weight" : u->kind == K_LS ? "gamma" : "gain", sr, 1, &ch, s_lo[u->kind],
               s_hi[u->kind]);
    oc_arg_set(c, B, "bias", u->kind == K_LN && u->affine ? OC_IN : OC_NONE, 1, &ch, -1, 1);
    oc_arg_set(c, Y, u->kind == K_WSTD ? "w_hat" : "y", OC_OUT, s->ndim, s->s, 0, 0);
    oc_arg_set(c, M, "save_mean", u->kind == K_LN ? OC_OUT : OC_NONE, 1, &np, 0, 0);
    oc_arg_set(c, R, "save_rstd", u->kind == K_LN ? OC_OUT : OC_NONE, 1, &np, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, s->ndim, s->s, -1, 1);
    oc_arg_set(c, DX, "dx", OC_GRAD, s->ndim, s->s, -1, 1);
    /* ln2d computes dweight and dbias with or without affine parameters; wstd's dgain only with a gain */
    oc_arg_set(c, DS, u->kind == K_LN ? "dweight" : u->kind == K_LS ? "dgamma" : "dgain",
               u->kind == K_WSTD && !u->affine ? OC_IN : OC_GRAD, 1, &ch, -1, 1);
    oc_arg_set(c, DB, "dbias", u->kind == K_LN ? OC_GRAD : OC_NONE, 1, &ch, -1, 1);
    char ss[64];
    oc_shape_str(ss, sizeof ss, s->ndim, s->s);
    snprintf(c->what, sizeof c->what, "%s%s %s group %d", kind_names[u->kind],
             u->kind == K_LS ? "" : u->affine ? u->kind == K_LN ? " affine" : " gain" : u->kind == K_LN ? " no affine"
                                                                                                    : " no gain",
             ss, u->wg);
}

static norm_case norm_of(int kind, int affine, int wg, const shape *s)
{
    size_t n = s->s[0], c = s->s[1], all = h_numel(s->ndim, s->s);
    if (kind == K_WSTD) /* [out, k]: scale 1.7 / sqrt(k) (NFNet's gamma / sqrt(fan_in)) */
        return (norm_case){kind, affine, wg, n, all / n, 1, 1e-5, 1.7 / sqrt((double)(all / n))};
    return (norm_case){kind, affine, wg, n, c, all / (n * c), 1e-6, 0};
}

/* Every shape under every group size, then the reference vs FD on one small shape (ud: {kind,
 * affine}). */
static int norm_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int *ka = op->ud;
    const shape *list = ka[0] == K_WSTD ? wstd_shapes : shapes;
    if (i < N_SHAPES * N_WGS) {
        norm_case u = norm_of(ka[0], ka[1], wgs[i % N_WGS], &list[i / N_WGS]);
        norm_args(c, &u, &list[i / N_WGS]);
        return 1;
    }
    if (i > N_SHAPES * N_WGS || (ka[0] != K_LS && !ka[1])) return 0;
    static const shape fd_shapes[] = {{4, {2, 5, 2, 3}}, {3, {3, 4, 5}}, {4, {4, 1, 3, 3}}};
    norm_case u = norm_of(ka[0], 1, 0, &fd_shapes[ka[0]]);
    if (ka[0] == K_WSTD) u.scale = 0.37;
    norm_args(c, &u, &fd_shapes[ka[0]]);
    if (ka[0] == K_LN) c->arg[X].hi = 3;
    if (ka[0] == K_WSTD) c->arg[X].lo = -1, c->arg[X].hi = 1;
    c->device = 0;
    oc_fd_add(c, X, Y, DY, DX, ka[0] == K_LN ? 60 : ka[0] == K_WSTD ? 36 : 0, NULL);
    oc_fd_add(c, S, Y, DY, DS, 0, NULL);
    if (ka[0] == K_LN) oc_fd_add(c, B, Y, DY, DB, 0, NULL);
    return 1;
}

/* The pixels a work-item of ln2d and layer scale (cl/norm.cl FCL_NORM_VEC) forced besides the
 * device's default (16 on AVX-512 CPUs): one (the GPUs' shape), and 4, whose vectors end inside
 * every odd row above (HW 49, 143, 81, 15: a scalar tail after whole vectors; HW 1: the tail only) */
static const char *const norm_vecs[] = {"norm:-DFCL_NORM_VEC=1", "norm:-DFCL_NORM_VEC=4", NULL};

/* {kind, affine / gain, tuning}: ln2d with and without weight and bias, layer scale, wstd with
 * and without a gain, each under the device's tuning (0) and norm_vecs[tuning - 1]; each its
 * own test process */
typedef struct norm_run {
    int kind, affine, tuning;
} norm_run;
ParameterizedTestParameters(norm, kinds)
{
    static norm_run runs[] = {{K_LN, 1, 0},   {K_LN, 0, 0},   {K_LS, 1, 0},   {K_WSTD, 1, 0}, {K_WSTD, 0, 0},
                              {K_LN, 1, 1},   {K_LN, 0, 1},   {K_LS, 1, 1},   {K_LN, 1, 2},   {K_LN, 0, 2},
                              {K_LS, 1, 2}};
    return cr_make_param_array(norm_run, runs, sizeof runs / sizeof runs[0]);
}
ParameterizedTest(norm_run *r, norm, kinds)
{
    int ka[2] = {r->kind, r->affine};
    oc_op op = {.name = "norm", .ud = ka, .gen = norm_gen, .dev_fwd = norm_dev_fwd, .dev_bwd = norm_dev_bwd,
                .ref_fwd = norm_ref_fwd, .ref_bwd = norm_ref_bwd, .extra = norm_extra, .tunings = norm_vecs};
    oc_run_tuned(&op, r->tuning);
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
