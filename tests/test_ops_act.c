/* tests/test_ops_act.c: activations and PReLU as op-driver descriptors (OpenCL vs reference forward
 * and backward, reference backward vs finite differences), in-place use, determinism, exact kink
 * values, the fused residual add + activation, argument errors. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "facecl/ops_eltwise.h"
#include "ref/ref_act.h"

/* Shapes: batch 1, odd spatial sizes 7 / 13 / 31, channel counts 3, 5, 17 (not multiples of
 * 4/8/16), a numel below one vector (36) and a 1-D tensor. */
typedef oc_shape shape;
static const shape act_shapes[] = {
    {4, {1, 3, 7, 7}}, {4, {2, 5, 13, 13}}, {4, {3, 17, 31, 31}}, {4, {4, 9, 1, 1}}, {1, {13}},
};
#define N_ACT_SHAPES (sizeof act_shapes / sizeof act_shapes[0])

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

/* ---- activations: x, y, dy, saved (y or x, as the backward reads it), dx ------------------------- */

enum { A_X, A_Y, A_DY, A_SAVED, A_DX };
enum { FD_NONE, FD_AVOID_KINKS, FD_AT_KINKS };
typedef struct act_case {
    fcl_act_params p;
    int fd;      /* how the FD-only case places x around the kinks */
} act_case;

static void act_fill(double *const *h, const oc_case *c)
{
    const act_case *ac = OC_P(c, act_case);
    size_t n = h_numel(c->arg[A_X].ndim, c->arg[A_X].shape);
    double kinks[2];
    size_t nk = act_kinks(ac->p.kind, kinks);
    if (ac->fd != FD_NONE) h_rand_avoid(h[A_X], n, c->seed, -8, 8, kinks, nk, 1e-3);
    if (ac->fd == FD_AT_KINKS)
        for (size_t i = 0; i < n; i += 4) h[A_X][i] = kinks[(i / 4) % nk];   /* 1 in 4 at a kink */
    if (fcl_act_saves_output(ac->p.kind)) fcl_ref_act_fwd(h[A_SAVED], h[A_X], n, &ac->p);
    else memcpy(h[A_SAVED], h[A_X], n * sizeof *h[A_X]);
    h_to_f32(h[A_SAVED], n);   /* as stored on the device */
}

static fcl_status act_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_act_fwd(ctx, t[A_Y], t[A_X], &OC_P(c, act_case)->p);
}

static fcl_status act_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_act_bwd(ctx, t[A_DX], t[A_DY], t[A_SAVED], &OC_P(c, act_case)->p);
}

static void act_ref_fwd(double *const *h, const oc_case *c)
{
    fcl_ref_act_fwd(h[A_Y], h[A_X], h_numel(c->arg[A_X].ndim, c->arg[A_X].shape), &OC_P(c, act_case)->p);
}

static void act_ref_bwd(double *const *h, const oc_case *c)
{
    fcl_ref_act_bwd(h[A_DX], h[A_DY], h[A_SAVED], h_numel(c->arg[A_X].ndim, c->arg[A_X].shape),
                    &OC_P(c, act_case)->p);
}

static int act_kink(double *const *hs, int wrt, size_t i, double h, const oc_case *c)
{
    const double *x = hs[wrt];
    double k[2];
    size_t nk = act_kinks(OC_P(c, act_case)->p.kind, k);
    for (size_t j = 0; j < nk; j++)
        if (fabs(x[i] - k[j]) <= 2 * h) return 1;
    return 0;
}

/* in place on the second shape: y == x */
static void act_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h;
    if (c->seed != 2) return;
    size_t n = b[A_X].numel;
    double *y = h_alloc(n);
    H_OK(ctx, fcl_act_fwd(ctx, &b[A_X].t, &b[A_X].t, &OC_P(c, act_case)->p));
    h_download(ctx, &b[A_X], y);
    char what[256];
    snprintf(what, sizeof what, "%s fwd in place", c->what);
    h_expect_close(what, y, want[A_Y], n, H_TOL_FWD);
    free(y);
}

static void act_args(oc_case *c, int ndim, const size_t *s)
{
    oc_arg_set(c, A_X, "x", OC_IN, ndim, s, -8, 8);
    oc_arg_set(c, A_Y, "y", OC_OUT, ndim, s, 0, 0);
    oc_arg_set(c, A_DY, "dy", OC_IN, ndim, s, -1, 1);
    oc_arg_set(c, A_SAVED, "saved", OC_IN, ndim, s, 0, 0);
    oc_arg_set(c, A_DX, "dx", OC_GRAD, ndim, s, -1, 1);
}

