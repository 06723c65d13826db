/* tests/helpers/opcheck.c: the op test driver: random operands, device vs reference with
 * sentinels, every backward output, finite differences of the reference; see opcheck.h. */
#include "helpers/opcheck.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oc_shape_str(char *buf, size_t size, int ndim, const size_t *shape)
{
    int len = snprintf(buf, size, "[");
    for (int i = 0; i < ndim && len > 0 && (size_t)len < size; i++)
        len += snprintf(buf + len, size - (size_t)len, i ? ", %zu" : "%zu", shape[i]);
    if (len > 0 && (size_t)len < size) snprintf(buf + len, size - (size_t)len, "]");
}

int *oc_labels(const double *h, size_t n)
{
    int *l = malloc((n ? n : 1) * sizeof *l);
    cr_assert(l != NULL, "oc_labels: out of memory");
    for (size_t i = 0; i < n; i++) l[i] = (int)h[i];
    return l;
}

void oc_floor_labels(double *h, size_t n, int k)
{
    for (size_t i = 0; i < n; i++) h[i] = (int)h[i] < k ? (double)(int)h[i] : (double)(k - 1);
}

h_buf oc_upload_labels(fcl_ctx *ctx, const int *lab, size_t n)
{
    double *d = h_alloc(n);
    for (size_t i = 0; i < n; i++) d[i] = lab[i];
    h_buf b = h_upload(ctx, d, 1, &n);
    free(d);
    return *h_name(&b, "labels");
}

void oc_clustered(double *x, const int *lab, size_t n, size_t d, int ids, double sigma, int unit, uint64_t seed)
{
    double *c = h_alloc((size_t)ids * d), *z = h_alloc(n * d);
    h_rand(c, (size_t)ids * d, seed, -1, 1);
    h_rand(z, n * d, seed + 1, -1, 1);
    for (size_t i = 0; i < n; i++) {
        double nr = 0.0;
        for (size_t t = 0; t < d; t++) {
            x[i * d + t] = c[(size_t)lab[i] * d + t] + sigma * z[i * d + t];
            nr += x[i * d + t] * x[i * d + t];
        }
        nr = unit ? sqrt(nr) : 1.0;
        for (size_t t = 0; t < d; t++) x[i * d + t] /= nr;
    }
    h_to_f32(x, n * d);
    free(c);
    free(z);
}

oc_arg *oc_arg_set(oc_case *c, int i, const char *name, oc_role role, int ndim, const size_t *shape,
                   double lo, double hi)
{
    cr_assert(i >= 0 && i < OC_MAX_ARGS && ndim >= 1 && ndim <= 4, "oc_arg_set: bad index %d / ndim %d", i, ndim);
    oc_arg *a = &c->arg[i];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->role = role;
    a->ndim = ndim;
    memcpy(a->shape, shape, (size_t)ndim * sizeof *shape);
    a->lo = lo;
    a->hi = hi;
    if (i >= c->nargs) c->nargs = i + 1;
    return a;
}

void oc_fd_add(oc_case *c, int wrt, int out, int r, int grad, size_t samples, oc_kink_fn kink)
{
    cr_assert(c->nfd < OC_MAX_FD, "oc_fd_add: more than %d checks", OC_MAX_FD);
    c->fd[c->nfd++] = (oc_fd){.wrt = wrt, .out = out, .r = r, .grad = grad, .samples = samples, .kink = kink};
}

void oc_fd_inputs(oc_case *c, int out, int r, int n, const int *wrt, const int *grad, size_t samples,
                  oc_kink_fn kink)
{
    c->device = 0;
    for (int k = 0; k < n; k++) oc_fd_add(c, wrt[k], out, r, grad[k], samples, kink);
}

static size_t arg_n(const oc_arg *a) { return a->role == OC_NONE ? 0 : h_numel(a->ndim, a->shape); }

/* The case's host arrays: inputs random (float-rounded), gradients at their start, outputs 0. */
static void make_host(const oc_op *op, const oc_case *c, double **h)
{
    for (int i = 0; i < c->nargs; i++) {
        const oc_arg *a = &c->arg[i];
        h[i] = NULL;
        if (a->role == OC_NONE) continue;
        size_t n = arg_n(a);
        h[i] = h_alloc(n);
        if (a->role != OC_OUT) {
            h_rand(h[i], n, c->seed * 16 + (uint64_t)i, a->lo, a->hi);
            h_to_f32(h[i], n);
        }
    }
    if (op->fill) op->fill(h, c);
}

