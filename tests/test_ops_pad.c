/* tests/test_ops_pad.c: asymmetric 2-D padding as an op-driver descriptor (OpenCL vs reference
 * forward and backward, reference backward vs finite differences), timm's "same" amounts,
 * argument errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "ref/ref_pad.h"

typedef struct pad_case {
    int ndim;
    size_t s[4];
    fcl_pad2d_params p;
} pad_case;
static const pad_case cases[] = {
    {4, {2, 3, 7, 9}, {0, 1, 0, 1, 0}},    /* timm "same" for 3x3 stride 2 on an odd-pad size */
    {4, {1, 5, 13, 11}, {1, 2, 3, 0, 0}},  /* every side different */
    {4, {3, 2, 1, 1}, {2, 2, 1, 1, 0.5f}}, /* 1x1 map, non-zero value */
    {3, {4, 6, 5}, {0, 0, 0, 0, 0}},       /* no padding: a copy */
    {2, {5, 8}, {1, 0, 2, 3, -1}},         /* one plane */
    {3, {2, 3, 4}, {1, 0, 2, 1, 0}},       /* the reference backward vs finite differences */
};
#define N_CASES (sizeof cases / sizeof cases[0])

enum { X, Y, DY, DX };

/* planes, h, w of x */
static void pad_dims(const oc_case *c, size_t *planes, size_t *h, size_t *w)
{
    const oc_arg *x = &c->arg[X];
    *h = x->shape[x->ndim - 2], *w = x->shape[x->ndim - 1];
    *planes = h_numel(x->ndim, x->shape) / (*h * *w);
}

static fcl_status pad_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_pad2d_fwd(ctx, t[Y], t[X], OC_P(c, fcl_pad2d_params));
}

static fcl_status pad_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_pad2d_bwd(ctx, t[DX], t[DY], OC_P(c, fcl_pad2d_params));
}

static void pad_ref_fwd(double *const *h, const oc_case *c)
{
    size_t planes, hh, w;
    pad_dims(c, &planes, &hh, &w);
    fcl_ref_pad2d_fwd(h[Y], h[X], planes, hh, w, OC_P(c, fcl_pad2d_params));
}

static void pad_ref_bwd(double *const *h, const oc_case *c)
{
    size_t planes, hh, w;
    pad_dims(c, &planes, &hh, &w);
    fcl_ref_pad2d_bwd(h[DX], h[DY], planes, hh, w, OC_P(c, fcl_pad2d_params));
}

static int pad_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= N_CASES) return 0;
    const pad_case *pc = &cases[i];
    const fcl_pad2d_params *p = &pc->p;
    *OC_P(c, fcl_pad2d_params) = *p;
    size_t ys[4];
    memcpy(ys, pc->s, sizeof ys);
    ys[pc->ndim - 2] += (size_t)(p->top + p->bottom);
    ys[pc->ndim - 1] += (size_t)(p->left + p->right);
    oc_arg_set(c, X, "x", OC_IN, pc->ndim, pc->s, -1, 1);
    oc_arg_set(c, Y, "y", OC_OUT, pc->ndim, ys, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, pc->ndim, ys, -1, 1);
    oc_arg_set(c, DX, "dx", OC_GRAD, pc->ndim, pc->s, -1, 1);
    snprintf(c->what, sizeof c->what, "pad2d case %zu (top %d bottom %d left %d right %d)", i, p->top, p->bottom,
             p->left, p->right);
    if (i == N_CASES - 1) {
        c->device = 0;
        oc_fd_add(c, X, Y, DY, DX, 0, NULL);
    }
    return 1;
}

static const oc_op pad_op = {
    .name = "pad2d", .gen = pad_gen, .dev_fwd = pad_dev_fwd, .dev_bwd = pad_dev_bwd,
    .ref_fwd = pad_ref_fwd, .ref_bwd = pad_ref_bwd,
};

Test(pad, matches_reference) { oc_run(&pad_op); }

/* timm's get_same_padding: max((ceil(in / s) - 1) * s + (k - 1) * d + 1 - in, 0), split with the
 * extra pixel after. */
Test(pad, same_amounts)
{
    h_case("pad2d timm same amounts");
    const int t[][7] = {
        /* in, k, s, d, before, after */
        {224, 3, 2, 1, 0, 1}, {225, 3, 2, 1, 1, 1}, {112, 3, 1, 1, 1, 1}, {7, 1, 1, 1, 0, 0},
        {56, 3, 2, 2, 1, 2}, {5, 7, 1, 1, 3, 3}, {8, 2, 2, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int b, a;
        fcl_pad_same_amounts(t[i][0], t[i][1], t[i][2], t[i][3], &b, &a);
        cr_expect(b == t[i][4] && a == t[i][5], "in %d k %d s %d d %d: got %d/%d, want %d/%d", t[i][0], t[i][1],
                  t[i][2], t[i][3], b, a, t[i][4], t[i][5]);
    }
}

Test(pad, errors)
{
    h_case("pad2d argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t xs[] = {1, 2, 3, 3}, ys[] = {1, 2, 4, 4}, zs[] = {1, 3, 4, 4};
    double v[48] = {0};
    h_buf x = h_upload(ctx, v, 4, xs), y = h_zeros(ctx, 4, ys), z = h_zeros(ctx, 4, zs);
    fcl_pad2d_params ok = {0, 1, 0, 1, 0}, wrong = {1, 1, 0, 1, 0}, neg = {-1, 2, 0, 1, 0};
    cr_expect(fcl_pad2d_fwd(ctx, &y.t, &x.t, &ok) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_pad2d_fwd(ctx, &y.t, &x.t, &wrong) == FCL_ERR_SHAPE, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_pad2d_fwd") != NULL);
    cr_expect(fcl_pad2d_fwd(ctx, &z.t, &x.t, &ok) == FCL_ERR_SHAPE, "channel count differs");
    cr_expect(fcl_pad2d_fwd(ctx, &y.t, &x.t, &neg) == FCL_ERR_INVALID_ARG, "negative amount");
    cr_expect(fcl_pad2d_bwd(ctx, &y.t, &y.t, &ok) == FCL_ERR_SHAPE);
    cr_expect(fcl_pad2d_fwd(ctx, &y.t, &x.t, NULL) == FCL_ERR_INVALID_ARG);
    h_free(ctx, &x), h_free(ctx, &y), h_free(ctx, &z);
    h_ctx_free(ctx);
}
