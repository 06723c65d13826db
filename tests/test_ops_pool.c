/* tests/test_ops_pool.c: max / average / adaptive / global pooling: output sizes (PyTorch's
 * rule), OpenCL vs reference (forward, indices, backward), ties and NaN, reference backward vs
 * finite differences, argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/harness.h"
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
};
#define N_POOL_CASES (sizeof pool_cases / sizeof pool_cases[0])

static void case_str(const pool_case *pc, const char *extra, char *buf, size_t size)
{
    const fcl_pool2d_params *p = &pc->p;
    snprintf(buf, size, "[%zu, %zu, %zu, %zu] k%dx%d s%dx%d p%dx%d%s%s", pc->n, pc->c, pc->h, pc->w,
             p->kh, p->kw, p->sh, p->sw, p->ph, p->pw, p->ceil_mode ? " ceil" : "", extra);
}

static void out_hw(const pool_case *pc, size_t *oh, size_t *ow)
{
    fcl_error err;
    fcl_status st = fcl_pool2d_out_hw(&pc->p, pc->h, pc->w, oh, ow, "test", &err);
    cr_assert(st == FCL_OK, "%s", err.msg);
}

/* Max pooling, one case: y and idx vs the reference, then dx (accumulating) vs the reference.
 * `ties`: inputs drawn from 5 values, so most windows have tied maxima (first one wins). */
static void run_max_case(fcl_ctx *ctx, const pool_case *pc, int ties, uint64_t seed)
{
    char cs[128], what[160];
    case_str(pc, ties ? " ties" : "", cs, sizeof cs);
    h_case("maxpool2d fwd+bwd %s", cs);
    size_t oh, ow;
    out_hw(pc, &oh, &ow);
    size_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, oh, ow};
    size_t nx = h_numel(4, xs), ny = h_numel(4, ys);
    double *x = h_alloc(nx), *y = h_alloc(ny), *y_ref = h_alloc(ny), *idx = h_alloc(ny);
    double *idx_ref = h_alloc(ny), *dy = h_alloc(ny), *dx0 = h_alloc(nx), *dx = h_alloc(nx);
    h_rand(x, nx, seed, -2, 1);   /* mostly negative: zero padding must never win */
    if (ties)
        for (size_t i = 0; i < nx; i++) x[i] = floor(x[i] * 2) / 2;
    h_to_f32(x, nx);
    h_rand(dy, ny, seed + 1, -1, 1);
    h_to_f32(dy, ny);
    h_rand(dx0, nx, seed + 2, -1, 1);
    h_to_f32(dx0, nx);
    fcl_ref_maxpool2d_fwd(y_ref, idx_ref, x, pc->n, pc->c, pc->h, pc->w, oh, ow, &pc->p);
    double *dx_ref = h_dup(dx0, nx);
    fcl_ref_maxpool2d_bwd(dx_ref, dy, idx_ref, pc->n, pc->c, pc->h, pc->w, oh, ow);

    h_buf bx = h_upload(ctx, x, 4, xs), by = h_zeros(ctx, 4, ys), bi = h_zeros(ctx, 4, ys);
    h_buf bdy = h_upload(ctx, dy, 4, ys), bdx = h_upload(ctx, dx0, 4, xs);
    h_name(&by, "y"), h_name(&bi, "idx"), h_name(&bdx, "dx");
    H_OK(ctx, fcl_maxpool2d_fwd(ctx, &by.t, &bi.t, &bx.t, &pc->p));
    h_download(ctx, &by, y);
    h_download(ctx, &bi, idx);
    snprintf(what, sizeof what, "maxpool y %s", cs);
    h_expect_close(what, y, y_ref, ny, H_TOL_FWD);
    snprintf(what, sizeof what, "maxpool idx (exact) %s", cs);
    h_expect_close(what, idx, idx_ref, ny, 0);
    H_OK(ctx, fcl_maxpool2d_bwd(ctx, &bdx.t, &bdy.t, &bi.t, &pc->p));
    h_download(ctx, &bdx, dx);
    snprintf(what, sizeof what, "maxpool dx %s", cs);
    h_expect_close(what, dx, dx_ref, nx, H_TOL_BWD);

    /* without indices the forward still works */
    H_OK(ctx, fcl_maxpool2d_fwd(ctx, &by.t, NULL, &bx.t, &pc->p));
    h_download(ctx, &by, y);
    h_expect_close("maxpool y (no idx)", y, y_ref, ny, H_TOL_FWD);

    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bi), h_free(ctx, &bdy), h_free(ctx, &bdx);
    free(x), free(y), free(y_ref), free(idx), free(idx_ref), free(dy), free(dx0), free(dx), free(dx_ref);
}