/* every shape on the device; then the reference backward vs FD on 96 values away from the kinks */
static int act_gen(const oc_op *op, size_t i, oc_case *c)
{
    const fcl_act_params *p = op->ud;
    act_case *ac = OC_P(c, act_case);
    ac->p = *p;
    if (i < N_ACT_SHAPES) {
        act_args(c, act_shapes[i].ndim, act_shapes[i].s);
        char ss[64];
        oc_shape_str(ss, sizeof ss, act_shapes[i].ndim, act_shapes[i].s);
        snprintf(c->what, sizeof c->what, "act %s fwd+bwd %s", fcl_act_name(p->kind), ss);
        return 1;
    }
    if (i > N_ACT_SHAPES) return 0;
    size_t n = 96;
    act_args(c, 1, &n);
    ac->fd = FD_AVOID_KINKS;
    c->device = 0;
    oc_fd_add(c, A_X, A_Y, A_DY, A_DX, 96, act_kink);
    snprintf(c->what, sizeof c->what, "act %s", fcl_act_name(p->kind));
    return 1;
}

static const oc_op act_op = {
    .name = "act", .gen = act_gen, .fill = act_fill, .dev_fwd = act_dev_fwd, .dev_bwd = act_dev_bwd,
    .ref_fwd = act_ref_fwd, .ref_bwd = act_ref_bwd, .extra = act_extra,
};

/* Finite differences through points exactly at the kinks: without the kink callback the check
 * would compare the central difference 0.5 (or 0.5 + slope / 2) with PyTorch's one-sided
 * convention; with it those points are skipped and counted (10 of 40). */
Test(act, fd_skips_kinks)
{
    const fcl_act_kind kinds[] = {FCL_ACT_RELU, FCL_ACT_LEAKY_RELU, FCL_ACT_RELU6, FCL_ACT_HARDSWISH};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        oc_case c;
        memset(&c, 0, sizeof c);
        size_t n = 40;
        act_args(&c, 1, &n);
        *OC_P(&c, act_case) = (act_case){{kinds[k], 0.1f}, FD_AT_KINKS};
        c.seed = 11;
        oc_fd_add(&c, A_X, A_Y, A_DY, A_DX, 40, act_kink);
        snprintf(c.what, sizeof c.what, "act %s with inputs at the kinks (skipped)", fcl_act_name(kinds[k]));
        oc_run_case(NULL, &act_op, &c);
    }
}

/* Every kind (leaky ReLU with two slopes), each its own test process. */
ParameterizedTestParameters(act, kinds)
{
    static fcl_act_params kinds[] = {
        {FCL_ACT_RELU, 0},      {FCL_ACT_RELU6, 0},     {FCL_ACT_LEAKY_RELU, 0.01f}, {FCL_ACT_LEAKY_RELU, -0.3f},
        {FCL_ACT_SIGMOID, 0},   {FCL_ACT_TANH, 0},      {FCL_ACT_SILU, 0},           {FCL_ACT_HARDSWISH, 0},
        {FCL_ACT_HARDSIGMOID, 0}, {FCL_ACT_GELU, 0},    {FCL_ACT_GELU_TANH, 0},
    };
    return cr_make_param_array(fcl_act_params, kinds, sizeof kinds / sizeof kinds[0]);
}

ParameterizedTest(fcl_act_params *p, act, kinds)
{
    oc_op op = act_op;
    op.ud = p;
    oc_run(&op);
}

/* fcl_act_add_fwd: y = act(x + r) for every kind on every shape, under the device's tuning and
 * FCL_VEC 4 and 16 forced, against the reference act of x + r and bit for bit against
 * fcl_add_fwd then fcl_act_fwd (what the network ran before fusing them); in place on x and on r. */