static void copy_host(const oc_case *c, double *const *src, double **dst)
{
    for (int i = 0; i < c->nargs; i++) dst[i] = src[i] ? h_dup(src[i], arg_n(&c->arg[i])) : NULL;
}

static void free_host(const oc_case *c, double **h)
{
    for (int i = 0; i < c->nargs; i++) free(h[i]), h[i] = NULL;
}

/* ---- device vs reference ------------------------------------------------------------------- */

static void compare(const oc_case *c, int i, const double *got, const double *want)
{
    const oc_arg *a = &c->arg[i];
    char what[256];
    double tol = a->tol < 0 ? 0 : a->tol > 0 ? a->tol : a->role == OC_GRAD ? H_TOL_BWD : H_TOL_FWD;
    size_t start = 0;
    for (int k = 0; k <= 3; k++) {
        size_t end = k < 3 && a->split[k] ? a->split[k] : arg_n(a);
        snprintf(what, sizeof what, "%s %s %s", c->what, a->role == OC_GRAD ? "bwd" : "fwd", a->name);
        if (start || end < arg_n(a))
            snprintf(what + strlen(what), sizeof what - strlen(what), " [%zu, %zu)", start, end);
        h_expect_close(what, got + start, want + start, end - start, tol);
        if (end == arg_n(a)) break;
        start = end;
    }
}

static void run_device(fcl_ctx *ctx, const oc_op *op, const oc_case *c, double *const *h)
{
    double *want[OC_MAX_ARGS];
    copy_host(c, h, want);
    if (op->ref_fwd) op->ref_fwd(want, c);
    if (op->ref_bwd) op->ref_bwd(want, c);

    h_buf b[OC_MAX_ARGS];
    fcl_tensor *t[OC_MAX_ARGS];
    memset(b, 0, sizeof b);
    for (int i = 0; i < c->nargs; i++) {
        const oc_arg *a = &c->arg[i];
        t[i] = NULL;
        if (a->role == OC_NONE) continue;
        if (a->role == OC_OUT) {   /* NaN: the op must write every element, never read one */
            double *nan = h_alloc(arg_n(a));
            for (size_t j = 0; j < arg_n(a); j++) nan[j] = NAN;
            b[i] = h_upload(ctx, nan, a->ndim, a->shape);
            free(nan);
        } else {
            b[i] = h_upload(ctx, h[i], a->ndim, a->shape);
        }
        h_name(&b[i], a->name);
        t[i] = &b[i].t;
    }
    if (op->dev_fwd) h_check(ctx, op->dev_fwd(ctx, t, c), "device forward");
    if (op->dev_bwd) h_check(ctx, op->dev_bwd(ctx, t, c), "device backward");
    for (int i = 0; i < c->nargs; i++) {
        const oc_arg *a = &c->arg[i];
        if (a->role == OC_NONE) continue;
        double *got = h_alloc(arg_n(a));
        h_download(ctx, &b[i], got);   /* checks the sentinels */
        if (a->role == OC_IN) {        /* an input must come back bit for bit */
            for (size_t j = 0; j < arg_n(a); j++) {
                float g = (float)got[j], w = (float)want[i][j];
                if (memcmp(&g, &w, sizeof g)) {
                    cr_expect(0, "%s: input %s changed at [%zu]: %.9g, was %.9g", c->what, a->name, j, got[j],
                              want[i][j]);
                    break;
                }
            }
        } else if (a->delta) {
            double *w = h_dup(want[i], arg_n(a));
            for (size_t j = 0; j < arg_n(a); j++) got[j] -= h[i][j], w[j] -= h[i][j];
            compare(c, i, got, w);
            free(w);
        } else {
            compare(c, i, got, want[i]);
        }
        free(got);
    }
    if (op->extra) op->extra(ctx, b, h, want, c);
    for (int i = 0; i < c->nargs; i++)
        if (c->arg[i].role != OC_NONE) h_free(ctx, &b[i]);
    free_host(c, want);
}

