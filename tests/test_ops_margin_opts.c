/* tests/test_ops_margin_opts.c: the margin heads' training-step options (fcl_margin_head_opts: the forward's saved weight and row statistics, the backward's overwritten dW) against the plain functions, bit for bit, under the default and the forced kernel rows. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <facecl/ops_metric_loss.h>
#include <facecl/tuning.h>

#include "helpers/opcheck.h"

/* test_ops_metric_loss's forced rows: the GPU-shaped row kernels (head_w_norms_wg, flat and tree
 * sums), gemm_wt for every product with odd blocks and split K, float2 vectors with odd
 * head_bwd_dw blocks (element-by-element tails: head_bwd_dw's scalar epilogue); and the CPU shape
 * on every device (head_fwd_rows, the forward's fused rows, on oclgrind's and GPUs too) with
 * gemm_wt for every product (the forward's weight norms from gemm_wt, 5-row blocks, must be the
 * plain backward's head_w_norms bit for bit, the zero row's clamped factor included; the last row
 * with the row blocks fastest, CONV_WT_RB_FAST 1) */
static const char *const tunings[] = {"loss:-DFCL_ROW_WG=64",
                                      "loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0 -DHEAD_MB=4 -DHEAD_NV=1 -DHEAD_VW=16",
                                      "loss:-DFCL_ROW_WG=64;conv:-DCONV_LINEAR=4 -DCONV_MB=5 -DCONV_NV=3 "
                                      "-DCONV_VW=8 -DCONV_TM=3 -DCONV_TN=5 -DCONV_TW=8 -DCONV_WT_SPLIT=3",
                                      "loss:-DFCL_VEC=2 -DHEAD_MB=5 -DHEAD_NV=3 -DHEAD_VW=4",
                                      "loss:-DFCL_ROW_WG=0 -DHEAD_MB=5;conv:-DCONV_LINEAR=4 -DCONV_MB=5 -DCONV_WT_SPLIT=3 "
                                      "-DCONV_WT_RB_FAST=1", NULL};

static const fcl_margin_params MARGINS[] = {
    {FCL_MARGIN_COSFACE, 64.0f, 0.35f, 0, 0.0f, 0.1f},
    {FCL_MARGIN_ARCFACE, 64.0f, 0.5f, 0, 0.0f, 0.0f},
    {FCL_MARGIN_SPHEREFACE, 0.0f, 4.0f, 0, 5.0f, 0.0f},
};

/* a[i] == b[i] for every i (NaN matching NaN) */
static void expect_same(const char *what, const double *a, const double *b, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))) && !bad++) first = i;
    cr_expect(bad == 0, "%s: %zu of %zu differ, first [%zu] %.9g vs %.9g", what, bad, n, first, a[bad ? first : 0],
              b[bad ? first : 0]);
}

/* One head: plain forward / backward (dx, dW from zeros) vs the _opt forms with w_stats and
 * row_stats from the forward and dW overwritten (its old contents 123). W's row 1 zero (zero_row):
 * its norm clamped, so its projection factor (0) differs from its inverse norm (1e12): the two
 * rows of w_stats are told apart. Then w_stats with its first row doubled, and row_stats with
 * their log-sum-exps + 0.5, must change dx: the backward reads them. */
