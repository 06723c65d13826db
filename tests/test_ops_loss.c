/* tests/test_ops_loss.c: cross-entropy, log-softmax, L2 normalisation, cosine similarity as op-driver
 * descriptors (OpenCL vs reference, the GPU-shaped row kernels forced, FD), bad labels, subnormal
 * gradients, bad input. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <facecl/ops_loss.h>

#include "helpers/opcheck.h"
#include "ref/ref_loss.h"

/* The GPU-shaped row kernels (one work-group per row) forced: subgroups, and the local-memory tree. */
static const char *const loss_tunings[] = {"loss:-DFCL_ROW_WG=64", "loss:-DFCL_ROW_WG=256 -DFCL_USE_SG=0", "loss:-DFCL_VEC=2",
                                           NULL};

/* ---- cross-entropy: logits, labels, loss, row losses, the loss's gradient (a scalar), dlogits ---- */

typedef struct xent_case {
    size_t n, k;
    double eps, dloss;
    double lo, hi;   /* logit range */
} xent_case;
static const xent_case xent_cases[] = {
    {1, 2, 0.0, 1.0, -3, 3},      {1, 10, 0.1, 1.0, -3, 3},    {7, 13, 0.1, 1.0, -5, 5},
    {5, 1, 0.1, 1.0, -1, 1},      {32, 1000, 0.1, 1.0, -8, 8}, {33, 101, 0.0, 0.5, -4, 4},
    {3, 37, 0.3, 2.0, -2, 2},     {17, 7, 1.0, 1.0, -3, 3},
    /* numerically stable: huge logits (exp would overflow without the max shift) */
    {9, 11, 0.1, 1.0, 950, 1000}, {4, 19, 0.1, 1.0, -200, 200},
    /* the reference vs finite differences (loss weight 1.7) */
    {4, 7, 0.0, 1.7, -3, 3},      {4, 7, 0.1, 1.7, -3, 3},     {4, 7, 0.5, 1.7, -3, 3},
};
#define N_XENT_DEVICE 10
#define N_XENT (sizeof xent_cases / sizeof xent_cases[0])

enum { Z, LAB, LOSS, RL, DLOSS, DZ };

/* labels: integers in [0, k); the loss weight: dloss */
static void xent_fill(double *const *h, const oc_case *c)
{
    const xent_case *u = OC_P(c, xent_case);
    oc_floor_labels(h[LAB], u->n, (int)u->k);
    h[DLOSS][0] = u->dloss;
}

/* the device's parameters of a case (label smoothing eps as a float) */
static fcl_xent_params xent_params(const oc_case *c)
{
    fcl_xent_params p = {(float)OC_P(c, xent_case)->eps};
    return p;
}

static fcl_status xent_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_xent_params p = xent_params(c);
    return fcl_softmax_xent_fwd(ctx, t[LOSS], t[RL], t[Z], t[LAB], &p);
}

static fcl_status xent_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    fcl_xent_params p = xent_params(c);
    return fcl_softmax_xent_bwd(ctx, t[DZ], t[Z], t[LAB], &p, (float)OC_P(c, xent_case)->dloss);
}

static void xent_ref_fwd(double *const *h, const oc_case *c)
{
    const xent_case *u = OC_P(c, xent_case);
    int *l = oc_labels(h[LAB], u->n);
    fcl_ref_softmax_xent_fwd(h[LOSS], h[RL], h[Z], l, u->n, u->k, u->eps);
    free(l);
}

static void xent_ref_bwd(double *const *h, const oc_case *c)
{
    const xent_case *u = OC_P(c, xent_case);
    int *l = oc_labels(h[LAB], u->n);
    double *g = h_alloc(u->n * u->k);
    fcl_ref_softmax_xent_bwd(g, h[Z], l, u->n, u->k, u->eps, u->dloss);
    for (size_t i = 0; i < u->n * u->k; i++) h[DZ][i] += g[i];
    free(l), free(g);
}