Test(act, add_fused)
{
    fcl_ctx *ctx = h_ctx();
    const char *const vecs[] = {NULL, "-DFCL_VEC=4", "-DFCL_VEC=16"};
    for (size_t v = 0; v < sizeof vecs / sizeof vecs[0]; v++) {
        if (vecs[v]) H_OK(ctx, fcl_ctx_tuning_set(ctx, "act", vecs[v]));
        for (int kind = 0; kind < FCL_ACT_COUNT; kind++)
            for (size_t si = 0; si < N_ACT_SHAPES; si++) {
                const shape *sh = &act_shapes[si];
                fcl_act_params p = {(fcl_act_kind)kind, 0.1f};
                size_t n = h_numel(sh->ndim, sh->s);
                h_case("act %s add fused %zu values %s", fcl_act_name(p.kind), n, vecs[v] ? vecs[v] : "(tuned)");
                double *x = h_alloc(n), *r = h_alloc(n), *z = h_alloc(n), *want = h_alloc(n), *got = h_alloc(n);
                double *two = h_alloc(n);
                h_rand(x, n, 40 + si, -5, 5), h_rand(r, n, 50 + si, -4, 4);
                h_to_f32(x, n), h_to_f32(r, n);
                for (size_t i = 0; i < n; i++) z[i] = (double)((float)x[i] + (float)r[i]);
                fcl_ref_act_fwd(want, z, n, &p);
                h_buf bx = h_upload(ctx, x, sh->ndim, sh->s), br = h_upload(ctx, r, sh->ndim, sh->s);
                h_buf by = h_zeros(ctx, sh->ndim, sh->s), bt = h_zeros(ctx, sh->ndim, sh->s);
                H_OK(ctx, fcl_act_add_fwd(ctx, &by.t, &bx.t, &br.t, &p));
                h_download(ctx, &by, got);
                h_expect_close("act(x + r) vs reference", got, want, n, H_TOL_FWD);
                H_OK(ctx, fcl_add_fwd(ctx, &bt.t, &bx.t, &br.t));
                H_OK(ctx, fcl_act_fwd(ctx, &bt.t, &bt.t, &p));
                h_download(ctx, &bt, two);
                cr_expect(memcmp(got, two, n * sizeof *got) == 0, "act %s: fused add differs from add then act",
                          fcl_act_name(p.kind));
                H_OK(ctx, fcl_act_add_fwd(ctx, &br.t, &bx.t, &br.t, &p)); /* y == r */
                H_OK(ctx, fcl_act_add_fwd(ctx, &bx.t, &bx.t, &bt.t, &p)); /* y == x: act(x + act(x + r)) */
                h_download(ctx, &br, two);
                cr_expect(memcmp(got, two, n * sizeof *got) == 0, "act %s: in place on r differs", fcl_act_name(p.kind));
                h_download(ctx, &bx, two);
                for (size_t i = 0; i < n; i++) z[i] = (double)((float)x[i] + (float)got[i]);
                fcl_ref_act_fwd(want, z, n, &p);
                h_expect_close("in place on x: act(x + y) vs reference", two, want, n, H_TOL_FWD);
                h_free(ctx, &bx), h_free(ctx, &br), h_free(ctx, &by), h_free(ctx, &bt);
                free(x), free(r), free(z), free(want), free(got), free(two);
            }
    }
    h_ctx_free(ctx);
}

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

/* ---- PReLU: x, slopes a, y, dy, dx, da ------------------------------------------------------------ */

typedef struct prelu_case {
    shape s;
    int shared;   /* one slope for all channels */
} prelu_case;
static const prelu_case prelu_cases[] = {
    {{4, {2, 5, 13, 13}}, 0}, {{4, {1, 3, 7, 7}}, 1}, {{2, {6, 7}}, 0}, {{4, {3, 17, 31, 31}}, 0},
    {{3, {2, 19, 9}}, 1},
};

enum { P_X, P_A, P_Y, P_DY, P_DX, P_DA };
/* n, c, inner, number of slopes */
static void prelu_dims(const oc_case *c, size_t *d)
{
    const oc_arg *x = &c->arg[P_X];
    size_t n = h_numel(x->ndim, x->shape);
    d[0] = x->shape[0], d[1] = x->shape[1], d[2] = n / (d[0] * d[1]), d[3] = c->arg[P_A].shape[0];
}

static fcl_status prelu_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    (void)c;
    return fcl_prelu_fwd(ctx, t[P_Y], t[P_X], t[P_A]);
}

static fcl_status prelu_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    (void)c;
    return fcl_prelu_bwd(ctx, t[P_DX], t[P_DA], t[P_DY], t[P_X], t[P_A]);
}

static void prelu_ref_fwd(double *const *h, const oc_case *c)
{
    size_t d[4];
    prelu_dims(c, d);
    fcl_ref_prelu_fwd(h[P_Y], h[P_X], h[P_A], d[0], d[1], d[2], d[3]);
}

static void prelu_ref_bwd(double *const *h, const oc_case *c)
{
    size_t d[4];
    prelu_dims(c, d);
    fcl_ref_prelu_bwd(h[P_DX], h[P_DA], h[P_DY], h[P_X], h[P_A], d[0], d[1], d[2], d[3]);
}

