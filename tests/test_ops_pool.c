/* tests/test_ops_pool.c: max / average / adaptive / global pooling: output sizes (PyTorch's
 * rule), op-driver descriptors (OpenCL vs reference forward, indices, backward; reference
 * backward vs finite differences), ties and NaN, argument errors. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/opcheck.h"
#include "ref/ref_pool.h"

/* ---- output sizes ---------------------------------------------------------------------------- */

/* Expected sizes from PyTorch's pooling_output_shape (and the nn.MaxPool2d docs example
 * 50x32, k3 s2 -> 24x15). */
Test(pool, out_size)
{
    h_case("pool output sizes (PyTorch rule)");
    static const struct { size_t in; int k, s, p, ceil; long want; } t[] = {
        {112, 3, 2, 1, 0, 56}, {112, 3, 2, 1, 1, 57}, {50, 3, 2, 0, 0, 24}, {32, 3, 2, 0, 0, 15},
        {7, 2, 2, 0, 0, 3},    {7, 2, 2, 0, 1, 4},    {5, 2, 2, 1, 0, 3},   {5, 2, 2, 1, 1, 3},
        {13, 2, 2, 1, 1, 7},   {6, 3, 2, 0, 0, 2},    {6, 3, 2, 0, 1, 3},   {13, 3, 2, 1, 1, 7},
        {7, 3, 0, 0, 0, 2},    {7, 7, 1, 0, 0, 1},    {2, 3, 1, 0, 0, -1},  {9, 3, 2, 2, 0, -1},
        {9, 0, 1, 0, 0, -1},   {9, 3, -1, 0, 0, -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t out = 0;
        fcl_error err;
        fcl_error_clear(&err);
        fcl_status st = fcl_pool_out_size(t[i].in, t[i].k, t[i].s, t[i].p, t[i].ceil, &out, "test", &err);
        if (t[i].want < 0)
            cr_expect(st != FCL_OK, "in %zu k %d s %d p %d ceil %d must be refused", t[i].in, t[i].k,
                      t[i].s, t[i].p, t[i].ceil);
        else
            cr_expect(st == FCL_OK && out == (size_t)t[i].want,
                      "in %zu k %d s %d p %d ceil %d: got %zu (%s), want %ld", t[i].in, t[i].k, t[i].s,
                      t[i].p, t[i].ceil, out, err.msg, t[i].want);
    }
}

/* ---- max and average pooling vs reference ----------------------------------------------------- */

typedef struct pool_case {
    size_t n, c, h, w;
    fcl_pool2d_params p;
} pool_case;

/* batch 1, odd sizes 7 / 13 / 31, channels 3, 5, 17, 6; windows: ResNet's 3x3/2 pad 1, 2x2/2,
 * ceil mode with a partial last window, ceil mode where PyTorch's "start inside" rule drops a
 * window, stride 1 (heavy overlap), non-square windows / strides / paddings. */
static const pool_case pool_cases[] = {
    {1, 3, 7, 7, {3, 3, 2, 2, 1, 1, 0, 1, 0}},
    {2, 5, 13, 13, {2, 2, 0, 0, 0, 0, 0, 1, 0}},
    {2, 5, 13, 13, {3, 3, 2, 2, 1, 1, 1, 1, 0}},
    {1, 3, 13, 13, {2, 2, 2, 2, 1, 1, 1, 1, 0}},
    {2, 6, 7, 7, {2, 2, 2, 2, 0, 0, 1, 1, 0}},
    {2, 17, 31, 31, {3, 3, 1, 1, 1, 1, 0, 1, 0}},
    {3, 5, 13, 7, {3, 2, 2, 1, 1, 0, 1, 1, 0}},
    {2, 3, 31, 13, {5, 3, 3, 2, 2, 1, 1, 1, 0}},
    /* 3x3/2 pad 1 wider than one 8-output strip (maxpool3s2_fwd: full and partial strips, the
     * last window past the right / bottom edge in ceil mode) */
    {2, 3, 29, 37, {3, 3, 2, 2, 1, 1, 0, 1, 0}},
    {1, 4, 34, 35, {3, 3, 2, 2, 1, 1, 1, 1, 0}},
};
#define N_POOL_CASES (sizeof pool_cases / sizeof pool_cases[0])

/* Forced variants: the GPU row, and smaller groups with the local-memory tree. */
static const char *const pool_tunings[] = {
    "pool:-DPOOL_GPU=1 -DPOOL_WG=256",
    "pool:-DPOOL_GPU=1 -DPOOL_WG=64 -DFCL_USE_SG=0",
    NULL,
};

/* ---- the descriptor: x, y, idx (max only), dy, dx --------------------------------------------- */

enum { X, Y, IDX, DY, DX };
enum { K_MAX, K_AVG, K_ADAPTIVE, K_GLOBAL };
static const char *const kind_names[] = {"maxpool2d", "avgpool2d", "adaptive_avgpool2d", "global_avgpool"};

typedef struct pool_tc {
    int kind;
    pool_case pc;
    size_t oh, ow;
    int ties;   /* max: x on a grid, so most windows have tied maxima (the first one wins) */
} pool_tc;

static fcl_status pool_dev_fwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const pool_tc *u = OC_P(c, pool_tc);
    switch (u->kind) {
    case K_MAX: return fcl_maxpool2d_fwd(ctx, t[Y], t[IDX], t[X], &u->pc.p);
    case K_AVG: return fcl_avgpool2d_fwd(ctx, t[Y], t[X], &u->pc.p);
    case K_ADAPTIVE: return fcl_adaptive_avgpool2d_fwd(ctx, t[Y], t[X]);
    default: return fcl_global_avgpool_fwd(ctx, t[Y], t[X]);
    }
}