/* without row_loss: the same loss, bit for bit (fixed-order reduction) */
static void xent_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h, (void)want;
    fcl_xent_params p = xent_params(c);
    double loss, loss2;
    h_download(ctx, &b[LOSS], &loss);
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &b[LOSS].t, NULL, &b[Z].t, &b[LAB].t, &p));
    h_download(ctx, &b[LOSS], &loss2);
    cr_expect(loss2 == loss, "loss without row_loss differs: %.9g vs %.9g", loss2, loss);
}

static int xent_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int fd = *(const int *)op->ud;
    i += fd ? N_XENT_DEVICE : 0;
    if (i >= (fd ? N_XENT : N_XENT_DEVICE)) return 0;
    const xent_case *u = &xent_cases[i];
    *OC_P(c, xent_case) = *u;
    size_t sz[2] = {u->n, u->k}, one = 1;
    oc_arg_set(c, Z, "logits", OC_IN, 2, sz, u->lo, u->hi);
    oc_arg_set(c, LAB, "labels", OC_IN, 1, &u->n, 0, (double)u->k);
    oc_arg_set(c, LOSS, "loss (mean)", OC_OUT, 1, &one, 0, 0);
    oc_arg_set(c, RL, "row losses", OC_OUT, 1, &u->n, 0, 0);
    oc_arg_set(c, DLOSS, "dloss", OC_IN, 1, &one, 0, 0);
    oc_arg_set(c, DZ, "dlogits", OC_GRAD, 2, sz, -0.01, 0.01)->delta = 1;
    snprintf(c->what, sizeof c->what, "softmax xent n=%zu k=%zu eps=%.2f dloss=%.2f logits [%g, %g)", u->n, u->k,
             u->eps, u->dloss, u->lo, u->hi);
    if (fd) {
        c->device = 0;
        oc_fd_add(c, Z, LOSS, DLOSS, DZ, 0, NULL);
    }
    return 1;
}

/* ---- log-softmax and L2 normalisation: x, y, dy, dx ------------------------------------------------ */

enum { X, Y, DY, DX };
enum { K_LSM, K_L2 };

typedef struct rows_case {
    int kind;
    size_t n, k;
} rows_case;

static fcl_status rows_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return OC_P(c, rows_case)->kind == K_LSM ? fcl_log_softmax_fwd(ctx, t[Y], t[X]) : fcl_l2norm_fwd(ctx, t[Y], t[X]);
}

/* log-softmax's backward reads the device's y */
static fcl_status rows_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return OC_P(c, rows_case)->kind == K_LSM ? fcl_log_softmax_bwd(ctx, t[DX], t[DY], t[Y])
                                             : fcl_l2norm_bwd(ctx, t[DX], t[DY], t[X]);
}

static void rows_ref_fwd(double *const *h, const oc_case *c)
{
    const rows_case *u = OC_P(c, rows_case);
    if (u->kind == K_LSM) fcl_ref_log_softmax_fwd(h[Y], h[X], u->n, u->k);
    else fcl_ref_l2norm_fwd(h[Y], h[X], u->n, u->k, FCL_L2NORM_EPS);
}

static void rows_ref_bwd(double *const *h, const oc_case *c)
{
    const rows_case *u = OC_P(c, rows_case);
    double *g = h_alloc(u->n * u->k);
    if (u->kind == K_LSM) {   /* from y rounded to float, as the device stores it */
        double *y = h_dup(h[Y], u->n * u->k);
        h_to_f32(y, u->n * u->k);
        fcl_ref_log_softmax_bwd(g, h[DY], y, u->n, u->k);
        free(y);
        for (size_t i = 0; i < u->n * u->k; i++) h[DX][i] += g[i];
    } else {   /* accumulates itself */
        fcl_ref_l2norm_bwd(h[DX], h[DY], h[X], u->n, u->k, FCL_L2NORM_EPS);
    }
    free(g);
}

