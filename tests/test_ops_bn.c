/* tests/test_ops_bn.c: batch normalisation: OpenCL vs reference (training and inference forward,
 * running statistics, every backward output), reference backward vs finite differences,
 * determinism, in-place use, conv+BN folding, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
#include "ops/bn_internal.h"
#include "ref/ref_bn.h"

typedef struct shape {
    int ndim;
    size_t s[4];
} shape;

/* batch 1, odd spatial sizes (7, 13, 31), channels 3/5/17/6 (not multiples of 4/8/16), an
 * [N, C] tensor (BatchNorm1d), a 1x1 map, and rows long enough for the vector path
 * (31*31 >= FCL_VEC * group size) as well as short ones (the flat path). */
static const shape bn_shapes[] = {
    {4, {1, 3, 7, 7}}, {4, {2, 5, 13, 13}}, {4, {4, 17, 31, 31}}, {2, {8, 6}}, {4, {5, 3, 1, 1}},
    {3, {3, 4, 45}},
};
#define N_BN_SHAPES (sizeof bn_shapes / sizeof bn_shapes[0])

static void shape_str(const shape *s, char *buf, size_t size)
{
    int len = snprintf(buf, size, "[");
    for (int i = 0; i < s->ndim; i++)
        len += snprintf(buf + len, size - (size_t)len, i ? ", %zu" : "%zu", s->s[i]);
    snprintf(buf + len, size - (size_t)len, "]");
}

/* Host data of one case, rounded to float so the reference sees what the device sees. */
typedef struct bn_data {
    size_t n, c, inner, numel;
    double *x, *gamma, *beta, *rm, *rv, *dy, *dx0, *dg0, *db0;
} bn_data;

static bn_data bn_make(const shape *s, uint64_t seed)
{
    bn_data d;
    d.n = s->s[0];
    d.c = s->s[1];
    d.numel = h_numel(s->ndim, s->s);
    d.inner = d.numel / (d.n * d.c);
    d.x = h_alloc(d.numel), d.dy = h_alloc(d.numel), d.dx0 = h_alloc(d.numel);
    d.gamma = h_alloc(d.c), d.beta = h_alloc(d.c), d.rm = h_alloc(d.c), d.rv = h_alloc(d.c);
    d.dg0 = h_alloc(d.c), d.db0 = h_alloc(d.c);
    h_rand(d.x, d.numel, seed, -1, 3);   /* a mean offset, so centring matters */
    h_rand(d.dy, d.numel, seed + 1, -1, 1);
    h_rand(d.dx0, d.numel, seed + 2, -1, 1);
    h_rand(d.gamma, d.c, seed + 3, 0.5, 1.5);
    h_rand(d.beta, d.c, seed + 4, -0.5, 0.5);
    h_rand(d.rm, d.c, seed + 5, -0.5, 0.5);
    h_rand(d.rv, d.c, seed + 6, 0.5, 2);
    h_rand(d.dg0, d.c, seed + 7, -1, 1);
    h_rand(d.db0, d.c, seed + 8, -1, 1);
    double *all[] = {d.x, d.dy, d.dx0};
    for (int i = 0; i < 3; i++) h_to_f32(all[i], d.numel);
    double *per[] = {d.gamma, d.beta, d.rm, d.rv, d.dg0, d.db0};
    for (int i = 0; i < 6; i++) h_to_f32(per[i], d.c);
    return d;
}

static void bn_free(bn_data *d)
{
    free(d->x), free(d->dy), free(d->dx0), free(d->gamma), free(d->beta), free(d->rm), free(d->rv);
    free(d->dg0), free(d->db0);
}