static fcl_status pool_dev_bwd(fcl_ctx *ctx, oc_dev t, const oc_case *c)
{
    const pool_tc *u = OC_P(c, pool_tc);
    switch (u->kind) {
    case K_MAX: return fcl_maxpool2d_bwd(ctx, t[DX], t[DY], t[IDX], &u->pc.p);
    case K_AVG: return fcl_avgpool2d_bwd(ctx, t[DX], t[DY], &u->pc.p);
    case K_ADAPTIVE: return fcl_adaptive_avgpool2d_bwd(ctx, t[DX], t[DY]);
    default: return fcl_global_avgpool_bwd(ctx, t[DX], t[DY]);
    }
}

static void pool_ref_fwd(double *const *h, const oc_case *c)
{
    const pool_tc *u = OC_P(c, pool_tc);
    const pool_case *pc = &u->pc;
    if (u->kind == K_MAX) fcl_ref_maxpool2d_fwd(h[Y], h[IDX], h[X], pc->n, pc->c, pc->h, pc->w, u->oh, u->ow, &pc->p);
    else if (u->kind == K_AVG) fcl_ref_avgpool2d_fwd(h[Y], h[X], pc->n, pc->c, pc->h, pc->w, u->oh, u->ow, &pc->p);
    else fcl_ref_adaptive_avgpool2d_fwd(h[Y], h[X], pc->n, pc->c, pc->h, pc->w, u->oh, u->ow);
}

static void pool_ref_bwd(double *const *h, const oc_case *c)
{
    const pool_tc *u = OC_P(c, pool_tc);
    const pool_case *pc = &u->pc;
    if (u->kind == K_MAX) fcl_ref_maxpool2d_bwd(h[DX], h[DY], h[IDX], pc->n, pc->c, pc->h, pc->w, u->oh, u->ow);
    else if (u->kind == K_AVG) fcl_ref_avgpool2d_bwd(h[DX], h[DY], pc->n, pc->c, pc->h, pc->w, u->oh, u->ow, &pc->p);
    else fcl_ref_adaptive_avgpool2d_bwd(h[DX], h[DY], pc->n, pc->c, pc->h, pc->w, u->oh, u->ow);
}