/* l2norm: row 1 all zero and row 2 tiny (norm < 1e-12): both use the eps clamp */
static void rows_fill(double *const *h, const oc_case *c)
{
    const rows_case *u = OC_P(c, rows_case);
    if (u->kind != K_L2 || u->n <= 2 || !c->device) return;
    for (size_t j = 0; j < u->k; j++) {
        h[X][u->k + j] = 0.0;
        h[X][2 * u->k + j] = (float)(1e-14 * (double)(j % 3));
    }
}

/* log-softmax in place */
static void rows_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h;
    if (OC_P(c, rows_case)->kind != K_LSM) return;
    double *y = h_alloc(b[X].numel);
    H_OK(ctx, fcl_log_softmax_fwd(ctx, &b[X].t, &b[X].t));
    h_download(ctx, &b[X], y);
    h_expect_close("log_softmax fwd in place", y, want[Y], b[X].numel, H_TOL_FWD);
    free(y);
}

/* ud {kind, fd}: every shape, or the reference vs FD on one */
static int rows_gen(const oc_op *op, size_t i, oc_case *c)
{
    static const size_t lsm[][2] = {{1, 1}, {1, 10}, {7, 13}, {32, 1000}, {5, 3}, {64, 257}};
    static const size_t l2[][2] = {{1, 1}, {1, 512}, {7, 13}, {32, 128}, {5, 3}, {33, 257}};
    const int *kf = op->ud;
    if (i >= (kf[1] ? 1u : 6u)) return 0;
    rows_case *u = OC_P(c, rows_case);
    *u = (rows_case){kf[0], kf[0] == K_LSM ? lsm[i][0] : l2[i][0], kf[0] == K_LSM ? lsm[i][1] : l2[i][1]};
    if (kf[1]) *u = kf[0] == K_LSM ? (rows_case){K_LSM, 3, 9} : (rows_case){K_L2, 4, 6};
    size_t sh[2] = {u->n, u->k};
    double r = kf[1] ? (kf[0] == K_LSM ? 4 : 1) : (kf[0] == K_LSM ? 10 : 2);
    oc_arg_set(c, X, "x", OC_IN, 2, sh, -r, r);
    oc_arg_set(c, Y, "y", OC_OUT, 2, sh, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, 2, sh, -1, 1);
    /* log-softmax: what the backward added; l2norm: the sums (at d = 1 the gradient is 0 up to
     * rounding, which a relative check of the added part cannot judge) */
    oc_arg *dx = oc_arg_set(c, DX, "dx", OC_GRAD, 2, sh, -1, 1);
    dx->delta = u->kind == K_LSM;
    if (u->kind == K_L2 && u->n > 2) {   /* the clamped rows' gradients are dy / 1e-12: on their own scale */
        dx->split[0] = u->k;
        dx->split[1] = 3 * u->k;
    }
    snprintf(c->what, sizeof c->what, "%s n=%zu %s=%zu", u->kind == K_LSM ? "log_softmax" : "l2norm", u->n,
             u->kind == K_LSM ? "k" : "d", u->k);
    if (kf[1]) {
        c->device = 0;
        oc_fd_add(c, X, Y, DY, DX, 0, NULL);
    }
    return 1;
}

/* ---- cosine similarity: A, B, S, dS, dA, dB (same: B is A and dB is dA) ------------------------------ */

typedef struct cos_case {
    size_t na, nb, d;
    int same;
} cos_case;
static const cos_case cos_cases[] = {
    {1, 1, 1, 0}, {1, 7, 13, 0}, {5, 3, 31, 0}, {32, 32, 512, 0}, {33, 17, 128, 0}, {9, 9, 37, 1}, {32, 32, 128, 1},
    {3, 4, 5, 0},   /* the reference vs finite differences */
};
#define N_COS (sizeof cos_cases / sizeof cos_cases[0])

enum { CA, CB, CS, CDS, CDA, CDB };

static fcl_status cos_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    return fcl_cosine_sim_fwd(ctx, t[CS], t[CA], OC_P(c, cos_case)->same ? t[CA] : t[CB]);
}