static void check_head(fcl_ctx *ctx, const fcl_margin_params *p, size_t n, size_t d, size_t k, uint64_t seed,
                       int zero_row)
{
    h_case("margin head opts kind %d n=%zu d=%zu k=%zu zero row %d", (int)p->kind, n, d, k, zero_row);
    size_t sx[2] = {n, d}, sw[2] = {k, d}, sz[2] = {n, k}, ss[2] = {2, k}, sr[2] = {n, 2}, one = 1;
    size_t most = (n > d ? n : d) * k;   /* the largest of [n, k], [k, d] (and [n, d], [2, k]) */
    double *x = h_alloc(n * d), *w = h_alloc(k * d), *lab = h_alloc(n), *a = h_alloc(most), *b = h_alloc(most);
    h_rand_f32(x, n * d, seed, -1, 1);
    h_rand_f32(w, k * d, seed + 1, -1, 1);
    if (zero_row) memset(w + d, 0, d * sizeof *w);
    for (size_t i = 0; i < n; i++) lab[i] = (double)((i * 7 + seed) % k);
    for (size_t i = 0; i < k * d; i++) a[i] = 123.0;
    h_buf bx = h_upload(ctx, x, 2, sx), bw = h_upload(ctx, w, 2, sw), bl = h_upload(ctx, lab, 1, &n);
    h_buf l0 = h_zeros(ctx, 1, &one), l1 = h_zeros(ctx, 1, &one), z0 = h_zeros(ctx, 2, sz), z1 = h_zeros(ctx, 2, sz);
    h_buf c0 = h_zeros(ctx, 2, sz), c1 = h_zeros(ctx, 2, sz), ws = h_zeros(ctx, 2, ss), ws2 = h_zeros(ctx, 2, ss);
    h_buf dx0 = h_zeros(ctx, 2, sx), dx1 = h_zeros(ctx, 2, sx), dx2 = h_zeros(ctx, 2, sx);
    h_buf dw0 = h_zeros(ctx, 2, sw), dw1 = h_upload(ctx, a, 2, sw), dw2 = h_zeros(ctx, 2, sw);
    h_buf rs = h_zeros(ctx, 2, sr), rs2 = h_zeros(ctx, 2, sr);
    fcl_margin_head_opts o = {&ws.t, 1, &rs.t}, o2 = {&ws2.t, 0, &rs.t};
    H_OK(ctx, fcl_margin_head_fwd(ctx, &l0.t, &z0.t, &c0.t, &bx.t, &bw.t, &bl.t, p));
    H_OK(ctx, fcl_margin_head_fwd_opt(ctx, &l1.t, &z1.t, &c1.t, &bx.t, &bw.t, &bl.t, p, &o));
    double la, lb;
    h_download(ctx, &l0, &la), h_download(ctx, &l1, &lb);
    expect_same("loss", &la, &lb, 1);
    h_download(ctx, &z0, a), h_download(ctx, &z1, b);
    expect_same("logits", a, b, n * k);
    h_download(ctx, &c0, a), h_download(ctx, &c1, b);
    expect_same("cos", a, b, n * k);
    H_OK(ctx, fcl_margin_head_bwd(ctx, &dx0.t, &dw0.t, &z0.t, &c0.t, &bx.t, &bw.t, &bl.t, p, 0.7f));
    H_OK(ctx, fcl_margin_head_bwd_opt(ctx, &dx1.t, &dw1.t, &z0.t, &c0.t, &bx.t, &bw.t, &bl.t, p, 0.7f, &o));
    h_download(ctx, &dw0, a), h_download(ctx, &dw1, b);
    expect_same("dW", a, b, k * d);
    h_download(ctx, &dx0, a), h_download(ctx, &dx1, b);
    expect_same("dx", a, b, n * d);
    /* the backward reads w_stats: its inverse norms doubled change dx */
    h_download(ctx, &ws, b);
    for (size_t j = 0; j < k; j++) b[j] *= 2.0;
    h_free(ctx, &ws2);
    ws2 = h_upload(ctx, b, 2, ss);
    o2.w_stats = &ws2.t;
    H_OK(ctx, fcl_margin_head_bwd_opt(ctx, &dx2.t, &dw2.t, &z0.t, &c0.t, &bx.t, &bw.t, &bl.t, p, 0.7f, &o2));
    h_download(ctx, &dx2, b);
    size_t moved = 0;
    for (size_t i = 0; i < n * d; i++) moved += b[i] != a[i];
    cr_expect(moved > 0, "dx ignores w_stats");
    /* and row_stats (but SphereFace's backward with dx finds them itself where the GPU-shaped rows
     * take d||x|| from head_bwd_stats' pass): log-sum-exps + 0.5 */
    h_download(ctx, &rs, b);
    for (size_t i = 0; i < n; i++) b[2 * i + 1] += 0.5;
    h_free(ctx, &rs2);
    rs2 = h_upload(ctx, b, 2, sr);
    fcl_margin_head_opts o3 = {&ws.t, 0, &rs2.t};
    H_OK(ctx, fcl_tensor_fill(ctx, &dx2.t, 0.0f));
    H_OK(ctx, fcl_margin_head_bwd_opt(ctx, &dx2.t, NULL, &z0.t, &c0.t, &bx.t, &bw.t, &bl.t, p, 0.7f, &o3));
    h_download(ctx, &dx2, b);
    moved = 0;
    for (size_t i = 0; i < n * d; i++) moved += b[i] != a[i];
    int own = p->kind == FCL_MARGIN_SPHEREFACE && fcl_tuning_int(ctx, FCL_T_LOSS_ROW_WG) > 0;
    cr_expect((moved > 0) == !own, "dx and row_stats: %zu moved", moved);
    h_buf *all[] = {&bx, &bw, &bl, &l0, &l1, &z0, &z1, &c0, &c1, &ws, &ws2, &dx0, &dx1, &dx2, &dw0, &dw1, &dw2,
                    &rs, &rs2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) h_free(ctx, all[i]);
    free(x), free(w), free(lab), free(a), free(b);
}

