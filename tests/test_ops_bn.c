/* tests/test_ops_bn.c: batch normalisation as op-driver descriptors (training and inference
 * forward, running statistics, every backward output, OpenCL vs reference; reference backward vs
 * finite differences), the fused BN + residual + ReLU / ReLU6 / nothing the same way, determinism, in-place use,
 * conv+BN folding, argument errors. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "ops/bn_internal.h"
#include "ref/ref_bn.h"

typedef oc_shape shape;

/* batch 1, odd spatial sizes (7, 13, 31), channels 3/5/17/6 (not multiples of 4/8/16), an
 * [N, C] tensor (BatchNorm1d), a 1x1 map, and rows long enough for the vector path
 * (31*31 >= FCL_VEC * group size) as well as short ones (the flat path). */
static const shape bn_shapes[] = {
    {4, {1, 3, 7, 7}}, {4, {2, 5, 13, 13}}, {4, {4, 17, 31, 31}}, {2, {8, 6}}, {4, {5, 3, 1, 1}},
    {3, {3, 4, 45}},
};
#define N_BN_SHAPES (sizeof bn_shapes / sizeof bn_shapes[0])
#define DETERMINISM_SHAPE 2

/* The reductions run with the device's tuned group size (1 on PoCL CPUs: one work-item walks a
 * channel) and with 64 and 4 (the fixed-order tree that GPUs use), so both paths are checked
 * on any device. */
static const int bn_wgs[] = {0, 64, 4};

/* Forced variants: the GPU row, and the same with the local-memory tree instead of subgroups. */
static const char *const bn_tunings[] = {
    "bn:-DFCL_VEC=4 -DFCL_BN_WG=256",
    "bn:-DFCL_VEC=4 -DFCL_BN_WG=256 -DFCL_USE_SG=0",
    NULL,
};

/* ---- the descriptor: x, gamma, beta, running mean / var, residual, y, saved mean / invstd, dy,
 * dx, d residual, dgamma, dbeta (R and DR only in fused cases with a residual) */

enum { X, G, BE, RM, RV, R, Y, SM, SI, DY, DX, DR, DG, DB };

typedef struct bn_case {
    fcl_bn2d_params p;
    int wg;
    int affine;
    int fused;   /* 0 plain; fcl_bn2d_relu_*: 1 y = relu(bn(x) [+ r]); fcl_bn2d_act_*_wg: 2 ReLU6,
                    3 no activation (bn(x) + r) */
    int res;     /* fused with a residual r */
    int set;     /* fcl_bn2d_act_bwd_set's flags (dx, and dres with a residual, overwritten): the
                    reference starts those from 0, the device from the harness's random start */
} bn_case;

/* A fused case's activation: the library's and the reference's (1 ReLU, 2 ReLU6, 0 none). */
static fcl_bn_act bn_act(int fused) { return fused == 1 ? FCL_BN_ACT_RELU : fused == 2 ? FCL_BN_ACT_RELU6 : FCL_BN_ACT_NONE; }
static int bn_ref_act(int fused) { return fused == 3 ? 0 : fused; }

/* Which cases: training (3 group sizes) or inference (2), every shape, one without affine
 * parameters; or fd: the reference backward vs FD on three small shapes, both modes. fused: the
 * same through fcl_bn2d_relu_* (with and without a residual, alternating over the shapes). */
typedef struct bn_set {
    int training, fd, fused, set;
} bn_set;

/* n, c, inner */
static void bn_dims(const oc_case *c, size_t *d)
{
    const oc_arg *x = &c->arg[X];
    d[0] = x->shape[0], d[1] = x->shape[1], d[2] = h_numel(x->ndim, x->shape) / (d[0] * d[1]);
}