/* same: dB is dA, so dB's own buffer (an input then) must stay as it was */
static fcl_status cos_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    int same = OC_P(c, cos_case)->same;
    return fcl_cosine_sim_bwd(ctx, t[CDA], same ? t[CDA] : t[CDB], t[CDS], t[CA], same ? t[CA] : t[CB]);
}

static void cos_ref_fwd(double *const *h, const oc_case *c)
{
    const cos_case *u = OC_P(c, cos_case);
    fcl_ref_cosine_sim_fwd(h[CS], h[CA], u->same ? h[CA] : h[CB], u->na, u->nb, u->d, FCL_L2NORM_EPS);
}

static void cos_ref_bwd(double *const *h, const oc_case *c)
{
    const cos_case *u = OC_P(c, cos_case);
    double *da = h_alloc(u->na * u->d), *db = h_alloc(u->nb * u->d);
    cr_assert(fcl_ref_cosine_sim_bwd(da, db, h[CDS], h[CA], u->same ? h[CA] : h[CB], u->na, u->nb, u->d,
                                     FCL_L2NORM_EPS) == 0);
    for (size_t i = 0; i < u->na * u->d; i++) h[CDA][i] += da[i] + (u->same ? db[i] : 0);
    for (size_t i = 0; !u->same && i < u->nb * u->d; i++) h[CDB][i] += db[i];
    free(da), free(db);
}

/* ud fd: the last case only (the reference vs FD), else the others on the device */
static int cos_gen(const oc_op *op, size_t i, oc_case *c)
{
    const int fd = *(const int *)op->ud;
    i += fd ? N_COS - 1 : 0;
    if (i >= (fd ? N_COS : N_COS - 1)) return 0;
    const cos_case *u = &cos_cases[i];
    *OC_P(c, cos_case) = *u;
    size_t sa[2] = {u->na, u->d}, sb[2] = {u->nb, u->d}, ss[2] = {u->na, u->nb};
    oc_arg_set(c, CA, "A", OC_IN, 2, sa, -1, 1);
    oc_arg_set(c, CB, "B", u->same ? OC_NONE : OC_IN, 2, sb, -1, 1);
    oc_arg_set(c, CS, "S", OC_OUT, 2, ss, 0, 0);
    oc_arg_set(c, CDS, "dS", OC_IN, 2, ss, -1, 1);
    oc_arg_set(c, CDA, u->same ? "dA (both sides)" : "dA", OC_GRAD, 2, sa, -1, 1)->delta = 1;
    oc_arg_set(c, CDB, "dB", u->same ? OC_IN : OC_GRAD, 2, sb, -1, 1)->delta = 1;
    snprintf(c->what, sizeof c->what, "cosine sim na=%zu nb=%zu d=%zu %s", u->na, u->nb, u->d,
             u->same ? "(B is A, dB is dA)" : "");
    if (i == N_COS - 1) oc_fd_inputs(c, CS, CDS, 2, (const int[]){CA, CB}, (const int[]){CDA, CDB}, 0, NULL);
    return 1;
}

/* ---- the runs ------------------------------------------------------------------------------------- */

/* op: xent, log_softmax, l2norm, cosine */
static void run_loss(const oc_param *r)
{
    int xfd = r->fd, kf[2] = {r->op == 1 ? K_LSM : K_L2, r->fd};
    oc_op ops[] = {
        {.name = "xent", .ud = &xfd, .gen = xent_gen, .fill = xent_fill, .dev_fwd = xent_dev_fwd,
         .dev_bwd = xent_dev_bwd, .ref_fwd = xent_ref_fwd, .ref_bwd = xent_ref_bwd, .extra = xent_extra},
        {.name = "rows", .ud = kf, .gen = rows_gen, .fill = rows_fill, .dev_fwd = rows_dev_fwd,
         .dev_bwd = rows_dev_bwd, .ref_fwd = rows_ref_fwd, .ref_bwd = rows_ref_bwd, .extra = rows_extra},
        {.name = "cosine", .ud = &xfd, .gen = cos_gen, .dev_fwd = cos_dev_fwd, .dev_bwd = cos_dev_bwd, .ref_fwd = cos_ref_fwd,
         .ref_bwd = cos_ref_bwd},
    };
    oc_op op = ops[r->op == 0 ? 0 : r->op == 3 ? 2 : 1];
    op.tunings = loss_tunings;
    oc_run_tuned(&op, (int)r->tuning);
}