/* every margin on 3 odd shapes (the last: 301 classes, past the heads' CPU chunks and 256-wide
 * groups), one of them with a zero weight row */
static void match_plain_body(void)
{
    fcl_ctx *ctx = h_ctx();
    static const struct { size_t n, d, k; } shapes[] = {{13, 7, 11}, {33, 128, 37}, {2, 9, 301}};
    for (size_t m = 0; m < sizeof MARGINS / sizeof MARGINS[0]; m++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_head(ctx, &MARGINS[m], shapes[s].n, shapes[s].d, shapes[s].k, 40 + 10 * m + s, s == 0);
    h_ctx_free(ctx);
}
OC_TEST_TUNED(margin_opts, match_plain, tunings, 5, match_plain_body)

/* w_stats of the wrong shape, or overlapping a gradient: refused with a message naming it */
Test(margin_opts, bad_w_stats_is_rejected)
{
    fcl_ctx *ctx = h_ctx();
    h_case("margin head opts: bad w_stats");
    size_t sx[2] = {4, 7}, sw[2] = {11, 7}, sz[2] = {4, 11}, s3[2] = {3, 11}, s2[2] = {2, 11}, n4 = 4, one = 1;
    h_buf x = h_zeros(ctx, 2, sx), w = h_zeros(ctx, 2, sw), z = h_zeros(ctx, 2, sz), c = h_zeros(ctx, 2, sz);
    h_buf lab = h_zeros(ctx, 1, &n4), loss = h_zeros(ctx, 1, &one), ws3 = h_zeros(ctx, 2, s3), dx = h_zeros(ctx, 2, sx);
    fcl_margin_params mp = MARGINS[1];
    fcl_margin_head_opts o = {&ws3.t, 0, NULL};
    fcl_status st = fcl_margin_head_fwd_opt(ctx, &loss.t, &z.t, &c.t, &x.t, &w.t, &lab.t, &mp, &o);
    cr_expect_eq(st, FCL_ERR_SHAPE, "w_stats [3, 11]: %s", fcl_status_name(st));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "w_stats") != NULL, "message: %s", fcl_ctx_errmsg(ctx));
    printf("  %s\n", fcl_ctx_errmsg(ctx));
    st = fcl_margin_head_bwd_opt(ctx, &dx.t, NULL, &z.t, &c.t, &x.t, &w.t, &lab.t, &mp, 1.0f, &o);
    cr_expect_eq(st, FCL_ERR_SHAPE, "bwd w_stats [3, 11]: %s", fcl_status_name(st));
    h_buf dw = h_zeros(ctx, 2, sw);
    fcl_tensor in_dw;   /* a [2, 11] view inside the gradient dW */
    H_OK(ctx, fcl_tensor_view(ctx, &dw.t, 0, 2, s2, &in_dw));
    o.w_stats = &in_dw;
    st = fcl_margin_head_bwd_opt(ctx, NULL, &dw.t, &z.t, &c.t, &x.t, &w.t, &lab.t, &mp, 1.0f, &o);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "w_stats inside dW: %s", fcl_status_name(st));
    printf("  %s\n", fcl_ctx_errmsg(ctx));
    h_buf *all[] = {&x, &w, &z, &c, &lab, &loss, &ws3, &dx, &dw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) h_free(ctx, all[i]);
    h_ctx_free(ctx);
}