/* max: ties on a grid (device cases: halves; FD: a 0.02 grid the kink callback must skip) */
static void pool_fill(double *const *h, const oc_case *c)
{
    const pool_tc *u = OC_P(c, pool_tc);
    size_t nx = h_numel(4, c->arg[X].shape);
    double step = c->device ? 2 : 50;
    if (u->ties)
        for (size_t i = 0; i < nx; i++) h[X][i] = floor(h[X][i] * step) / step;
}

/* max: without indices the forward still works, with the very values the forward with indices
 * gave */
static void pool_extra(fcl_ctx *ctx, h_buf *b, double *const *h, double *const *want, const oc_case *c)
{
    (void)h;
    const pool_tc *u = OC_P(c, pool_tc);
    if (u->kind != K_MAX) return;
    double *y = h_alloc(b[Y].numel), *yi = h_alloc(b[Y].numel);
    h_download(ctx, &b[Y], yi);
    H_OK(ctx, fcl_maxpool2d_fwd(ctx, &b[Y].t, NULL, &b[X].t, &u->pc.p));
    h_download(ctx, &b[Y], y);
    h_expect_close("maxpool y (no idx)", y, want[Y], b[Y].numel, H_TOL_FWD);
    size_t diff = 0;
    for (size_t i = 0; i < b[Y].numel; i++) diff += y[i] != yi[i];
    cr_expect(diff == 0, "%s: %zu outputs without idx differ from those with idx", c->what, diff);
    free(y), free(yi);
}

/* One case; ydims: the output's rank (2: [N, C] for the adaptive / global kinds). */
static void pool_args(oc_case *c, const pool_tc *u, int ydims, double lo, double hi)
{
    const pool_case *pc = &u->pc;
    size_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, u->oh, u->ow};
    *OC_P(c, pool_tc) = *u;
    oc_arg_set(c, X, "x", OC_IN, 4, xs, lo, hi);
    oc_arg_set(c, Y, "y", OC_OUT, ydims, ys, 0, 0);
    oc_arg_set(c, IDX, "idx", u->kind == K_MAX ? OC_OUT : OC_NONE, ydims, ys, 0, 0)->tol = OC_EXACT;
    oc_arg_set(c, DY, "dy", OC_IN, ydims, ys, -1, 1);
    oc_arg_set(c, DX, "dx", OC_GRAD, 4, xs, -1, 1);
}

static void out_hw(const pool_case *pc, size_t *oh, size_t *ow)
{
    fcl_error err;
    fcl_status st = fcl_pool2d_out_hw(&pc->p, pc->h, pc->w, oh, ow, "test", &err);
    cr_assert(st == FCL_OK, "%s", err.msg);
}

/* A windowed case (max, avg) of pool_cases[i] */
static void window_case(oc_case *c, int kind, const pool_case *pc, int ties, const char *extra)
{
    pool_tc u = {kind, *pc, 0, 0, ties};
    out_hw(pc, &u.oh, &u.ow);
    /* max: mostly negative, so zero padding must never win */
    pool_args(c, &u, 4, kind == K_MAX ? -2 : -1, kind == K_MAX ? 1 : 2);
    const fcl_pool2d_params *p = &pc->p;
    snprintf(c->what, sizeof c->what, "%s fwd+bwd [%zu, %zu, %zu, %zu] k%dx%d s%dx%d p%dx%d%s%s%s", kind_names[kind],
             pc->n, pc->c, pc->h, pc->w, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->ceil_mode ? " ceil" : "",
             ties ? " ties" : "", extra);
}

/* max: every case, then every other one with ties */
static int max_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i >= N_POOL_CASES + (N_POOL_CASES + 1) / 2) return 0;
    int ties = i >= N_POOL_CASES;
    window_case(c, K_MAX, &pool_cases[ties ? 2 * (i - N_POOL_CASES) : i], ties, "");
    return 1;
}

/* avg: every case counting the padding, every case not counting it, one divisor override */
static int avg_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    if (i > 2 * N_POOL_CASES) return 0;
    pool_case pc = pool_cases[i == 2 * N_POOL_CASES ? 2 : i % N_POOL_CASES];
    pc.p.count_include_pad = i < N_POOL_CASES || i == 2 * N_POOL_CASES;
    pc.p.divisor_override = i == 2 * N_POOL_CASES ? 3 : 0;
    char extra[64];
    snprintf(extra, sizeof extra, " include_pad=%d divisor=%d", pc.p.count_include_pad, pc.p.divisor_override);
    window_case(c, K_AVG, &pc, 0, extra);
    return 1;
}