static fcl_status bn_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const bn_case *bc = OC_P(c, bn_case);
    if (bc->fused == 1)
        return fcl_bn2d_relu_fwd_wg(ctx, t[Y], t[SM], t[SI], t[RM], t[RV], t[X], t[R], bc->affine ? t[G] : NULL,
                                    bc->affine ? t[BE] : NULL, &bc->p, bc->wg);
    if (bc->fused)
        return fcl_bn2d_act_fwd_wg(ctx, t[Y], t[SM], t[SI], t[RM], t[RV], t[X], t[R], bc->affine ? t[G] : NULL,
                                   bc->affine ? t[BE] : NULL, &bc->p, bn_act(bc->fused), bc->wg);
    return fcl_bn2d_fwd_wg(ctx, t[Y], t[SM], t[SI], t[RM], t[RV], t[X], bc->affine ? t[G] : NULL,
                           bc->affine ? t[BE] : NULL, &bc->p, bc->wg);
}

/* backward from the device's saved statistics; every gradient starts non-zero */
static fcl_status bn_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const bn_case *bc = OC_P(c, bn_case);
    if (bc->set)
        return fcl_bn2d_act_bwd_set(ctx, t[DX], bc->affine ? t[DG] : NULL, bc->affine ? t[DB] : NULL, t[DR], t[DY],
                                    bc->fused == 1 || bc->fused == 2 ? t[Y] : NULL, t[X], bc->affine ? t[G] : NULL,
                                    bc->affine ? t[BE] : NULL, t[SM], t[SI], &bc->p, bn_act(bc->fused), bc->wg,
                                    bc->set);
    if (bc->fused == 1)
        return fcl_bn2d_relu_bwd_wg(ctx, t[DX], bc->affine ? t[DG] : NULL, bc->affine ? t[DB] : NULL, t[DR], t[DY],
                                    t[Y], t[X], bc->affine ? t[G] : NULL, t[SM], t[SI], &bc->p, bc->wg);
    if (bc->fused) /* without an activation y is not needed: NULL */
        return fcl_bn2d_act_bwd_wg(ctx, t[DX], bc->affine ? t[DG] : NULL, bc->affine ? t[DB] : NULL, t[DR], t[DY],
                                   bc->fused == 3 ? NULL : t[Y], t[X], bc->affine ? t[G] : NULL,
                                   bc->affine ? t[BE] : NULL, t[SM], t[SI], &bc->p, bn_act(bc->fused), bc->wg);
    if (!bc->affine) return fcl_bn2d_bwd_wg(ctx, t[DX], NULL, NULL, t[DY], t[X], NULL, t[SM], t[SI], &bc->p, bc->wg);
    return fcl_bn2d_bwd_wg(ctx, t[DX], t[DG], t[DB], t[DY], t[X], t[G], t[SM], t[SI], &bc->p, bc->wg);
}

static void bn_ref_fwd(double *const *h, const oc_case *c)
{
    size_t d[3];
    bn_dims(c, d);
    int affine = OC_P(c, bn_case)->affine;
    if (OC_P(c, bn_case)->fused)
        fcl_ref_bn2d_act_fwd(h[Y], h[SM], h[SI], h[RM], h[RV], h[X], h[R], affine ? h[G] : NULL,
                             affine ? h[BE] : NULL, d[0], d[1], d[2], &OC_P(c, bn_case)->p,
                             bn_ref_act(OC_P(c, bn_case)->fused));
    else
        fcl_ref_bn2d_fwd(h[Y], h[SM], h[SI], h[RM], h[RV], h[X], affine ? h[G] : NULL, affine ? h[BE] : NULL, d[0],
                         d[1], d[2], &OC_P(c, bn_case)->p);
}