static void maxpool_body(void)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t i = 0; i < N_POOL_CASES; i++) run_max_case(ctx, &pool_cases[i], 0, 10 + i);
    for (size_t i = 0; i < N_POOL_CASES; i += 2) run_max_case(ctx, &pool_cases[i], 1, 30 + i);
    h_ctx_free(ctx);
}
Test(pool, maxpool) { maxpool_body(); }
Test(pool, maxpool_gpu_row) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=256"); maxpool_body(); }
Test(pool, maxpool_gpu_row_tree) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=64 -DFCL_USE_SG=0"); maxpool_body(); }

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
    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bi);
    h_ctx_free(ctx);
}
Test(pool, maxpool_nan_and_inf) { maxpool_nan_and_inf_body(); }
Test(pool, maxpool_nan_and_inf_gpu_row) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=256"); maxpool_nan_and_inf_body(); }
Test(pool, maxpool_nan_and_inf_gpu_row_tree) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=64 -DFCL_USE_SG=0"); maxpool_nan_and_inf_body(); }

static void run_avg_case(fcl_ctx *ctx, const pool_case *pc0, int include_pad, int divisor,
                         uint64_t seed)
{
    pool_case pcv = *pc0;
    pcv.p.count_include_pad = include_pad;
    pcv.p.divisor_override = divisor;
    const pool_case *pc = &pcv;
    char cs[160], extra[64], what[200];
    snprintf(extra, sizeof extra, " include_pad=%d divisor=%d", include_pad, divisor);
    case_str(pc, extra, cs, sizeof cs);
    h_case("avgpool2d fwd+bwd %s", cs);
    size_t oh, ow;
    out_hw(pc, &oh, &ow);
    size_t xs[4] = {pc->n, pc->c, pc->h, pc->w}, ys[4] = {pc->n, pc->c, oh, ow};
    size_t nx = h_numel(4, xs), ny = h_numel(4, ys);
    double *x = h_alloc(nx), *y = h_alloc(ny), *y_ref = h_alloc(ny), *dy = h_alloc(ny);
    double *dx0 = h_alloc(nx), *dx = h_alloc(nx);
    h_rand(x, nx, seed, -1, 2);
    h_rand(dy, ny, seed + 1, -1, 1);
    h_rand(dx0, nx, seed + 2, -1, 1);
    h_to_f32(x, nx), h_to_f32(dy, ny), h_to_f32(dx0, nx);
    fcl_ref_avgpool2d_fwd(y_ref, x, pc->n, pc->c, pc->h, pc->w, oh, ow, &pc->p);
    double *dx_ref = h_dup(dx0, nx);
    fcl_ref_avgpool2d_bwd(dx_ref, dy, pc->n, pc->c, pc->h, pc->w, oh, ow, &pc->p);

    h_buf bx = h_upload(ctx, x, 4, xs), by = h_zeros(ctx, 4, ys);
    h_buf bdy = h_upload(ctx, dy, 4, ys), bdx = h_upload(ctx, dx0, 4, xs);
    h_name(&by, "y"), h_name(&bdx, "dx");
    H_OK(ctx, fcl_avgpool2d_fwd(ctx, &by.t, &bx.t, &pc->p));
    h_download(ctx, &by, y);
    snprintf(what, sizeof what, "avgpool y %s", cs);
    h_expect_close(what, y, y_ref, ny, H_TOL_FWD);
    H_OK(ctx, fcl_avgpool2d_bwd(ctx, &bdx.t, &bdy.t, &pc->p));
    h_download(ctx, &bdx, dx);
    snprintf(what, sizeof what, "avgpool dx %s", cs);
    h_expect_close(what, dx, dx_ref, nx, H_TOL_BWD);
    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bdx);
    free(x), free(y), free(y_ref), free(dy), free(dx0), free(dx), free(dx_ref);
}