static void adaptive_case(oc_case *c, int global, size_t n, size_t ch, size_t h, size_t w, size_t oh, size_t ow,
                          int ydims)
{
    pool_tc u = {global ? K_GLOBAL : K_ADAPTIVE, {n, ch, h, w, {0}}, oh, ow, 0};
    pool_args(c, &u, ydims, -1, 2);
    snprintf(c->what, sizeof c->what, "%s [%zu, %zu, %zu, %zu] -> %zux%zu (%d-D output)", kind_names[u.kind], n, ch,
             h, w, oh, ow, ydims);
}

static int adaptive_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    static const struct { size_t n, c, h, w, oh, ow; int ydims, global; } t[] = {
        {1, 3, 7, 7, 1, 1, 4, 0},
        {2, 5, 13, 13, 3, 3, 4, 0},
        {2, 6, 7, 5, 4, 3, 4, 0},
        {1, 3, 5, 5, 7, 7, 4, 0},     /* more outputs than inputs */
        {3, 17, 31, 31, 2, 5, 4, 0},
        {4, 17, 7, 7, 1, 1, 2, 1},    /* global, [N, C] output */
        {1, 5, 13, 13, 1, 1, 4, 1},   /* global, [N, C, 1, 1] */
        {2, 3, 31, 31, 1, 1, 2, 0},   /* adaptive with [N, C] */
    };
    if (i >= sizeof t / sizeof t[0]) return 0;
    adaptive_case(c, t[i].global, t[i].n, t[i].c, t[i].h, t[i].w, t[i].oh, t[i].ow, t[i].ydims);
    return 1;
}

/* Max pooling is not differentiable where x[i] ties (within 2h) with another element of a
 * window containing it; those points are skipped. */
static int maxpool_kink(double *const *ops, int wrt, size_t i, double h, const oc_case *c)
{
    const double *x = ops[wrt];
    const pool_tc *u = OC_P(c, pool_tc);
    const pool_case *pc = &u->pc;
    const fcl_pool2d_params *p = &pc->p;
    size_t plane = i / (pc->h * pc->w), r = (i / pc->w) % pc->h, q = i % pc->w;
    long sh = p->sh ? p->sh : p->kh, sw = p->sw ? p->sw : p->kw;
    for (size_t oi = 0; oi < u->oh; oi++)
        for (size_t oj = 0; oj < u->ow; oj++) {
            long hs = (long)oi * sh - p->ph, ws = (long)oj * sw - p->pw;
            if ((long)r < hs || (long)r >= hs + p->kh || (long)q < ws || (long)q >= ws + p->kw) continue;
            for (long rr = hs; rr < hs + p->kh; rr++)
                for (long qq = ws; qq < ws + p->kw; qq++) {
                    if (rr < 0 || qq < 0 || rr >= (long)pc->h || qq >= (long)pc->w) continue;
                    size_t j = plane * pc->h * pc->w + (size_t)rr * pc->w + (size_t)qq;
                    if (j != i && fabs(x[j] - x[i]) <= 2 * h) return 1;
                }
        }
    return 0;
}

/* The reference backward vs FD: three windows, each through max (kinks skipped; ties on the
 * first), avg and adaptive (to 3x2), 64 samples. */
static int fd_gen(const oc_op *op, size_t i, oc_case *c)
{
    (void)op;
    static const pool_case cases[] = {
        {1, 2, 7, 7, {3, 3, 2, 2, 1, 1, 0, 1, 0}},
        {2, 3, 7, 5, {2, 2, 2, 2, 1, 0, 1, 0, 0}},
        {1, 2, 13, 13, {3, 3, 1, 1, 1, 1, 0, 1, 0}},
    };
    if (i >= 9) return 0;
    const pool_case *pc = &cases[i / 3];
    int kind = (int)(i % 3);
    if (kind == K_ADAPTIVE) adaptive_case(c, 0, pc->n, pc->c, pc->h, pc->w, 3, 2, 4);
    else window_case(c, kind, pc, kind == K_MAX && i == 0, "");
    c->arg[X].lo = -1, c->arg[X].hi = 1;
    c->device = 0;
    oc_fd_add(c, X, Y, DY, DX, 64, kind == K_MAX ? maxpool_kink : NULL);
    return 1;
}

