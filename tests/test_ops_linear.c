/* tests/test_ops_linear.c: fully connected layer: OpenCL vs the double reference, reference vs finite differences, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_linear.h>

#include "helpers/opcheck.h"
#include "ref/ref_linear.h"

/* ---- the descriptor: x, w, b, y, dy, dx, dw, db ------------------------------------------------- */

typedef struct lin_case {
    size_t n, in, out;
    int bias;
    int x4d;   /* x given as [n, c, h, w] with c*h*w == in */
} lin_case;

enum { X, W, B, Y, DY, DX, DW, DB };
enum { S_SMALL, S_CLASSIFIER, S_FD };

OC_DEV_CALL(lin_dev_fwd, fcl_linear_fwd(ctx, t[Y], t[X], t[W], t[B]))

/* without a bias, db is an input passed as NULL: it must stay as it was */
static fcl_status lin_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_linear_bwd(ctx, t[DX], t[DW], OC_P(c, lin_case)->bias ? t[DB] : NULL, t[DY], t[X], t[W]);
}

static void lin_ref_fwd(double *const *h, const oc_case *c)
{
    const lin_case *u = OC_P(c, lin_case);
    fcl_ref_linear_fwd(h[Y], h[X], h[W], h[B], u->n, u->in, u->out);
}

static void lin_ref_bwd(double *const *h, const oc_case *c)
{
    const lin_case *u = OC_P(c, lin_case);
    size_t nx = u->n * u->in, nw = u->out * u->in;
    double *dx = h_alloc(nx), *dw = h_alloc(nw), *db = h_alloc(u->out);
    fcl_ref_linear_bwd(dx, dw, db, h[DY], h[X], h[W], u->n, u->in, u->out);
    for (size_t i = 0; i < nx; i++) h[DX][i] += dx[i];
    for (size_t i = 0; i < nw; i++) h[DW][i] += dw[i];
    for (size_t i = 0; u->bias && i < u->out; i++) h[DB][i] += db[i];
    free(dx), free(dw), free(db);
}

static int lin_gen(const oc_op *op, size_t i, oc_case *c)
{
    static const lin_case small[] = {
        {1, 1, 1, 1, 0},   {1, 7, 5, 1, 0},  {3, 13, 10, 1, 0}, {5, 31, 1, 0, 0},
        {2, 6, 3, 1, 1},   {7, 17, 23, 1, 1}, {13, 3, 29, 0, 0}, {4, 9, 9, 1, 0},
        {7, 48, 23, 1, 0},   /* in a multiple of 24 (the odd 5 x 3 float8 blocks): gemm_wt reads W in place */
    };
    /* face-classifier heads: a pooled 512 (or odd 257) embedding onto N classes, batch 32 / 1 */
    static const lin_case classifier[] = {
        {32, 512, 40, 1, 1}, {32, 512, 101, 1, 0}, {1, 512, 38, 1, 0}, {33, 257, 67, 1, 0},
        {64, 128, 512, 1, 0}, {3, 129, 1100, 1, 0},   /* a long reduction: bwd_data in 2 slices of B */
        {130, 40, 150, 1, 0},   /* gemm_wt_dx: 2 row chunks of <= 128, K sub-slices of 64 and a tail */
    };
    static const lin_case fd[] = {{1, 5, 3, 1, 0}, {4, 7, 6, 1, 0}, {3, 13, 11, 1, 0}};
    const int set = *(const int *)op->ud;
    const lin_case *list = set == S_SMALL ? small : set == S_CLASSIFIER ? classifier : fd;
    size_t count = set == S_SMALL ? sizeof small / sizeof small[0]
                   : set == S_CLASSIFIER ? sizeof classifier / sizeof classifier[0] : sizeof fd / sizeof fd[0];
    if (i >= count) return 0;
    const lin_case *u = &list[i];
    *OC_P(c, lin_case) = *u;
    size_t sx[4] = {u->n, u->in, 1, 1}, sw[2] = {u->out, u->in}, sb[1] = {u->out}, sy[2] = {u->n, u->out};
    oc_arg_set(c, X, "x", OC_IN, u->x4d ? 4 : 2, sx, -1, 1);
    oc_arg_set(c, W, "w", OC_IN, 2, sw, set == S_FD ? -1 : -0.5, set == S_FD ? 1 : 0.5);
    oc_arg_set(c, B, "b", u->bias ? OC_IN : OC_NONE, 1, sb, -1, 1);
    oc_arg_set(c, Y, "y", OC_OUT, 2, sy, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, 2, sy, -1, 1);
    /* gradients start non-zero: the backward must add, not overwrite */
    oc_arg_set(c, DX, "dx", OC_GRAD, u->x4d ? 4 : 2, sx, -1, 1)->delta = 1;
    oc_arg_set(c, DW, "dw", OC_GRAD, 2, sw, -1, 1)->delta = 1;
    oc_arg_set(c, DB, "db", u->bias ? OC_GRAD : OC_IN, 1, sb, -1, 1)->delta = 1;
    snprintf(c->what, sizeof c->what, "linear n=%zu in=%zu out=%zu bias=%d x4d=%d", u->n, u->in, u->out, u->bias,
             u->x4d);
    if (set == S_FD) oc_fd_inputs(c, Y, DY, 3, (const int[]){X, W, B}, (const int[]){DX, DW, DB}, 0, NULL);
    return 1;
}