/* Forward (training or inference) and backward of one shape, device vs reference. */
static void run_bn_case(fcl_ctx *ctx, const shape *s, int training, int affine, int wg,
                        uint64_t seed)
{
    char ss[64], what[128];
    shape_str(s, ss, sizeof ss);
    const char *mode = training ? "train" : "infer";
    h_case("bn2d %s%s fwd+bwd %s reduce_wg %d%s", mode, affine ? "" : " affine=False", ss, wg,
           wg ? "" : " (tuned)");
    fcl_bn2d_params p = {training, 1e-5f, 0.1f};
    bn_data d = bn_make(s, seed);
    size_t C = d.c, N = d.numel;
    const double *g = affine ? d.gamma : NULL, *b = affine ? d.beta : NULL;

    double *y_ref = h_alloc(N), *sm_ref = h_alloc(C), *si_ref = h_alloc(C);
    double *rm_ref = h_dup(d.rm, C), *rv_ref = h_dup(d.rv, C);
    fcl_ref_bn2d_fwd(y_ref, sm_ref, si_ref, rm_ref, rv_ref, d.x, g, b, d.n, d.c, d.inner, &p);

    h_buf bx = h_upload(ctx, d.x, s->ndim, s->s), by = h_zeros(ctx, s->ndim, s->s);
    h_buf bg = h_upload(ctx, d.gamma, 1, &C), bb = h_upload(ctx, d.beta, 1, &C);
    h_buf brm = h_upload(ctx, d.rm, 1, &C), brv = h_upload(ctx, d.rv, 1, &C);
    h_buf bsm = h_zeros(ctx, 1, &C), bsi = h_zeros(ctx, 1, &C);
    h_name(&by, "y"), h_name(&brm, "running_mean"), h_name(&brv, "running_var");
    h_name(&bsm, "save_mean"), h_name(&bsi, "save_invstd");
    H_OK(ctx, fcl_bn2d_fwd_wg(ctx, &by.t, &bsm.t, &bsi.t, &brm.t, &brv.t, &bx.t,
                              affine ? &bg.t : NULL, affine ? &bb.t : NULL, &p, wg));
    double *y = h_alloc(N), *sm = h_alloc(C), *si = h_alloc(C), *rm = h_alloc(C), *rv = h_alloc(C);
    h_download(ctx, &by, y);
    h_download(ctx, &bsm, sm);
    h_download(ctx, &bsi, si);
    h_download(ctx, &brm, rm);
    h_download(ctx, &brv, rv);
    h_check_guards(ctx, &bx);
    snprintf(what, sizeof what, "bn %s y %s", mode, ss);
    h_expect_close(what, y, y_ref, N, H_TOL_FWD);
    snprintf(what, sizeof what, "bn %s save_mean", mode);
    h_expect_close(what, sm, sm_ref, C, H_TOL_FWD);
    snprintf(what, sizeof what, "bn %s save_invstd", mode);
    h_expect_close(what, si, si_ref, C, H_TOL_FWD);
    snprintf(what, sizeof what, "bn %s running_mean", mode);
    h_expect_close(what, rm, rm_ref, C, H_TOL_FWD);
    snprintf(what, sizeof what, "bn %s running_var", mode);
    h_expect_close(what, rv, rv_ref, C, H_TOL_FWD);

    /* backward from the device's saved statistics; every gradient starts non-zero */
    double *dx_ref = h_dup(d.dx0, N), *dg_ref = h_dup(d.dg0, C), *db_ref = h_dup(d.db0, C);
    fcl_ref_bn2d_bwd(dx_ref, affine ? dg_ref : NULL, affine ? db_ref : NULL, d.dy, d.x, g, sm_ref,
                     si_ref, d.n, d.c, d.inner, &p);
    h_buf bdy = h_upload(ctx, d.dy, s->ndim, s->s), bdx = h_upload(ctx, d.dx0, s->ndim, s->s);
    h_buf bdg = h_upload(ctx, d.dg0, 1, &C), bdb = h_upload(ctx, d.db0, 1, &C);
    h_name(&bdx, "dx"), h_name(&bdg, "dgamma"), h_name(&bdb, "dbeta");
    H_OK(ctx, fcl_bn2d_bwd_wg(ctx, &bdx.t, affine ? &bdg.t : NULL, affine ? &bdb.t : NULL, &bdy.t,
                              &bx.t, affine ? &bg.t : NULL, &bsm.t, &bsi.t, &p, wg));
    double *dx = h_alloc(N), *dg = h_alloc(C), *db = h_alloc(C);
    h_download(ctx, &bdx, dx);
    h_download(ctx, &bdg, dg);
    h_download(ctx, &bdb, db);
    snprintf(what, sizeof what, "bn %s dx %s", mode, ss);
    h_expect_close(what, dx, dx_ref, N, H_TOL_BWD);
    snprintf(what, sizeof what, "bn %s dgamma", mode);
    h_expect_close(what, dg, dg_ref, C, H_TOL_BWD);
    snprintf(what, sizeof what, "bn %s dbeta", mode);
    h_expect_close(what, db, db_ref, C, H_TOL_BWD);

    h_buf *bufs[] = {&bx, &by, &bg, &bb, &brm, &brv, &bsm, &bsi, &bdy, &bdx, &bdg, &bdb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) h_free(ctx, bufs[i]);
    free(y_ref), free(sm_ref), free(si_ref), free(rm_ref), free(rv_ref), free(y), free(sm), free(si);
    free(rm), free(rv), free(dx_ref), free(dg_ref), free(db_ref), free(dx), free(dg), free(db);
    bn_free(&d);
}

