/* tests/test_ops_pad.c: asymmetric 2-D padding: OpenCL vs reference forward and backward, timm's
 * "same" amounts, reference backward vs finite differences, argument errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
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
};

Test(pad, matches_reference)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const pad_case *c = &cases[ci];
        const fcl_pad2d_params *p = &c->p;
        size_t ys[4];
        memcpy(ys, c->s, sizeof ys);
        ys[c->ndim - 2] += (size_t)(p->top + p->bottom);
        ys[c->ndim - 1] += (size_t)(p->left + p->right);
        size_t nx = h_numel(c->ndim, c->s), ny = h_numel(c->ndim, ys);
        size_t h = c->s[c->ndim - 2], w = c->s[c->ndim - 1], planes = nx / (h * w);
        h_case("pad2d case %zu (top %d bottom %d left %d right %d)", ci, p->top, p->bottom, p->left, p->right);
        double *x = h_alloc(nx), *y = h_alloc(ny), *y_ref = h_alloc(ny), *dy = h_alloc(ny);
        double *dx0 = h_alloc(nx), *dx = h_alloc(nx), *dx_ref = h_alloc(nx);
        h_rand(x, nx, 1 + ci, -1, 1), h_to_f32(x, nx);
        h_rand(dy, ny, 2 + ci, -1, 1), h_to_f32(dy, ny);
        h_rand(dx0, nx, 3 + ci, -1, 1), h_to_f32(dx0, nx);
        fcl_ref_pad2d_fwd(y_ref, x, planes, h, w, p);
        memcpy(dx_ref, dx0, nx * sizeof *dx);
        fcl_ref_pad2d_bwd(dx_ref, dy, planes, h, w, p);
        h_buf bx = h_upload(ctx, x, c->ndim, c->s), by = h_zeros(ctx, c->ndim, ys);
        h_buf bdy = h_upload(ctx, dy, c->ndim, ys), bdx = h_upload(ctx, dx0, c->ndim, c->s);
        h_name(&by, "y"), h_name(&bdx, "dx");
        H_OK(ctx, fcl_pad2d_fwd(ctx, &by.t, &bx.t, p));
        H_OK(ctx, fcl_pad2d_bwd(ctx, &bdx.t, &bdy.t, p));
        h_download(ctx, &by, y), h_download(ctx, &bdx, dx);
        h_check_guards(ctx, &bx), h_check_guards(ctx, &bdy);
        h_expect_close("pad2d fwd", y, y_ref, ny, H_TOL_FWD);
        h_expect_close("pad2d bwd dx", dx, dx_ref, nx, H_TOL_BWD);
        h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bdx);
        free(x), free(y), free(y_ref), free(dy), free(dx0), free(dx), free(dx_ref);
    }
    h_ctx_free(ctx);
}

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

typedef struct pad_fd_ud {
    size_t planes, h, w;
    fcl_pad2d_params p;
} pad_fd_ud;

static void pad_fd_f(double *y, const double *x, void *ud)
{
    pad_fd_ud *u = ud;
    fcl_ref_pad2d_fwd(y, x, u->planes, u->h, u->w, &u->p);
}

Test(pad, reference_fd)
{
    h_case("pad2d reference backward vs finite differences");
    pad_fd_ud u = {2, 3, 4, {1, 0, 2, 1, 0}};
    size_t nx = 24, ny = 2 * 4 * 7;
    double *x = h_alloc(nx), *r = h_alloc(ny), *g = h_alloc(nx);
    h_rand(x, nx, 1, -1, 1), h_rand(r, ny, 2, -1, 1);
    fcl_ref_pad2d_bwd(g, r, u.planes, u.h, u.w, &u.p);
    h_fd_check(&(h_fd){.what = "pad2d dx", .f = pad_fd_f, .ud = &u, .x = x, .nx = nx, .ny = ny, .r = r,
                       .grad = g, .seed = 3});
    free(x), free(r), free(g);
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