/* The GEMM paths forced (CONV_LINEAR, host/ops/op_util.c fcl_op_gemm): CLBlast; conv_gemm_nn
 * for every product (packed A, odd register blocks: 5 rows x 3 float8 columns); conv_gemm_nt for
 * A B^T and sliced conv_gemm_nn for A B, in slices of 7 (odd blocks 3 x 5 float8 of conv_gemm_nt),
 * so block and slice tails fall inside every shape; gemm_wt for A B^T, A^T B and A B (odd 5 x 3
 * float8 blocks, A B in slices of 7: x, and W's slices for bwd_data, are copied into whole
 * column blocks where `in` is not a multiple of 24; in 48: W read in place), A B once as
 * slices (CONV_WT_SPLIT 0) and once split K (3 groups of whole slices of 7 into partials, summed
 * in order: a group short or alone where out <= 21, W copied whole where `in` is odd), and on
 * gemm_wt_dx (CONV_WT_DX 3: 3 column blocks a work-item, the last one short at `in` 512, sub-slices
 * of 64 classes with a tail, 2 row chunks at n 130); the forward / dW launch both ways
 * (CONV_WT_RB_FAST 0 in the slices row, 1 in the gemm_wt_dx row). */
static const char *const gemm_paths[] = {"conv:-DCONV_LINEAR=0", "conv:-DCONV_LINEAR=2 -DCONV_MB=5 -DCONV_NV=3 -DCONV_VW=8",
                                         "conv:-DCONV_LINEAR=3 -DCONV_MB=5 -DCONV_NV=3 -DCONV_VW=8 -DCONV_TM=3 "
                                         "-DCONV_TN=5 -DCONV_TW=8",
                                         "conv:-DCONV_LINEAR=4 -DCONV_MB=5 -DCONV_NV=3 -DCONV_VW=8 -DCONV_WT_SPLIT=0 -DCONV_WT_DX=0 -DCONV_WT_RB_FAST=0",
                                         "conv:-DCONV_LINEAR=4 -DCONV_MB=5 -DCONV_NV=3 -DCONV_VW=8 -DCONV_WT_SPLIT=3 -DCONV_WT_DX=0",
                                         "conv:-DCONV_LINEAR=4 -DCONV_MB=5 -DCONV_NV=3 -DCONV_VW=8 -DCONV_WT_DX=3 -DCONV_WT_RB_FAST=1", NULL};

/* set under the device's tuning (path < 0) or gemm_paths[path] */
static void run_set_on(int set, int path)
{
    oc_op op = {.name = "linear", .ud = &set, .gen = lin_gen, .dev_fwd = lin_dev_fwd, .dev_bwd = lin_dev_bwd,
                .ref_fwd = lin_ref_fwd, .ref_bwd = lin_ref_bwd, .tunings = gemm_paths};
    if (path < 0)
        oc_run(&op);
    else
        oc_run_forced(&op, (size_t)path);
}

static void run_set(int set) { run_set_on(set, -1); }

Test(linear, matches_reference_small_odd_shapes) { run_set(S_SMALL); }
Test(linear, matches_reference_classifier_sizes) { run_set(S_CLASSIFIER); }
/* one forced tuning per test process (each makes its context after setting $FACECL_TUNING) */
Test(linear, clblast_path_small_odd_shapes) { run_set_on(S_SMALL, 0); }
Test(linear, clblast_path_classifier_sizes) { run_set_on(S_CLASSIFIER, 0); }
Test(linear, conv_gemm_path_small_odd_shapes) { run_set_on(S_SMALL, 1); }
Test(linear, conv_gemm_path_classifier_sizes) { run_set_on(S_CLASSIFIER, 1); }
Test(linear, sliced_gemm_paths_small_odd_shapes) { run_set_on(S_SMALL, 2); }
Test(linear, sliced_gemm_paths_classifier_sizes) { run_set_on(S_CLASSIFIER, 2); }
Test(linear, gemm_wt_path_small_odd_shapes) { run_set_on(S_SMALL, 3); }
Test(linear, gemm_wt_path_classifier_sizes) { run_set_on(S_CLASSIFIER, 3); }
Test(linear, gemm_wt_split_path_small_odd_shapes) { run_set_on(S_SMALL, 4); }
Test(linear, gemm_wt_split_path_classifier_sizes) { run_set_on(S_CLASSIFIER, 4); }
Test(linear, gemm_wt_dx_path_small_odd_shapes) { run_set_on(S_SMALL, 5); }
Test(linear, gemm_wt_dx_path_classifier_sizes) { run_set_on(S_CLASSIFIER, 5); }
Test(linear, reference_backward_vs_finite_differences) { run_set(S_FD); }

/* Each gradient alone (the others NULL), compared with the reference. */
Test(linear, partial_gradients)
{
    fcl_ctx *ctx = h_ctx();
    size_t n = 6, in = 11, out = 7;
    h_case("linear partial gradients n=%zu in=%zu out=%zu", n, in, out);
    double *x = h_alloc(n * in), *w = h_alloc(out * in), *dy = h_alloc(n * out);
    h_rand_f32(x, n * in, 1, -1, 1);
    h_rand_f32(w, out * in, 2, -1, 1);
    h_rand_f32(dy, n * out, 3, -1, 1);
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
    h_rand_f32(dy, n * out, 7, -100, 100);
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