/* ---- reference vs finite differences ------------------------------------------------------- */

typedef struct fd_ud {
    const oc_op *op;
    const oc_case *c;
    double *scratch[OC_MAX_ARGS];   /* a copy of every operand the forward reads and writes */
    double *cur[OC_MAX_ARGS];       /* the case's operands, cur[wrt] the perturbed one */
    oc_kink_fn kink;
    int wrt, out;
} fd_ud;

static void fd_f(double *y, const double *x, void *ud)
{
    fd_ud *u = ud;
    size_t nw = arg_n(&u->c->arg[u->wrt]);
    memcpy(u->scratch[u->wrt], x, nw * sizeof *x);
    u->op->ref_fwd(u->scratch, u->c);
    memcpy(y, u->scratch[u->out], arg_n(&u->c->arg[u->out]) * sizeof *y);
}

static int fd_kink(const double *x, size_t i, double h, void *ud)
{
    fd_ud *u = ud;
    u->cur[u->wrt] = (double *)x;   /* h_fd_check's own copy, perturbed in place */
    return u->kink(u->cur, u->wrt, i, h, u->c);
}

static void run_fd(const oc_op *op, const oc_case *c, double *const *h)
{
    cr_assert(op->ref_fwd && op->ref_bwd, "%s: finite differences need ref_fwd and ref_bwd", op->name);
    double *g[OC_MAX_ARGS];
    copy_host(c, h, g);
    for (int i = 0; i < c->nargs; i++)
        if (c->arg[i].role == OC_GRAD) memset(g[i], 0, arg_n(&c->arg[i]) * sizeof *g[i]);
    op->ref_fwd(g, c);   /* what the backward reads of the forward (saved statistics, indices) */
    op->ref_bwd(g, c);
    for (int k = 0; k < c->nfd; k++) {
        const oc_fd *f = &c->fd[k];
        fd_ud u = {op, c, {NULL}, {NULL}, f->kink, f->wrt, f->out};
        copy_host(c, h, u.scratch);
        memcpy(u.cur, h, (size_t)c->nargs * sizeof *u.cur);
        double *x = h_dup(h[f->wrt], arg_n(&c->arg[f->wrt]));
        char what[256];
        snprintf(what, sizeof what, "%s d/d%s", c->what, c->arg[f->wrt].name);
        h_fd_check(&(h_fd){.what = what, .f = fd_f, .kink = f->kink ? fd_kink : NULL, .ud = &u, .x = x,
                           .nx = arg_n(&c->arg[f->wrt]), .ny = arg_n(&c->arg[f->out]), .r = h[f->r],
                           .grad = g[f->grad], .samples = f->samples, .seed = c->seed + (uint64_t)k,
                           .h = f->h, .tol = f->tol});
        free(x);
        free_host(c, u.scratch);
    }
    free_host(c, g);
}

/* ---- the driver ---------------------------------------------------------------------------- */

void oc_run_case(fcl_ctx *ctx, const oc_op *op, oc_case *c)
{
    double *h[OC_MAX_ARGS] = {NULL};
    make_host(op, c, h);
    if (c->device) {
        h_case("%s", c->what);
        run_device(ctx, op, c, h);
    }
    if (c->nfd) {
        h_case("%s reference backward vs finite differences", c->what);
        run_fd(op, c, h);
    }
    free_host(c, h);
}

void oc_run(const oc_op *op)
{
    fcl_ctx *ctx = NULL;   /* made for the first case that runs on the device */
    oc_case c;
    for (size_t i = 0;; i++) {
        memset(&c, 0, sizeof c);
        c.seed = 1 + i;
        c.device = 1;
        if (!op->gen(op, i, &c)) break;
        if (c.device && !ctx) ctx = h_ctx();
        oc_run_case(ctx, op, &c);
    }
    h_ctx_free(ctx);
}

void oc_run_forced(const oc_op *op, size_t k)
{
    cr_assert(op->tunings && op->tunings[k], "%s: no forced tuning #%zu", op->name, k);
    h_force(op->tunings[k]);
    oc_run(op);
}

void oc_run_tuned(const oc_op *op, int tuning)
{
    if (tuning > 0) oc_run_forced(op, (size_t)tuning - 1);
    else oc_run(op);
}