/* the row kernels under the device's tuning and each forced one; cosine (GEMMs) once */
ParameterizedTestParameters(loss, matches_reference)
{
    static oc_param runs[] = {{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {0, 3, 0}, {1, 0, 0}, {1, 1, 0}, {1, 2, 0},
                              {1, 3, 0}, {2, 0, 0}, {2, 1, 0}, {2, 2, 0}, {2, 3, 0}, {3, 0, 0}};
    return cr_make_param_array(oc_param, runs, sizeof runs / sizeof runs[0]);
}
ParameterizedTest(oc_param *r, loss, matches_reference) { run_loss(r); }

Test(loss, reference_vs_finite_differences)
{
    for (int op = 0; op < 4; op++) run_loss(&(oc_param){op, 0, 1});
}

/* Labels that are not class indices poison their row (NaN), never read out of bounds; host
 * labels are checked on upload. */
static void softmax_xent_bad_labels_body(void)
{
    fcl_ctx *ctx = h_ctx();
    h_case("softmax xent bad labels");
    size_t n = 4, k = 5, sz[2] = {n, k}, one = 1;
    double z[20], lab[4] = {1, 5, -1, 2.5}, rl[4], g[20], loss;
    h_rand_f32(z, n * k, 1, -1, 1);
    h_buf bz = h_upload(ctx, z, 2, sz), bl = h_upload(ctx, lab, 1, &n), bloss = h_zeros(ctx, 1, &one);
    h_buf brl = h_zeros(ctx, 1, &n), bg = h_zeros(ctx, 2, sz);
    fcl_xent_params p = {0.1f};
    H_OK(ctx, fcl_softmax_xent_fwd(ctx, &bloss.t, &brl.t, &bz.t, &bl.t, &p));
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &bg.t, &bz.t, &bl.t, &p, 1.0f));
    h_download(ctx, &bloss, &loss);
    h_download(ctx, &brl, rl);
    h_download(ctx, &bg, g);
    cr_expect(isfinite(rl[0]) && isnan(rl[1]) && isnan(rl[2]) && isnan(rl[3]),
              "row losses %g %g %g %g: only row 0 has a valid label", rl[0], rl[1], rl[2], rl[3]);
    cr_expect(isnan(loss), "the mean loss shows the bad labels: %g", loss);
    for (size_t j = 0; j < k; j++)
        cr_expect(isfinite(g[j]) && isnan(g[k + j]), "gradient row 0 finite, row 1 NaN");

    int bad[4] = {0, 1, 5, 2};
    fcl_status st = fcl_labels_upload(ctx, &bl.t, bad, n, (int)k);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "label 5 of 5 classes: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "index 2") != NULL, "names the position");
    p.label_smoothing = -0.1f;
    st = fcl_softmax_xent_fwd(ctx, &bloss.t, NULL, &bz.t, &bl.t, &p);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "negative smoothing: %s", fcl_status_name(st));
    p.label_smoothing = 0.1f;
    size_t n3 = 3;
    h_buf bl3 = h_zeros(ctx, 1, &n3);
    st = fcl_softmax_xent_fwd(ctx, &bloss.t, NULL, &bz.t, &bl3.t, &p);
    cr_expect_eq(st, FCL_ERR_SHAPE, "3 labels for 4 rows: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    h_free(ctx, &bz), h_free(ctx, &bl), h_free(ctx, &bloss), h_free(ctx, &brl), h_free(ctx, &bg);
    h_free(ctx, &bl3);
    h_ctx_free(ctx);
}
/* as the defaults set it and under the forced GPU rows (flat and tree reductions) */
OC_TEST_TUNED(loss, softmax_xent_bad_labels, loss_tunings, 3, softmax_xent_bad_labels_body)