static void bn_ref_bwd(double *const *h, const oc_case *c)
{
    size_t d[3];
    bn_dims(c, d);
    int affine = OC_P(c, bn_case)->affine, set = OC_P(c, bn_case)->set;
    if (set & FCL_BN_SET_DX) memset(h[DX], 0, d[0] * d[1] * d[2] * sizeof *h[DX]);
    if (set & FCL_BN_SET_DRES) memset(h[DR], 0, d[0] * d[1] * d[2] * sizeof *h[DR]);
    if (OC_P(c, bn_case)->fused)
        fcl_ref_bn2d_act_bwd(h[DX], affine ? h[DG] : NULL, affine ? h[DB] : NULL, h[DR], h[DY], h[Y], h[X],
                             affine ? h[G] : NULL, h[SM], h[SI], d[0], d[1], d[2], &OC_P(c, bn_case)->p,
                             bn_ref_act(OC_P(c, bn_case)->fused));
    else
        fcl_ref_bn2d_bwd(h[DX], affine ? h[DG] : NULL, affine ? h[DB] : NULL, h[DY], h[X], affine ? h[G] : NULL,
                         h[SM], h[SI], d[0], d[1], d[2], &OC_P(c, bn_case)->p);
}

/* The fused activation's input z = bn(x) + r at the case's operands (malloc'd; running statistics
 * read, never updated). */
static double *bn_pre_relu(double *const *h, const oc_case *c, double *scale)
{
    size_t d[3];
    bn_dims(c, d);
    const bn_case *bc = OC_P(c, bn_case);
    size_t total = d[0] * d[1] * d[2];
    double *z = h_alloc(total), *sm = h_alloc(d[1]), *si = h_alloc(d[1]);
    fcl_ref_bn2d_fwd(z, sm, si, bc->p.training ? NULL : h[RM], bc->p.training ? NULL : h[RV], h[X],
                     bc->affine ? h[G] : NULL, bc->affine ? h[BE] : NULL, d[0], d[1], d[2], &bc->p);
    for (size_t k = 0; k < total; k++) {
        size_t ch = k / d[2] % d[1];
        if (h[R]) z[k] += h[R][k];
        if (scale) scale[k] = si[ch] * (bc->affine ? h[G][ch] : 1.0);
    }
    free(sm), free(si);
    return z;
}

/* The activation's kink nearest to z: 0, or 6 for ReLU6 above 3. */
static double bn_kink_at(const oc_case *c, double z) { return OC_P(c, bn_case)->fused == 2 && z > 3 ? 6.0 : 0.0; }

/* Fused cases with an activation: no activation input within 1e-3 of a kink (0; 6 for ReLU6),
 * where float rounding could decide the mask differently on the device and in the reference
 * (moves r, else x, by 3e-3 away from it). */
static void bn_fill(double *const *h, const oc_case *c)
{
    if (!OC_P(c, bn_case)->fused || OC_P(c, bn_case)->fused == 3) return;
    size_t total = h_numel(c->arg[X].ndim, c->arg[X].shape);
    double *scale = h_alloc(total), *z = bn_pre_relu(h, c, scale);
    for (size_t k = 0; k < total; k++) {
        double at = bn_kink_at(c, z[k]);
        if (fabs(z[k] - at) >= 1e-3) continue;
        double move = z[k] < at ? -3e-3 : 3e-3;
        if (h[R]) h[R][k] = (double)(float)(h[R][k] + move);
        else h[X][k] = (double)(float)(h[X][k] + move / scale[k]);
    }
    free(scale), free(z);
}

/* FD: element i of operand wrt moved by +-step moves some activation input across a kink. */
static int bn_kink(double *const *h, int wrt, size_t i, double step, const oc_case *c)
{
    double v = h[wrt][i];
    h[wrt][i] = v + step;
    double *zp = bn_pre_relu(h, c, NULL);
    h[wrt][i] = v - step;
    double *zm = bn_pre_relu(h, c, NULL);
    h[wrt][i] = v;
    int kink = 0;
    for (size_t k = 0; k < h_numel(c->arg[X].ndim, c->arg[X].shape) && !kink; k++)
        kink = (zp[k] > 0) != (zm[k] > 0) || (OC_P(c, bn_case)->fused == 2 && (zp[k] > 6) != (zm[k] > 6));
    free(zp), free(zm);
    return kink;
}

