/* tests/test_ops_linear.c: fully connected layer: OpenCL vs the double reference, reference vs finite differences, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_linear.h>

#include "helpers/harness.h"
#include "ref/ref_linear.h"

/* Random values already rounded to float, so device and reference see the same inputs. */
static void frand(double *x, size_t n, uint64_t seed, double lo, double hi)
{
    h_rand(x, n, seed, lo, hi);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)x[i];
}

/* got - before, elementwise (what a backward accumulated). */
static double *delta(const double *got, const double *before, size_t n)
{
    double *d = h_alloc(n);
    for (size_t i = 0; i < n; i++)
        d[i] = got[i] - before[i];
    return d;
}

typedef struct lin_case {
    size_t n, in, out;
    int bias;
    int x4d;   /* x given as [n, c, h, w] with c*h*w == in */
} lin_case;

/* Forward and every backward output of one shape, OpenCL vs reference. */
static void check_case(fcl_ctx *ctx, const lin_case *c, uint64_t seed)
{
    h_case("linear n=%zu in=%zu out=%zu bias=%d x4d=%d", c->n, c->in, c->out, c->bias, c->x4d);
    size_t nx = c->n * c->in, nw = c->out * c->in, ny = c->n * c->out;
    double *x = h_alloc(nx), *w = h_alloc(nw), *b = h_alloc(c->out), *dy = h_alloc(ny);
    double *dx0 = h_alloc(nx), *dw0 = h_alloc(nw), *db0 = h_alloc(c->out);
    double *y_ref = h_alloc(ny), *y = h_alloc(ny);
    double *dx_ref = h_alloc(nx), *dw_ref = h_alloc(nw), *db_ref = h_alloc(c->out);
    double *dx = h_alloc(nx), *dw = h_alloc(nw), *db = h_alloc(c->out);
    frand(x, nx, seed, -1, 1);
    frand(w, nw, seed + 1, -0.5, 0.5);
    frand(b, c->out, seed + 2, -1, 1);
    frand(dy, ny, seed + 3, -1, 1);
    /* gradients start non-zero: the backward must add, not overwrite */
    frand(dx0, nx, seed + 4, -1, 1);
    frand(dw0, nw, seed + 5, -1, 1);
    frand(db0, c->out, seed + 6, -1, 1);
    double *ynan = h_alloc(ny);
    for (size_t i = 0; i < ny; i++)
        ynan[i] = NAN;   /* the forward must overwrite y (GEMM beta 0 must not read it) */

    size_t sx4[4] = {c->n, c->in, 1, 1}, sx2[2] = {c->n, c->in};
    size_t sw[2] = {c->out, c->in}, sb[1] = {c->out}, sy[2] = {c->n, c->out};
    h_buf bx = c->x4d ? h_upload(ctx, x, 4, sx4) : h_upload(ctx, x, 2, sx2);
    h_buf bw = h_upload(ctx, w, 2, sw), bb = h_upload(ctx, b, 1, sb);
    h_buf by = h_upload(ctx, ynan, 2, sy), bdy = h_upload(ctx, dy, 2, sy);
    h_buf bdx = c->x4d ? h_upload(ctx, dx0, 4, sx4) : h_upload(ctx, dx0, 2, sx2);
    h_buf bdw = h_upload(ctx, dw0, 2, sw), bdb = h_upload(ctx, db0, 1, sb);
    h_name(&by, "y");
    h_name(&bdx, "dx");
    h_name(&bdw, "dw");
    h_name(&bdb, "db");

    H_OK(ctx, fcl_linear_fwd(ctx, &by.t, &bx.t, &bw.t, c->bias ? &bb.t : NULL));
    H_OK(ctx, fcl_linear_bwd(ctx, &bdx.t, &bdw.t, c->bias ? &bdb.t : NULL, &bdy.t, &bx.t, &bw.t));
    h_download(ctx, &by, y);
    h_download(ctx, &bdx, dx);
    h_download(ctx, &bdw, dw);
    h_download(ctx, &bdb, db);
    h_check_guards(ctx, &bx);
    h_check_guards(ctx, &bw);

    fcl_ref_linear_fwd(y_ref, x, w, c->bias ? b : NULL, c->n, c->in, c->out);
    fcl_ref_linear_bwd(dx_ref, dw_ref, db_ref, dy, x, w, c->n, c->in, c->out);
    h_expect_close("linear fwd y", y, y_ref, ny, H_TOL_FWD);
    double *gdx = delta(dx, dx0, nx), *gdw = delta(dw, dw0, nw), *gdb = delta(db, db0, c->out);
    h_expect_close("linear bwd dx", gdx, dx_ref, nx, H_TOL_BWD);
    h_expect_close("linear bwd dw", gdw, dw_ref, nw, H_TOL_BWD);
    if (c->bias)
        h_expect_close("linear bwd db", gdb, db_ref, c->out, H_TOL_BWD);
    else
        h_expect_close("linear bwd db untouched", db, db0, c->out, 0.0);

    h_free(ctx, &bx);
    h_free(ctx, &bw);
    h_free(ctx, &bb);
    h_free(ctx, &by);
    h_free(ctx, &bdy);
    h_free(ctx, &bdx);
    h_free(ctx, &bdw);
    h_free(ctx, &bdb);
    double *all[] = {x, w, b, dy, dx0, dw0, db0, y_ref, y, dx_ref, dw_ref, db_ref, dx, dw, db, ynan,
                     gdx, gdw, gdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

Test(linear, matches_reference_small_odd_shapes)
{
    fcl_ctx *ctx = h_ctx();
    static const lin_case cases[] = {
        {1, 1, 1, 1, 0},   {1, 7, 5, 1, 0},  {3, 13, 10, 1, 0}, {5, 31, 1, 0, 0},
        {2, 6, 3, 1, 1},   {7, 17, 23, 1, 1}, {13, 3, 29, 0, 0}, {4, 9, 9, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(ctx, &cases[i], 100 + 10 * i);
    h_ctx_free(ctx);
}

Test(linear, matches_reference_classifier_sizes)
{
    fcl_ctx *ctx = h_ctx();
    /* face-classifier heads: a pooled 512 (or odd 257) embedding onto N classes, batch 32 / 1 */
    static const lin_case cases[] = {
        {32, 512, 40, 1, 1}, {32, 512, 101, 1, 0}, {1, 512, 38, 1, 0}, {33, 257, 67, 1, 0},
        {64, 128, 512, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(ctx, &cases[i], 900 + 10 * i);
    h_ctx_free(ctx);
}

/* Each gradient alone (the others NULL), compared with the reference. */
Test(linear, partial_gradients)
{
    fcl_ctx *ctx = h_ctx();
    size_t n = 6, in = 11, out = 7;
    h_case("linear partial gradients n=%zu in=%zu out=%zu", n, in, out);
    double *x = h_alloc(n * in), *w = h_alloc(out * in), *dy = h_alloc(n * out);
    frand(x, n * in, 1, -1, 1);
    frand(w, out * in, 2, -1, 1);
    frand(dy, n * out, 3, -1, 1);
    size_t sx[2] = {n, in}, sw[2] = {out, in}, sy[2] = {n, out}, sb[1] = {out};
    h_buf bx = h_upload(ctx, x, 2, sx), bw = h_upload(ctx, w, 2, sw), bdy = h_upload(ctx, dy, 2, sy);
    double *ref_dx = h_alloc(n * in), *ref_dw = h_alloc(out * in), *ref_db = h_alloc(out);
    fcl_ref_linear_bwd(ref_dx, ref_dw, ref_db, dy, x, w, n, in, out);

    h_buf bdx = h_zeros(ctx, 2, sx);
    H_OK(ctx, fcl_linear_bwd(ctx, &bdx.t, NULL, NULL, &bdy.t, NULL, &bw.t));   /* x not needed */
    double *got = h_alloc(n * in);
    h_download(ctx, &bdx, got);
    h_expect_close("dx only", got, ref_dx, n * in, H_TOL_BWD);

    h_buf bdw = h_zeros(ctx, 2, sw);
    H_OK(ctx, fcl_linear_bwd(ctx, NULL, &bdw.t, NULL, &bdy.t, &bx.t, NULL));   /* w not needed */
    double *gw = h_alloc(out * in);
    h_download(ctx, &bdw, gw);
    h_expect_close("dw only", gw, ref_dw, out * in, H_TOL_BWD);

    h_buf bdb = h_zeros(ctx, 1, sb);
    H_OK(ctx, fcl_linear_bwd(ctx, NULL, NULL, &bdb.t, &bdy.t, NULL, NULL));
    double *gb = h_alloc(out);
    h_download(ctx, &bdb, gb);
    h_expect_close("db only", gb, ref_db, out, H_TOL_BWD);

    h_free(ctx, &bx);
    h_free(ctx, &bw);
    h_free(ctx, &bdy);
    h_free(ctx, &bdx);
    h_free(ctx, &bdw);
    h_free(ctx, &bdb);
    free(x), free(w), free(dy), free(ref_dx), free(ref_dw), free(ref_db), free(got), free(gw), free(gb);
    h_ctx_free(ctx);
}

/* The bias gradient is a fixed-order reduction: two runs give the same bits. */
Test(linear, bias_gradient_is_deterministic)
{
    fcl_ctx *ctx = h_ctx();
    size_t n = 257, out = 131;
    h_case("linear db determinism n=%zu out=%zu", n, out);
    double *dy = h_alloc(n * out), *a = h_alloc(out), *b = h_alloc(out);
    frand(dy, n * out, 7, -100, 100);
    size_t sy[2] = {n, out}, sb[1] = {out};
    h_buf bdy = h_upload(ctx, dy, 2, sy), b1 = h_zeros(ctx, 1, sb), b2 = h_zeros(ctx, 1, sb);
    H_OK(ctx, fcl_linear_bwd(ctx, NULL, NULL, &b1.t, &bdy.t, NULL, NULL));
    H_OK(ctx, fcl_linear_bwd(ctx, NULL, NULL, &b2.t, &bdy.t, NULL, NULL));
    h_download(ctx, &b1, a);
    h_download(ctx, &b2, b);
    cr_expect(memcmp(a, b, out * sizeof *a) == 0, "db differs between two identical runs");
    h_free(ctx, &bdy);
    h_free(ctx, &b1);
    h_free(ctx, &b2);
    free(dy), free(a), free(b);
    h_ctx_free(ctx);
}

/* ---- reference backward vs finite differences (no device) ---------------------------------- */

typedef struct lin_ud {
    const double *x, *w, *b;
    size_t n, in, out;
} lin_ud;

static void lin_f(double *y, const double *unused, void *ud)
{
    (void)unused;   /* the perturbed array is one of x, w, b, which ud points at */
    const lin_ud *u = ud;
    fcl_ref_linear_fwd(y, u->x, u->w, u->b, u->n, u->in, u->out);
}

Test(linear, reference_backward_vs_finite_differences)
{
    static const size_t shapes[][3] = {{1, 5, 3}, {4, 7, 6}, {3, 13, 11}};
    for (size_t s = 0; s < 3; s++) {
        size_t n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        h_case("linear FD n=%zu in=%zu out=%zu", n, in, out);
        double *x = h_alloc(n * in), *w = h_alloc(out * in), *b = h_alloc(out), *r = h_alloc(n * out);
        double *dx = h_alloc(n * in), *dw = h_alloc(out * in), *db = h_alloc(out);
        h_rand(x, n * in, 11 + s, -1, 1);
        h_rand(w, out * in, 12 + s, -1, 1);
        h_rand(b, out, 13 + s, -1, 1);
        h_rand(r, n * out, 14 + s, -1, 1);
        fcl_ref_linear_bwd(dx, dw, db, r, x, w, n, in, out);
        lin_ud u = {x, w, b, n, in, out};
        h_fd fx = {.what = "linear d/dx", .f = lin_f, .ud = &u, .x = x, .nx = n * in, .ny = n * out,
                   .r = r, .grad = dx, .seed = 1};
        h_fd fw = fx, fb = fx;
        fw.what = "linear d/dw", fw.x = w, fw.nx = out * in, fw.grad = dw;
        fb.what = "linear d/db", fb.x = b, fb.nx = out, fb.grad = db;
        h_fd_check(&fx);
        h_fd_check(&fw);
        h_fd_check(&fb);
        free(x), free(w), free(b), free(r), free(dx), free(dw), free(db);
    }
}

/* ---- bad input ------------------------------------------------------------------------------- */

Test(linear, bad_input_gives_clear_errors)
{
    fcl_ctx *ctx = h_ctx();
    h_case("linear bad input");
    size_t sx[2] = {4, 5}, sw[2] = {3, 5}, sy[2] = {4, 3}, sb[1] = {3};
    size_t sw_bad[2] = {3, 6}, sy_bad[2] = {4, 4}, sb_bad[1] = {4}, sw3[3] = {3, 5, 1};
    h_buf x = h_zeros(ctx, 2, sx), w = h_zeros(ctx, 2, sw), y = h_zeros(ctx, 2, sy), b = h_zeros(ctx, 1, sb);
    h_buf wbad = h_zeros(ctx, 2, sw_bad), ybad = h_zeros(ctx, 2, sy_bad), bbad = h_zeros(ctx, 1, sb_bad);
    h_buf w3 = h_zeros(ctx, 3, sw3);

    fcl_status st = fcl_linear_fwd(ctx, &y.t, &x.t, &wbad.t, &b.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "in-features mismatch: %s", fcl_status_name(st));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "fcl_linear_fwd") != NULL, "message names the op: %s",
              fcl_ctx_errmsg(ctx));
    st = fcl_linear_fwd(ctx, &ybad.t, &x.t, &w.t, &b.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "y of the wrong width: %s", fcl_status_name(st));
    st = fcl_linear_fwd(ctx, &y.t, &x.t, &w.t, &bbad.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "bias of the wrong length: %s", fcl_status_name(st));
    st = fcl_linear_fwd(ctx, &y.t, &x.t, &w3.t, NULL);
    cr_expect_eq(st, FCL_ERR_SHAPE, "3-D weights: %s", fcl_status_name(st));
    st = fcl_linear_fwd(ctx, &y.t, NULL, &w.t, NULL);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "NULL x: %s", fcl_status_name(st));
    st = fcl_linear_fwd(ctx, &x.t, &x.t, &w.t, NULL);
    cr_expect_neq(st, FCL_OK, "y aliasing x must be refused");
    st = fcl_linear_bwd(ctx, &x.t, NULL, NULL, &y.t, NULL, NULL);
    cr_expect_neq(st, FCL_OK, "dx without w must be refused");
    st = fcl_linear_bwd(ctx, NULL, &w.t, NULL, &y.t, NULL, &w.t);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "dw without x: %s", fcl_status_name(st));
    st = fcl_linear_bwd(ctx, NULL, NULL, &bbad.t, &y.t, NULL, &w.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "db of the wrong length: %s", fcl_status_name(st));
    printf("  last message: %s\n", fcl_ctx_errmsg(ctx));

    h_buf *all[] = {&x, &w, &y, &b, &wbad, &ybad, &bbad, &w3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        h_free(ctx, all[i]);
    h_ctx_free(ctx);
}