static void avgpool_body(void)
{
    fcl_ctx *ctx = h_ctx();
    for (size_t i = 0; i < N_POOL_CASES; i++) run_avg_case(ctx, &pool_cases[i], 1, 0, 50 + i);
    for (size_t i = 0; i < N_POOL_CASES; i++) run_avg_case(ctx, &pool_cases[i], 0, 0, 70 + i);
    run_avg_case(ctx, &pool_cases[2], 1, 3, 90);
    h_ctx_free(ctx);
}
Test(pool, avgpool) { avgpool_body(); }
Test(pool, avgpool_gpu_row) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=256"); avgpool_body(); }
Test(pool, avgpool_gpu_row_tree) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=64 -DFCL_USE_SG=0"); avgpool_body(); }

/* ---- adaptive and global average pooling ------------------------------------------------------- */

static void run_adaptive_case(fcl_ctx *ctx, size_t n, size_t c, size_t h, size_t w, size_t oh,
                              size_t ow, int ydims, int global, uint64_t seed)
{
    h_case("%s [%zu, %zu, %zu, %zu] -> %zux%zu (%d-D output)", global ? "global_avgpool" : "adaptive_avgpool2d",
           n, c, h, w, oh, ow, ydims);
    size_t xs[4] = {n, c, h, w}, ys[4] = {n, c, oh, ow};
    size_t nx = n * c * h * w, ny = n * c * oh * ow;
    double *x = h_alloc(nx), *y = h_alloc(ny), *y_ref = h_alloc(ny), *dy = h_alloc(ny);
    double *dx0 = h_alloc(nx), *dx = h_alloc(nx);
    h_rand(x, nx, seed, -1, 2), h_rand(dy, ny, seed + 1, -1, 1), h_rand(dx0, nx, seed + 2, -1, 1);
    h_to_f32(x, nx), h_to_f32(dy, ny), h_to_f32(dx0, nx);
    fcl_ref_adaptive_avgpool2d_fwd(y_ref, x, n, c, h, w, oh, ow);
    double *dx_ref = h_dup(dx0, nx);
    fcl_ref_adaptive_avgpool2d_bwd(dx_ref, dy, n, c, h, w, oh, ow);
    h_buf bx = h_upload(ctx, x, 4, xs), by = h_zeros(ctx, ydims, ys);
    h_buf bdy = h_upload(ctx, dy, ydims, ys), bdx = h_upload(ctx, dx0, 4, xs);
    h_name(&by, "y"), h_name(&bdx, "dx");
    if (global) {
        H_OK(ctx, fcl_global_avgpool_fwd(ctx, &by.t, &bx.t));
        H_OK(ctx, fcl_global_avgpool_bwd(ctx, &bdx.t, &bdy.t));
    } else {
        H_OK(ctx, fcl_adaptive_avgpool2d_fwd(ctx, &by.t, &bx.t));
        H_OK(ctx, fcl_adaptive_avgpool2d_bwd(ctx, &bdx.t, &bdy.t));
    }
    h_download(ctx, &by, y);
    h_download(ctx, &bdx, dx);
    h_expect_close("adaptive/global y", y, y_ref, ny, H_TOL_FWD);
    h_expect_close("adaptive/global dx", dx, dx_ref, nx, H_TOL_BWD);
    h_free(ctx, &bx), h_free(ctx, &by), h_free(ctx, &bdy), h_free(ctx, &bdx);
    free(x), free(y), free(y_ref), free(dy), free(dx0), free(dx), free(dx_ref);
}

static void adaptive_and_global_body(void)
{
    fcl_ctx *ctx = h_ctx();
    run_adaptive_case(ctx, 1, 3, 7, 7, 1, 1, 4, 0, 1);
    run_adaptive_case(ctx, 2, 5, 13, 13, 3, 3, 4, 0, 2);
    run_adaptive_case(ctx, 2, 6, 7, 5, 4, 3, 4, 0, 3);
    run_adaptive_case(ctx, 1, 3, 5, 5, 7, 7, 4, 0, 4);    /* more outputs than inputs */
    run_adaptive_case(ctx, 3, 17, 31, 31, 2, 5, 4, 0, 5);
    run_adaptive_case(ctx, 4, 17, 7, 7, 1, 1, 2, 1, 6);    /* global, [N, C] output */
    run_adaptive_case(ctx, 1, 5, 13, 13, 1, 1, 4, 1, 7);   /* global, [N, C, 1, 1] */
    run_adaptive_case(ctx, 2, 3, 31, 31, 1, 1, 2, 0, 8);   /* adaptive with [N, C] */
    h_ctx_free(ctx);
}
Test(pool, adaptive_and_global) { adaptive_and_global_body(); }
Test(pool, adaptive_and_global_gpu_row) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=256"); adaptive_and_global_body(); }
Test(pool, adaptive_and_global_gpu_row_tree) { h_force("pool:-DPOOL_GPU=1 -DPOOL_WG=64 -DFCL_USE_SG=0"); adaptive_and_global_body(); }