/* Same inputs twice: bit-identical outputs (fixed reduction order); in place y == x. */
static void bn_determinism(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h;
    const bn_case *bc = OC_P(c, bn_case);
    const oc_arg *xa = &c->arg[X];
    if (bc->fused || !bc->p.training || !bc->affine || bc->wg == 4 || xa->shape[1] != bn_shapes[DETERMINISM_SHAPE].s[1]) return;
    h_case("bn2d determinism and in place [4, 17, 31, 31] reduce_wg %d", bc->wg);
    size_t C = xa->shape[1], N = b[X].numel;
    double *y[2], *dg[2];
    for (int rep = 0; rep < 2; rep++) {
        h_buf by = h_zeros(ctx, xa->ndim, xa->shape), bsm = h_zeros(ctx, 1, &C), bsi = h_zeros(ctx, 1, &C);
        h_buf bdg = h_zeros(ctx, 1, &C);
        H_OK(ctx, fcl_bn2d_fwd_wg(ctx, &by.t, &bsm.t, &bsi.t, NULL, NULL, &b[X].t, &b[G].t, &b[BE].t, &bc->p, bc->wg));
        H_OK(ctx, fcl_bn2d_bwd_wg(ctx, NULL, &bdg.t, NULL, &b[DY].t, &b[X].t, &b[G].t, &bsm.t, &bsi.t, &bc->p,
                                  bc->wg));
        y[rep] = h_alloc(N);
        dg[rep] = h_alloc(C);
        h_download(ctx, &by, y[rep]);
        h_download(ctx, &bdg, dg[rep]);
        h_free(ctx, &by), h_free(ctx, &bsm), h_free(ctx, &bsi), h_free(ctx, &bdg);
    }
    h_buf bx = h_upload(ctx, want[X], xa->ndim, xa->shape);
    double *yi = h_alloc(N);
    H_OK(ctx, fcl_bn2d_fwd_wg(ctx, &bx.t, NULL, NULL, NULL, NULL, &bx.t, &b[G].t, &b[BE].t, &bc->p, bc->wg));
    h_download(ctx, &bx, yi);
    h_free(ctx, &bx);
    cr_expect(memcmp(yi, y[0], N * sizeof *yi) == 0, "bn in place differs from out of place");
    cr_expect(memcmp(y[0], y[1], N * sizeof *y[0]) == 0, "bn forward differs between two runs");
    cr_expect(memcmp(dg[0], dg[1], C * sizeof *dg[0]) == 0, "bn dgamma differs between two runs");
    free(yi), free(y[0]), free(y[1]), free(dg[0]), free(dg[1]);
}

/* ReLU6 cases: betas up to 5, so that a part of every map is clamped at 6 too. */
static void bn_args(oc_case *c, const shape *s, int affine, int res, int relu6)
{
    size_t C = s->s[1];
    oc_role gr = affine ? OC_GRAD : OC_IN;   /* without: passed as NULL, must stay as they were */
    oc_arg_set(c, R, "res", res ? OC_IN : OC_NONE, s->ndim, s->s, -1, 1);
    oc_arg_set(c, DR, "dres", res ? OC_GRAD : OC_NONE, s->ndim, s->s, -1, 1);
    oc_arg_set(c, X, "x", OC_IN, s->ndim, s->s, -1, 3);   /* a mean offset, so centring matters */
    oc_arg_set(c, G, "gamma", OC_IN, 1, &C, 0.5, 1.5);
    oc_arg_set(c, BE, "beta", OC_IN, 1, &C, -0.5, relu6 ? 5 : 0.5);
    oc_arg_set(c, RM, "running_mean", OC_INOUT, 1, &C, -0.5, 0.5);
    oc_arg_set(c, RV, "running_var", OC_INOUT, 1, &C, 0.5, 2);
    oc_arg_set(c, Y, "y", OC_OUT, s->ndim, s->s, 0, 0);
    oc_arg_set(c, SM, "save_mean", OC_OUT, 1, &C, 0, 0);
    oc_arg_set(c, SI, "save_invstd", OC_OUT, 1, &C, 0, 0);
    oc_arg_set(c, DY, "dy", OC_IN, s->ndim, s->s, -1, 1);
    oc_arg_set(c, DX, "dx", OC_GRAD, s->ndim, s->s, -1, 1);
    oc_arg_set(c, DG, "dgamma", gr, 1, &C, -1, 1);
    oc_arg_set(c, DB, "dbeta", gr, 1, &C, -1, 1);
}