static int prelu_kink(double *const *hs, int wrt, size_t i, double h, const oc_case *c)
{
    (void)c;
    return fabs(hs[wrt][i]) <= 2 * h;
}

/* determinism: the slope gradient from zero, twice, bit for bit */
static void prelu_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h;
    (void)want;
    size_t na = c->arg[P_A].shape[0];
    double *z = h_alloc(na), *r1 = h_alloc(na), *r2 = h_alloc(na);
    for (int rep = 0; rep < 2; rep++) {
        h_buf bz = h_upload(ctx, z, 1, &na);
        H_OK(ctx, fcl_prelu_bwd(ctx, NULL, &bz.t, &b[P_DY].t, &b[P_X].t, &b[P_A].t));
        h_download(ctx, &bz, rep ? r2 : r1);
        h_free(ctx, &bz);
    }
    cr_expect(memcmp(r1, r2, na * sizeof *r1) == 0, "prelu da differs between two runs");
    free(z), free(r1), free(r2);
}

static int prelu_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= sizeof prelu_cases / sizeof prelu_cases[0]) return 0;
    const prelu_case *pc = &prelu_cases[i];
    const shape *s = &pc->s;
    size_t na = pc->shared ? 1 : s->s[1];
    oc_arg_set(c, P_X, "x", OC_IN, s->ndim, s->s, -2, 2);
    oc_arg_set(c, P_A, "a", OC_IN, 1, &na, -0.5, 0.5);
    oc_arg_set(c, P_Y, "y", OC_OUT, s->ndim, s->s, 0, 0);
    oc_arg_set(c, P_DY, "dy", OC_IN, s->ndim, s->s, -1, 1);
    oc_arg_set(c, P_DX, "dx", OC_GRAD, s->ndim, s->s, -1, 1);
    oc_arg_set(c, P_DA, "da", OC_GRAD, 1, &na, -1, 1);
    char ss[64];
    oc_shape_str(ss, sizeof ss, s->ndim, s->s);
    snprintf(c->what, sizeof c->what, "prelu %s slopes %s", pc->shared ? "shared" : "per-channel", ss);
    if (h_numel(s->ndim, s->s) <= 4096) {   /* FD on the smaller shapes: d/dx and d/da */
        oc_fd_add(c, P_X, P_Y, P_DY, P_DX, 0, prelu_kink);
        oc_fd_add(c, P_A, P_Y, P_DY, P_DA, 0, NULL);
    }
    return 1;
}

static const oc_op prelu_op = {
    .name = "prelu", .gen = prelu_gen, .dev_fwd = prelu_dev_fwd, .dev_bwd = prelu_dev_bwd,
    .ref_fwd = prelu_ref_fwd, .ref_bwd = prelu_ref_bwd, .extra = prelu_extra,
};

Test(act, prelu) { oc_run(&prelu_op); }

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
    st = fcl_act_add_fwd(ctx, &a6.t, &e6.t, &b7.t, &p);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "fcl_act_add_fwd"), "residual numel mismatch: %s",
              fcl_ctx_errmsg(ctx));
    fcl_tensor part; /* y overlapping x shifted by one element */
    size_t s5[] = {5};
    H_OK(ctx, fcl_tensor_view(ctx, &b7.t, 1, 1, s5, &part));
    fcl_tensor lo;
    H_OK(ctx, fcl_tensor_view(ctx, &b7.t, 0, 1, s5, &lo));
    st = fcl_act_add_fwd(ctx, &part, &lo, &lo, &p);
    cr_expect(st == FCL_ERR_INVALID_ARG && strstr(fcl_ctx_errmsg(ctx), "overlaps"), "y partly over x: %s",
              fcl_ctx_errmsg(ctx));
    /* slopes: 2 for 3 channels */
    cr_expect(fcl_prelu_fwd(ctx, &e6.t, &a6.t, &d2.t) == FCL_ERR_SHAPE, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_prelu_fwd(ctx, &e6.t, &a6.t, &c3.t) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_prelu_bwd(ctx, NULL, &d2.t, &e6.t, &a6.t, &c3.t) == FCL_ERR_SHAPE, "da of 2 for 3 slopes");
    h_free(ctx, &a6), h_free(ctx, &b7), h_free(ctx, &c3), h_free(ctx, &d2), h_free(ctx, &e6);
    h_ctx_free(ctx);
}