/* op: max, avg, adaptive + global, FD; under the device's tuning and each forced one */
static void run_pool(const oc_param *r)
{
    static int (*const gens[])(const oc_op *, size_t, oc_case *) = {max_gen, avg_gen, adaptive_gen, fd_gen};
    oc_op op = {.name = "pool", .gen = gens[r->op], .fill = pool_fill, .dev_fwd = pool_dev_fwd,
                .dev_bwd = pool_dev_bwd, .ref_fwd = pool_ref_fwd, .ref_bwd = pool_ref_bwd, .extra = pool_extra,
                .tunings = pool_tunings};
    oc_run_tuned(&op, (int)r->tuning);
}

ParameterizedTestParameters(pool, kinds_and_tunings)
{
    static oc_param runs[] = {{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {1, 0, 0}, {1, 1, 0}, {1, 2, 0}, {2, 0, 0}, {2, 1, 0}, {2, 2, 0}};
    return cr_make_param_array(oc_param, runs, sizeof runs / sizeof runs[0]);
}
ParameterizedTest(oc_param *r, pool, kinds_and_tunings) { run_pool(r); }
Test(pool, finite_differences) { run_pool(&(oc_param){3, 0, 1}); }

/* NaN wins a window (PyTorch); an all--inf window reports its first element. */
static void maxpool_nan_and_inf_body(void)
{
    h_case("maxpool2d NaN and -inf");
    fcl_ctx *ctx = h_ctx();
    pool_case pc = {1, 2, 5, 5, {2, 2, 2, 2, 1, 1, 1, 1, 0}};
    size_t oh, ow;
    out_hw(&pc, &oh, &ow);
    size_t xs[4] = {1, 2, 5, 5}, ys[4] = {1, 2, oh, ow}, nx = 50, ny = 2 * oh * ow;
    double x[50], y[50], idx[50], y_ref[50], idx_ref[50];
    h_rand(x, nx, 3, -1, 1);
    h_to_f32(x, nx);
    x[6] = NAN;    /* (1, 1): window (1, 1) */
    x[18] = NAN;   /* (3, 3): window (2, 2) */
    for (size_t i = 25; i < 50; i++) x[i] = -INFINITY;
    fcl_ref_maxpool2d_fwd(y_ref, idx_ref, x, 1, 2, 5, 5, oh, ow, &pc.p);
    h_buf bx = h_upload(ctx, x, 4, xs), by = h_zeros(ctx, 4, ys), bi = h_zeros(ctx, 4, ys);
    H_OK(ctx, fcl_maxpool2d_fwd(ctx, &by.t, &bi.t, &bx.t, &pc.p));
    h_download(ctx, &by, y);
    h_download(ctx, &bi, idx);
    h_expect_close("maxpool y with NaN / -inf", y, y_ref, ny, 0);
    h_expect_close("maxpool idx with NaN / -inf", idx, idx_ref, ny, 0);
    int nans = 0;
    for (size_t i = 0; i < ny; i++) nans += isnan(y[i]);
    cr_expect(nans >= 2, "NaN must propagate through max pooling (got %d NaN outputs)", nans);
    /* the same input through 3x3/2 pad 1 (maxpool3s2_fwd on CPUs), with and without indices: NaN
     * and -inf windows */
    pool_case p3 = {1, 2, 5, 5, {3, 3, 2, 2, 1, 1, 0, 1, 0}};
    size_t oh3, ow3;
    out_hw(&p3, &oh3, &ow3);
    size_t ys3[4] = {1, 2, oh3, ow3}, ny3 = 2 * oh3 * ow3;
    fcl_ref_maxpool2d_fwd(y_ref, idx_ref, x, 1, 2, 5, 5, oh3, ow3, &p3.p);
    h_buf by3 = h_zeros(ctx, 4, ys3), bi3 = h_zeros(ctx, 4, ys3);
    for (int with_idx = 0; with_idx < 2; with_idx++) {
        H_OK(ctx, fcl_maxpool2d_fwd(ctx, &by3.t, with_idx ? &bi3.t : NULL, &bx.t, &p3.p));
        h_download(ctx, &by3, y);
        h_expect_close(with_idx ? "maxpool 3x3/2 y with NaN / -inf" : "maxpool 3x3/2 y (no idx) with NaN / -inf", y,
                       y_ref, ny3, 0);
        nans = 0;
        for (size_t i = 0; i < ny3; i++) nans += isnan(y[i]);
        cr_expect(nans >= 2, "NaN must propagate through 3x3/2 max pooling (got %d NaN outputs)", nans);
    }
    h_download(ctx, &bi3, idx);
    h_expect_close("maxpool 3x3/2 idx with NaN / -inf", idx, idx_ref, ny3, 0);
    h_free(ctx, &by3), h_free(ctx, &bi3);
    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bi);
    h_ctx_free(ctx);
}
/* as the defaults set it and under the forced GPU rows (flat and tree reductions) */
OC_TEST_TUNED(pool, maxpool_nan_and_inf, pool_tunings, 2, maxpool_nan_and_inf_body)