static int bn_gen(const oc_op *op, size_t i, oc_case *c)
{
    const bn_set *set = op->ud;
    bn_case *bc = OC_P(c, bn_case);
    static const shape fd_shapes[] = {{4, {2, 3, 5, 7}}, {4, {1, 2, 3, 3}}, {2, {6, 5}}};
    const shape *s;
    char ss[64];
    static const char *const names[] = {"bn2d", "bn2d_relu", "bn2d_relu6", "bn2d_add"};
    const char *name = names[set->fused];
    if (set->fd) {   /* three shapes, training then inference (fused: with a residual, then without) */
        if (i >= 6) return 0;
        s = &fd_shapes[i / 2];
        *bc = (bn_case){{!(i % 2), 1e-5f, 0.1f}, 0, 1, set->fused, set->fused == 3 || (set->fused && i < 4), 0};
        bn_args(c, s, 1, bc->res, set->fused == 2);
        oc_shape_str(ss, sizeof ss, s->ndim, s->s);
        snprintf(c->what, sizeof c->what, "%s %s%s %s", name, bc->p.training ? "train" : "infer",
                 bc->res ? " +res" : "", ss);
        c->device = 0;
        oc_kink_fn kink = set->fused == 1 || set->fused == 2 ? bn_kink : NULL;
        oc_fd_add(c, X, Y, DY, DX, 0, kink);
        oc_fd_add(c, G, Y, DY, DG, 0, kink);
        oc_fd_add(c, BE, Y, DY, DB, 0, kink);
        if (bc->res) oc_fd_add(c, R, Y, DY, DR, 0, kink);
        return 1;
    }
    size_t nwg = set->training ? 3 : 2;
    /* overwrite: each shape once, the group sizes taken in turn (few cases: oclgrind runs them) */
    size_t ncases = set->set ? N_BN_SHAPES : nwg * N_BN_SHAPES, wgi = set->set ? i % nwg : i / N_BN_SHAPES;
    if (i > ncases) return 0;
    if (i == ncases) {   /* affine=False */
        s = &bn_shapes[set->training ? 1 : 0];
        *bc = (bn_case){{set->training, 1e-5f, 0.1f}, 0, 0, set->fused, set->fused != 0, 0};
    } else {   /* fused: a residual in every other case, each shape getting both over the group sizes
                * (always without an activation) */
        s = &bn_shapes[i % N_BN_SHAPES];
        *bc = (bn_case){{set->training, 1e-5f, 0.1f}, bn_wgs[wgi], 1, set->fused,
                        set->fused == 3 || (set->fused && (i + wgi) % 2), 0};
    }
    if (set->set) bc->set = FCL_BN_SET_DX | (bc->res ? FCL_BN_SET_DRES : 0);
    bn_args(c, s, bc->affine, bc->res, set->fused == 2);
    oc_shape_str(ss, sizeof ss, s->ndim, s->s);
    snprintf(c->what, sizeof c->what, "%s %s%s%s fwd+bwd%s %s reduce_wg %d%s", name, set->training ? "train" : "infer",
             bc->affine ? "" : " affine=False", bc->res ? " +res" : "", bc->set ? " (overwrite)" : "", ss, bc->wg,
             bc->wg ? "" : " (tuned)");
    return 1;
}