/* The reductions run with the device's tuned group size (1 on PoCL CPUs: one work-item walks a
 * channel) and with 64 and 4 (the fixed-order tree that GPUs use), so both paths are checked
 * on any device. */
static const int bn_wgs[] = {0, 64, 4};

static void training_body(void)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t w = 0; w < 3; w++)
        for (size_t i = 0; i < N_BN_SHAPES; i++)
            run_bn_case(ctx, &bn_shapes[i], 1, 1, bn_wgs[w], 100 + 10 * i + w);
    run_bn_case(ctx, &bn_shapes[1], 1, 0, 0, 7);
    h_ctx_free(ctx);
}
Test(bn, training) { training_body(); }
Test(bn, training_gpu_row) { h_force("bn:-DFCL_VEC=4 -DFCL_BN_WG=256"); training_body(); }
Test(bn, training_gpu_row_tree) { h_force("bn:-DFCL_VEC=4 -DFCL_BN_WG=256 -DFCL_USE_SG=0"); training_body(); }

static void inference_body(void)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t w = 0; w < 2; w++)
        for (size_t i = 0; i < N_BN_SHAPES; i++)
            run_bn_case(ctx, &bn_shapes[i], 0, 1, bn_wgs[w], 200 + 10 * i + w);
    run_bn_case(ctx, &bn_shapes[0], 0, 0, 0, 8);
    h_ctx_free(ctx);
}
Test(bn, inference) { inference_body(); }
Test(bn, inference_gpu_row) { h_force("bn:-DFCL_VEC=4 -DFCL_BN_WG=256"); inference_body(); }
Test(bn, inference_gpu_row_tree) { h_force("bn:-DFCL_VEC=4 -DFCL_BN_WG=256 -DFCL_USE_SG=0"); inference_body(); }

/* Same inputs twice: bit-identical outputs (fixed reduction order); in place y == x. */
static void run_determinism(fcl_ctx *ctx, int wg)
{
    const shape *s = &bn_shapes[2];
    h_case("bn2d determinism and in place [4, 17, 31, 31] reduce_wg %d", wg);
    bn_data d = bn_make(s, 5);
    size_t C = d.c, N = d.numel;
    fcl_bn2d_params p = {1, 1e-5f, 0.1f};
    double *y[2], *dg[2];
    for (int rep = 0; rep < 2; rep++) {
        h_buf bx = h_upload(ctx, d.x, s->ndim, s->s), by = h_zeros(ctx, s->ndim, s->s);
        h_buf bg = h_upload(ctx, d.gamma, 1, &C), bb = h_upload(ctx, d.beta, 1, &C);
        h_buf bsm = h_zeros(ctx, 1, &C), bsi = h_zeros(ctx, 1, &C), bdg = h_zeros(ctx, 1, &C);
        h_buf bdy = h_upload(ctx, d.dy, s->ndim, s->s);
        H_OK(ctx, fcl_bn2d_fwd_wg(ctx, &by.t, &bsm.t, &bsi.t, NULL, NULL, &bx.t, &bg.t, &bb.t, &p, wg));
        H_OK(ctx, fcl_bn2d_bwd_wg(ctx, NULL, &bdg.t, NULL, &bdy.t, &bx.t, &bg.t, &bsm.t, &bsi.t, &p, wg));
        y[rep] = h_alloc(N);
        dg[rep] = h_alloc(C);
        h_download(ctx, &by, y[rep]);
        h_download(ctx, &bdg, dg[rep]);
        if (rep == 1) {   /* in place on the second round */
            double *yi = h_alloc(N);
            H_OK(ctx, fcl_bn2d_fwd_wg(ctx, &bx.t, NULL, NULL, NULL, NULL, &bx.t, &bg.t, &bb.t, &p, wg));
            h_download(ctx, &bx, yi);
            cr_expect(memcmp(yi, y[0], N * sizeof *yi) == 0, "bn in place differs from out of place");
            free(yi);
        }
        h_buf *bufs[] = {&bx, &by, &bg, &bb, &bsm, &bsi, &bdg, &bdy};
        for (size_t i = 0; i < 8; i++) h_free(ctx, bufs[i]);
    }
    cr_expect(memcmp(y[0], y[1], N * sizeof *y[0]) == 0, "bn forward differs between two runs");
    cr_expect(memcmp(dg[0], dg[1], C * sizeof *dg[0]) == 0, "bn dgamma differs between two runs");
    free(y[0]), free(y[1]), free(dg[0]), free(dg[1]);
    bn_free(&d);
}