/* ---- errors ------------------------------------------------------------------------------------- */

Test(pool, errors)
{
    h_case("pool argument errors");
    fcl_ctx *ctx = h_ctx();
    size_t xs[4] = {1, 2, 7, 7}, ys[4] = {1, 2, 4, 4}, bad[4] = {1, 2, 3, 3}, ys2[2] = {1, 2};
    size_t ys3[4] = {1, 3, 1, 1};
    double v[98] = {0};
    h_buf bx = h_upload(ctx, v, 4, xs), by = h_zeros(ctx, 4, ys), bb = h_zeros(ctx, 4, bad);
    h_buf b2 = h_zeros(ctx, 2, ys2), b3 = h_zeros(ctx, 4, ys3);
    fcl_pool2d_params p = {3, 3, 2, 2, 1, 1, 0, 1, 0};   /* 7 -> 4 */
    cr_expect(fcl_maxpool2d_fwd(ctx, &by.t, NULL, &bx.t, &p) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    fcl_status st = fcl_maxpool2d_fwd(ctx, &bb.t, NULL, &bx.t, &p);
    cr_expect(st == FCL_ERR_SHAPE && strstr(fcl_ctx_errmsg(ctx), "fcl_maxpool2d_fwd"), "%s",
              fcl_ctx_errmsg(ctx));
    fcl_pool2d_params big_pad = {3, 3, 2, 2, 2, 2, 0, 1, 0};
    cr_expect(fcl_avgpool2d_fwd(ctx, &by.t, &bx.t, &big_pad) == FCL_ERR_INVALID_ARG, "%s",
              fcl_ctx_errmsg(ctx));
    cr_expect(fcl_maxpool2d_bwd(ctx, &bx.t, &by.t, NULL, &p) == FCL_ERR_INVALID_ARG, "bwd without idx");
    cr_expect(fcl_maxpool2d_fwd(ctx, &by.t, &by.t, &bx.t, &p) == FCL_ERR_INVALID_ARG, "idx == y");
    cr_expect(fcl_global_avgpool_fwd(ctx, &b2.t, &bx.t) == FCL_OK, "%s", fcl_ctx_errmsg(ctx));
    cr_expect(fcl_global_avgpool_fwd(ctx, &by.t, &bx.t) == FCL_ERR_SHAPE, "global to 4x4 refused");
    cr_expect(fcl_adaptive_avgpool2d_fwd(ctx, &b3.t, &bx.t) == FCL_ERR_SHAPE, "channel mismatch refused");
    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bb), h_free(ctx, &b2), h_free(ctx, &b3);
    h_ctx_free(ctx);
}