static void run_bn_set(int training, int fd, int fused, size_t tuning, int overwrite)
{
    bn_set set = {training, fd, fused, overwrite};
    static const char *const names[] = {"bn2d", "bn2d_relu", "bn2d_relu6", "bn2d_add"};
    oc_op op = {.name = names[fused], .ud = &set, .gen = bn_gen, .fill = bn_fill,
                .dev_fwd = bn_dev_fwd, .dev_bwd = bn_dev_bwd, .ref_fwd = bn_ref_fwd, .ref_bwd = bn_ref_bwd,
                .extra = bn_determinism, .tunings = bn_tunings};
    oc_run_tuned(&op, (int)tuning);
}

static void run_bn(int training, int fd, int fused, size_t tuning) { run_bn_set(training, fd, fused, tuning, 0); }

/* op bit 0: training (1) or inference (0); op >> 1: plain, fused with the ReLU, the ReLU6 (each
 * with and without a residual) or with a residual and no activation; under the device's tuning
 * and each forced one */
ParameterizedTestParameters(bn, modes_and_tunings)
{
    static oc_param runs[] = {{1, 0, 0}, {1, 1, 0}, {1, 2, 0}, {0, 0, 0}, {0, 1, 0}, {0, 2, 0},
                              {3, 0, 0}, {3, 1, 0}, {3, 2, 0}, {2, 0, 0}, {2, 1, 0}, {2, 2, 0},
                              {5, 0, 0}, {5, 1, 0}, {5, 2, 0}, {4, 0, 0}, {4, 1, 0}, {4, 2, 0},
                              {7, 0, 0}, {7, 1, 0}, {7, 2, 0}, {6, 0, 0}, {6, 1, 0}, {6, 2, 0}};
    return cr_make_param_array(oc_param, runs, sizeof runs / sizeof runs[0]);
}
/* FACECL_TEST_SHARD=lite (ci/oclgrind.sh): under the forced rows (work-groups of 256, with and
 * without subgroups) the ReLU / ReLU6 modes are left out on the simulator: the fused activation is a
 * runtime flag of the same kernels (cl/bn.cl's BN_EPILOGUE: arithmetic on a value already loaded; the
 * backward's mask reads y or x at the index it reads dy), so their reductions, barriers and indexing are the plain and residual modes' (which run there
 * under every row, the residual's loads included); PoCL and Intel's runtime run the whole matrix. */
ParameterizedTest(oc_param *r, bn, modes_and_tunings)
{
    const char *shard = getenv("FACECL_TEST_SHARD");
    int fused = r->op >> 1;
    if (shard && !strcmp(shard, "lite") && r->tuning && (fused == 1 || fused == 2))
        cr_skip_test("lite shard: the %s mode under a forced row (its kernels run in the plain and add modes)",
                     fused == 1 ? "ReLU" : "ReLU6");
    run_bn(r->op & 1, 0, fused, (size_t)r->tuning);
}
/* The overwriting backward (fcl_bn2d_act_bwd_set: dx, and dres with a residual, written without
 * being read, as the network engine uses it): plain, ReLU (+res), ReLU6 (+res), add; training
 * and inference; op as above, each shape once (the group sizes in turn), under the device's
 * tuning and (ReLU, add) a forced one. */