static void deterministic_and_in_place_body(void)
{
    fcl_ctx *ctx = h_ctx();
    run_determinism(ctx, 0);
    run_determinism(ctx, 64);
    h_ctx_free(ctx);
}
Test(bn, deterministic_and_in_place) { deterministic_and_in_place_body(); }
Test(bn, deterministic_and_in_place_gpu_row) { h_force("bn:-DFCL_VEC=4 -DFCL_BN_WG=256"); deterministic_and_in_place_body(); }
Test(bn, deterministic_and_in_place_gpu_row_tree) { h_force("bn:-DFCL_VEC=4 -DFCL_BN_WG=256 -DFCL_USE_SG=0"); deterministic_and_in_place_body(); }

/* ---- reference backward vs finite differences ---------------------------------------------- */

typedef struct bn_fd_ud {
    bn_data *d;
    fcl_bn2d_params p;
    int wrt;   /* 0: x, 1: gamma, 2: beta */
} bn_fd_ud;

static void bn_fd_f(double *y, const double *v, void *ud)
{
    bn_fd_ud *u = ud;
    bn_data *d = u->d;
    double *rm = h_dup(d->rm, d->c), *rv = h_dup(d->rv, d->c);
    fcl_ref_bn2d_fwd(y, NULL, NULL, rm, rv, u->wrt == 0 ? v : d->x, u->wrt == 1 ? v : d->gamma,
                     u->wrt == 2 ? v : d->beta, d->n, d->c, d->inner, &u->p);
    free(rm), free(rv);
}

Test(bn, finite_differences)
{
    const shape fd_shapes[] = {{4, {2, 3, 5, 7}}, {4, {1, 2, 3, 3}}, {2, {6, 5}}};
    for (size_t si = 0; si < 3; si++)
        for (int training = 1; training >= 0; training--) {
            const shape *s = &fd_shapes[si];
            char ss[64], what[96];
            shape_str(s, ss, sizeof ss);
            h_case("bn2d %s reference backward vs finite differences %s", training ? "train" : "infer", ss);
            bn_data d = bn_make(s, 40 + si);
            bn_fd_ud u = {&d, {training, 1e-5f, 0.1f}, 0};
            double *r = h_alloc(d.numel), *sm = h_alloc(d.c), *si_ = h_alloc(d.c), *y = h_alloc(d.numel);
            double *gx = h_alloc(d.numel), *gg = h_alloc(d.c), *gb = h_alloc(d.c);
            double *rm = h_dup(d.rm, d.c), *rv = h_dup(d.rv, d.c);
            h_rand(r, d.numel, 77 + si, -1, 1);
            fcl_ref_bn2d_fwd(y, sm, si_, rm, rv, d.x, d.gamma, d.beta, d.n, d.c, d.inner, &u.p);
            fcl_ref_bn2d_bwd(gx, gg, gb, r, d.x, d.gamma, sm, si_, d.n, d.c, d.inner, &u.p);
            double *vals[] = {d.x, d.gamma, d.beta}, *grads[] = {gx, gg, gb};
            const char *names[] = {"dx", "dgamma", "dbeta"};
            size_t counts[] = {d.numel, d.c, d.c};
            for (int w = 0; w < 3; w++) {
                u.wrt = w;
                double *v = h_dup(vals[w], counts[w]);
                snprintf(what, sizeof what, "bn %s %s %s", training ? "train" : "infer", names[w], ss);
                h_fd_check(&(h_fd){.what = what, .f = bn_fd_f, .ud = &u, .x = v, .nx = counts[w],
                                   .ny = d.numel, .r = r, .grad = grads[w], .seed = (uint64_t)w});
                free(v);
            }
            free(r), free(sm), free(si_), free(y), free(gx), free(gg), free(gb), free(rm), free(rv);
            bn_free(&d);
        }
}

/* ---- folding into a conv -------------------------------------------------------------------- */

/* Plain 2-D convolution, stride 1, padding `pad`, as the test's own oracle:
 * x [n, ci, h, w], wt [co, ci, k, k], b [co] or NULL -> y [n, co, h, w] (k = 2 pad + 1). */