/* ---- reference backward vs finite differences ------------------------------------------------ */

typedef struct pool_fd_ud {
    const pool_case *pc;
    size_t oh, ow;
    int kind;   /* 0 max, 1 avg, 2 adaptive */
} pool_fd_ud;

static void pool_fd_f(double *y, const double *x, void *ud)
{
    pool_fd_ud *u = ud;
    const pool_case *pc = u->pc;
    if (u->kind == 0)
        fcl_ref_maxpool2d_fwd(y, NULL, x, pc->n, pc->c, pc->h, pc->w, u->oh, u->ow, &pc->p);
    else if (u->kind == 1)
        fcl_ref_avgpool2d_fwd(y, x, pc->n, pc->c, pc->h, pc->w, u->oh, u->ow, &pc->p);
    else
        fcl_ref_adaptive_avgpool2d_fwd(y, x, pc->n, pc->c, pc->h, pc->w, u->oh, u->ow);
}

/* Max pooling is not differentiable where x[i] ties (within 2h) with another element of a
 * window containing it; those points are skipped. */
static int maxpool_kink(const double *x, size_t i, double h, void *ud)
{
    pool_fd_ud *u = ud;
    const pool_case *pc = u->pc;
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

Test(pool, finite_differences)
{
    const pool_case cases[] = {
        {1, 2, 7, 7, {3, 3, 2, 2, 1, 1, 0, 1, 0}},
        {2, 3, 7, 5, {2, 2, 2, 2, 1, 0, 1, 0, 0}},
        {1, 2, 13, 13, {3, 3, 1, 1, 1, 1, 0, 1, 0}},
    };
    for (size_t ci = 0; ci < 3; ci++)
        for (int kind = 0; kind < 3; kind++) {
            const pool_case *pc = &cases[ci];
            pool_fd_ud u = {pc, 0, 0, kind};
            if (kind < 2)
                out_hw(pc, &u.oh, &u.ow);
            else
                u.oh = 3, u.ow = 2;
            const char *names[] = {"maxpool", "avgpool", "adaptive_avgpool"};
            char cs[128], what[160];
            if (kind < 2)
                case_str(pc, "", cs, sizeof cs);
            else
                snprintf(cs, sizeof cs, "[%zu, %zu, %zu, %zu] -> %zux%zu", pc->n, pc->c, pc->h, pc->w,
                         u.oh, u.ow);
            h_case("%s reference backward vs finite differences %s", names[kind], cs);
            size_t nx = pc->n * pc->c * pc->h * pc->w, ny = pc->n * pc->c * u.oh * u.ow;
            double *x = h_alloc(nx), *r = h_alloc(ny), *g = h_alloc(nx), *idx = h_alloc(ny);
            double *y = h_alloc(ny);
            h_rand(x, nx, 5 + ci, -1, 1);
            h_rand(r, ny, 6 + ci, -1, 1);
            if (kind == 0 && ci == 0)   /* ties on a 0.02 grid: the kink callback must skip them */
                for (size_t i = 0; i < nx; i++) x[i] = round(x[i] * 50) / 50;
            if (kind == 0) {
                fcl_ref_maxpool2d_fwd(y, idx, x, pc->n, pc->c, pc->h, pc->w, u.oh, u.ow, &pc->p);
                fcl_ref_maxpool2d_bwd(g, r, idx, pc->n, pc->c, pc->h, pc->w, u.oh, u.ow);
            } else if (kind == 1) {
                fcl_ref_avgpool2d_bwd(g, r, pc->n, pc->c, pc->h, pc->w, u.oh, u.ow, &pc->p);
            } else {
                fcl_ref_adaptive_avgpool2d_bwd(g, r, pc->n, pc->c, pc->h, pc->w, u.oh, u.ow);
            }
            snprintf(what, sizeof what, "%s dx %s", names[kind], cs);
            h_fd_check(&(h_fd){.what = what, .f = pool_fd_f, .kink = kind == 0 ? maxpool_kink : NULL,
                               .ud = &u, .x = x, .nx = nx, .ny = ny, .r = r, .grad = g,
                               .samples = 64, .seed = ci});
            free(x), free(r), free(g), free(idx), free(y);
        }
}

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