ParameterizedTestParameters(bn, overwrite)
{
    static oc_param runs[] = {{1, 0, 0}, {3, 0, 0}, {3, 1, 0}, {5, 0, 0}, {7, 0, 0}, {7, 1, 0}, {6, 0, 0}, {2, 0, 0}};
    return cr_make_param_array(oc_param, runs, sizeof runs / sizeof runs[0]);
}
ParameterizedTest(oc_param *r, bn, overwrite) { run_bn_set(r->op & 1, 0, r->op >> 1, (size_t)r->tuning, 1); }
Test(bn, finite_differences) { run_bn(1, 1, 0, 0); }
Test(bn, finite_differences_fused) { run_bn(1, 1, 1, 0); }
Test(bn, finite_differences_fused_relu6) { run_bn(1, 1, 2, 0); }
Test(bn, finite_differences_fused_add) { run_bn(1, 1, 3, 0); }

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
    /* fused: the residual must have x's shape and not overlap y; dres must not overlap what is read */
    st = fcl_bn2d_relu_fwd(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, &x1.t, NULL, NULL, &train);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "res"), "residual of another shape: %s",
              fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_relu_fwd(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, &y4.t, NULL, NULL, &train);
    cr_expect(st == FCL_ERR_INVALID_ARG, "residual == y must be refused: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_relu_bwd(ctx, NULL, NULL, NULL, &y4.t, &x4.t, &y4.t, &x4.t, NULL, &c3.t, &c3b.t, &train);
    cr_expect(st == FCL_ERR_INVALID_ARG, "dres == y must be refused: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_relu_bwd(ctx, NULL, NULL, NULL, NULL, &x4.t, NULL, &x4.t, NULL, &c3.t, &c3b.t, &train);
    cr_expect(st == FCL_ERR_INVALID_ARG, "fused backward without y: %s", fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_act_fwd_wg(ctx, &y4.t, NULL, NULL, NULL, NULL, &x4.t, NULL, NULL, NULL, &train, (fcl_bn_act)7, 0);
    cr_expect(st == FCL_ERR_INVALID_ARG && strstr(fcl_ctx_errmsg(ctx), "activation"), "unknown activation: %s",
              fcl_ctx_errmsg(ctx));
    h_buf d4 = h_zeros(ctx, 4, s4);
    st = fcl_bn2d_act_bwd_wg(ctx, NULL, NULL, NULL, &d4.t, &x4.t, NULL, &x4.t, NULL, NULL, &c3.t, &c3b.t, &train,
                             FCL_BN_ACT_RELU6, 0);
    cr_expect(st == FCL_ERR_INVALID_ARG, "fused ReLU6 backward with a residual but without y: %s", fcl_ctx_errmsg(ctx));
    /* overwrite flags name outputs that are given, and only known ones */
    st = fcl_bn2d_act_bwd_set(ctx, NULL, NULL, NULL, NULL, &d4.t, NULL, &x4.t, NULL, NULL, &c3.t, &c3b.t, &train,
                              FCL_BN_ACT_NONE, 0, FCL_BN_SET_DX);
    cr_expect(st == FCL_ERR_INVALID_ARG && strstr(fcl_ctx_errmsg(ctx), "overwrite"), "overwrite without dx: %s",
              fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_act_bwd_set(ctx, &y4.t, NULL, NULL, NULL, &d4.t, NULL, &x4.t, NULL, NULL, &c3.t, &c3b.t, &train,
                              FCL_BN_ACT_NONE, 0, FCL_BN_SET_DX | FCL_BN_SET_DRES);
    cr_expect(st == FCL_ERR_INVALID_ARG && strstr(fcl_ctx_errmsg(ctx), "overwrite"), "overwrite without dres: %s",
              fcl_ctx_errmsg(ctx));
    st = fcl_bn2d_act_bwd_set(ctx, &y4.t, NULL, NULL, NULL, &d4.t, NULL, &x4.t, NULL, NULL, &c3.t, &c3b.t, &train,
                              FCL_BN_ACT_NONE, 0, 8);
    cr_expect(st == FCL_ERR_INVALID_ARG && strstr(fcl_ctx_errmsg(ctx), "overwrite"), "unknown overwrite flag: %s",
              fcl_ctx_errmsg(ctx));
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
    h_buf *bufs[] = {&x1, &y1, &c3, &c3b, &c2, &x4, &y4, &c2b, &c2c, &d4};
    for (int i = 0; i < 10; i++) h_free(ctx, bufs[i]);
    h_ctx_free(ctx);
}