static void conv_same(double *y, const double *x, const double *wt, const double *b, size_t n,
                      size_t ci, size_t co, size_t h, size_t w, size_t k, size_t pad)
{
    for (size_t bi = 0; bi < n; bi++)
        for (size_t o = 0; o < co; o++)
            for (size_t r = 0; r < h; r++)
                for (size_t q = 0; q < w; q++) {
                    double acc = b ? b[o] : 0;
                    for (size_t i = 0; i < ci; i++)
                        for (size_t kr = 0; kr < k; kr++)
                            for (size_t kq = 0; kq < k; kq++) {
                                long rr = (long)r + (long)kr - (long)pad, qq = (long)q + (long)kq - (long)pad;
                                if (rr < 0 || qq < 0 || rr >= (long)h || qq >= (long)w) continue;
                                acc += x[((bi * ci + i) * h + (size_t)rr) * w + (size_t)qq] *
                                       wt[((o * ci + i) * k + kr) * k + kq];
                            }
                    y[((bi * co + o) * h + r) * w + q] = acc;
                }
}

Test(bn, fold_into_conv)
{
    fcl_ctx *ctx = h_ctx();
    for (int with_bias = 1; with_bias >= 0; with_bias--) {
        h_case("bn2d fold: bn(conv(x)) == conv_folded(x), conv %s bias", with_bias ? "with" : "without");
        const size_t n = 2, ci = 3, co = 5, h = 9, w = 7, k = 3;
        size_t ws[4] = {co, ci, k, k}, xs_n = n * ci * h * w, ys_n = n * co * h * w, wn = co * ci * k * k;
        double *x = h_alloc(xs_n), *wt = h_alloc(wn), *b = h_alloc(co), *g = h_alloc(co), *be = h_alloc(co);
        double *rm = h_alloc(co), *rv = h_alloc(co);
        h_rand(x, xs_n, 1, -1, 1), h_rand(wt, wn, 2, -0.5, 0.5), h_rand(b, co, 3, -0.5, 0.5);
        h_rand(g, co, 4, 0.5, 1.5), h_rand(be, co, 5, -0.5, 0.5), h_rand(rm, co, 6, -0.5, 0.5);
        h_rand(rv, co, 7, 0.2, 2);
        double *arrs[] = {x, wt, b, g, be, rm, rv};
        size_t lens[] = {xs_n, wn, co, co, co, co, co};
        for (int i = 0; i < 7; i++) h_to_f32(arrs[i], lens[i]);
        const double *bias = with_bias ? b : NULL;

        /* bn(conv(x)) in inference mode */
        fcl_bn2d_params p = {0, 1e-5f, 0.1f};
        double *c1 = h_alloc(ys_n), *y1 = h_alloc(ys_n), *y2 = h_alloc(ys_n);
        conv_same(c1, x, wt, bias, n, ci, co, h, w, k, 1);
        fcl_ref_bn2d_fwd(y1, NULL, NULL, rm, rv, c1, g, be, n, co, h * w, &p);

        /* fold on the device (in place into w's buffer), then conv with the folded layer */
        h_buf bw = h_upload(ctx, wt, 4, ws), bb = h_upload(ctx, b, 1, &co), bbo = h_zeros(ctx, 1, &co);
        h_buf bg = h_upload(ctx, g, 1, &co), bbe = h_upload(ctx, be, 1, &co);
        h_buf brm = h_upload(ctx, rm, 1, &co), brv = h_upload(ctx, rv, 1, &co);
        h_name(&bw, "w (folded in place)"), h_name(&bbo, "b_out");
        H_OK(ctx, fcl_bn2d_fold(ctx, &bw.t, &bbo.t, &bw.t, with_bias ? &bb.t : NULL, &bg.t, &bbe.t,
                                &brm.t, &brv.t, p.eps));
        double *wf = h_alloc(wn), *bf = h_alloc(co), *wf_ref = h_alloc(wn), *bf_ref = h_alloc(co);
        h_download(ctx, &bw, wf);
        h_download(ctx, &bbo, bf);
        fcl_ref_bn2d_fold(wf_ref, bf_ref, wt, bias, g, be, rm, rv, p.eps, co, ci * k * k);
        h_expect_close("fold w vs reference", wf, wf_ref, wn, H_TOL_FWD);
        h_expect_close("fold b vs reference", bf, bf_ref, co, H_TOL_FWD);
        conv_same(y2, x, wf, bf, n, ci, co, h, w, k, 1);
        h_expect_close("conv_folded(x) vs bn(conv(x))", y2, y1, ys_n, H_TOL_FWD);

        h_buf *bufs[] = {&bw, &bb, &bbo, &bg, &bbe, &brm, &brv};
        for (int i = 0; i < 7; i++) h_free(ctx, bufs[i]);
        free(x), free(wt), free(b), free(g), free(be), free(rm), free(rv), free(c1), free(y1), free(y2);
        free(wf), free(bf), free(wf_ref), free(bf_ref);
    }
    h_ctx_free(ctx);
}