/* Gradients below the smallest normal float are stored as zero, in every variant and in the
 * reference: subnormal operands made the GEMMs after an ArcFace head 20x slower on x86. Row 0:
 * probabilities e^-100 and e^-95 (subnormal) and e^-80 (normal, kept); row 1 an ordinary row. */
static void softmax_xent_flushes_subnormals_body(void)
{
    fcl_ctx *ctx = h_ctx();
    h_case("softmax xent subnormal gradients");
    size_t n = 2, k = 4, sz[2] = {n, k};
    double z[8] = {0, -100, -95, -80, 0.5, -0.25, 1, 0}, g[8], gr[8] = {0};
    int labi[2] = {0, 2};
    h_buf bz = h_upload(ctx, z, 2, sz), bl = h_zeros(ctx, 1, &n), bg = h_zeros(ctx, 2, sz);
    H_OK(ctx, fcl_labels_upload(ctx, &bl.t, labi, n, (int)k));
    fcl_xent_params p = {0.0f};
    H_OK(ctx, fcl_softmax_xent_bwd(ctx, &bg.t, &bz.t, &bl.t, &p, 1.0f));
    h_download(ctx, &bg, g);
    fcl_ref_softmax_xent_bwd(gr, z, labi, n, k, 0.0, 1.0);
    for (size_t j = 0; j < n * k; j++) {
        float f = (float)g[j];
        cr_expect(f == 0.0f || fabsf(f) >= FLT_MIN, "dlogits[%zu] = %g is subnormal", j, g[j]);
    }
    cr_expect(g[1] == 0.0 && g[2] == 0.0 && gr[1] == 0.0 && gr[2] == 0.0, "e^-100, e^-95: %g %g (reference %g %g)",
              g[1], g[2], gr[1], gr[2]);
    cr_expect(g[3] > 0.0 && gr[3] > 0.0, "e^-80 / 2 is normal and kept: %g (reference %g)", g[3], gr[3]);
    h_expect_close("xent dlogits with subnormals", g, gr, n * k, H_TOL_BWD);
    h_free(ctx, &bz), h_free(ctx, &bl), h_free(ctx, &bg);
    h_ctx_free(ctx);
}
/* as the defaults set it and under the forced GPU rows (flat and tree reductions) */
OC_TEST_TUNED(loss, softmax_xent_flushes_subnormals, loss_tunings, 3, softmax_xent_flushes_subnormals_body)

Test(loss, shapes_are_checked)
{
    fcl_ctx *ctx = h_ctx();
    h_case("loss-family bad shapes");
    size_t s45[2] = {4, 5}, s46[2] = {4, 6}, s35[2] = {3, 5}, s44[2] = {4, 4};
    h_buf a = h_zeros(ctx, 2, s45), b = h_zeros(ctx, 2, s46), c = h_zeros(ctx, 2, s35), s = h_zeros(ctx, 2, s44);
    fcl_status st = fcl_log_softmax_fwd(ctx, &b.t, &a.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "log_softmax into a wider y: %s", fcl_status_name(st));
    st = fcl_l2norm_bwd(ctx, &c.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "l2norm dx with 3 rows for 4: %s", fcl_status_name(st));
    st = fcl_cosine_sim_fwd(ctx, &s.t, &a.t, &b.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "rows of 5 and 6: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    st = fcl_cosine_sim_fwd(ctx, &c.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_SHAPE, "S [3, 5] for 4 x 4: %s", fcl_status_name(st));
    st = fcl_l2norm_bwd(ctx, &a.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "dx aliasing x: %s", fcl_status_name(st));
    st = fcl_cosine_sim_bwd(ctx, &a.t, NULL, &s.t, &a.t, &a.t);
    cr_expect_eq(st, FCL_ERR_INVALID_ARG, "dA aliasing A: %s", fcl_status_name(st));
    printf("  message: %s\n", fcl_ctx_errmsg(ctx));
    h_free(ctx, &a), h_free(ctx, &b), h_free(ctx, &c), h_free(ctx, &s);
    h_ctx_free(ctx);
}