/* ---- errors ----------------------------------------------------------------------------------- */

Test(bn, errors)
{
    h_case("bn2d argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t s1[4] = {1, 3, 1, 1}, s3[1] = {3}, s2[1] = {2}, s4[4] = {2, 3, 2, 2};
    double v[24] = {0};
    h_buf x1 = h_upload(ctx, v, 4, s1), y1 = h_zeros(ctx, 4, s1), c3 = h_upload(ctx, v, 1, s3);
    h_buf c3b = h_upload(ctx, v, 1, s3), c2 = h_upload(ctx, v, 1, s2);
    h_buf x4 = h_upload(ctx, v, 4, s4), y4 = h_zeros(ctx, 4, s4);
    fcl_bn2d_params train = {1, 1e-5f, 0.1f}, infer = {0, 1e-5f, 0.1f};
    fcl_status st = fcl_bn2d_fwd(ctx, &y1.t, NULL, NULL, NULL, NULL, &x1.t, NULL, NULL, &train);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "more than 1 value"),
              "one value per channel in training: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_fwd(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, NULL, NULL, &infer);
    cr_expect(st == FCL_ERR_INVALID_ARG, "inference without running stats: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_fwd(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, &c2.t, NULL, &train);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "gamma"), "gamma of 2 for 3 channels: %s",
              fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_fwd(ctx, &y1.t, NULL, NULL, NULL, NULL, &x4.t, NULL, NULL, &train);
    cr_expect(st == FCL_ERR_SHAPE, "y of another shape: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_bwd(ctx, &x4.t, NULL, NULL, &y4.t, &x4.t, NULL, &c3.t, &c3b.t, &train);
    cr_expect(st == FCL_ERR_INVALID_ARG, "dx == x must be refused: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_fwd(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, NULL, NULL, NULL);
    cr_expect(st == FCL_ERR_INVALID_ARG, "NULL params");
    st = fcl_bn2d_fwd_wg(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, NULL, NULL, &train, -2);
    cr_expect(st == FCL_ERR_INVALID_ARG, "negative group size: %s", fcl_ctx_errmsg(ctx));
    /* w [2, 3, 2, 2] has 2 output channels: stats of 2 fit, stats of 3 do not */
    h_buf c2b = h_upload(ctx, v, 1, s2), c2c = h_upload(ctx, v, 1, s2);
    st = fcl_bn2d_fold(ctx, &y4.t, &c2.t, &x4.t, NULL, NULL, NULL, &c2b.t, &c2c.t, 1e-5f);
    cr_expect(st == FCL_OK, "fold with matching shapes: %s", fcl_ctx_errmsg(ctx));
    /* b_out over the running statistics races (oclgrind: bn_fold reads running_var[co] in every
     * work-item of row co while the row's first writes b_out[co]): refused. */
    st = fcl_bn2d_fold(ctx, &y4.t, &c2.t, &x4.t, NULL, NULL, NULL, &c2.t, &c2.t, 1e-5f);
    cr_expect(st == FCL_ERR_INVALID_ARG && strstr(fcl_ctx_errmsg(ctx), "running statistics"),
              "b_out aliasing running_mean/running_var must be refused: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_fold(ctx, &y4.t, &c2b.t, &x4.t, NULL, &c2b.t, NULL, &c2.t, &c2c.t, 1e-5f);
    cr_expect(st == FCL_ERR_INVALID_ARG, "b_out aliasing gamma must be refused: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_fold(ctx, &y4.t, &c2.t, &x4.t, NULL, NULL, NULL, &c3.t, &c3b.t, 1e-5f);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "running_mean"),
              "fold with 3 statistics for 2 output channels: %s", fcl_ctx_errmsg(ctx));
    h_buf *bufs[] = {&x1, &y1, &c3, &c3b, &c2, &x4, &y4, &c2b, &c2c};
    for (int i = 0; i < 9; i++) h_free(ctx, bufs[i]);
    h_ctx_free(ctx);
}
