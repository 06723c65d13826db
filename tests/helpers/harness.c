/* tests/helpers/harness.c: the op-test harness (context, random data, guarded buffers,
 * comparisons, finite differences, case counter); see harness.h for the contract. */
#include "helpers/harness.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- context ------------------------------------------------------------------------------ */

fcl_ctx *h_ctx(void)
{
    fcl_ctx_opts opts;
    memset(&opts, 0, sizeof opts);
    const char *dev = getenv("FACECL_TEST_DEVICE");
    opts.device = (dev && *dev) ? dev : NULL;   /* NULL: $FACECL_DEVICE, else the default */
    opts.seed = 1234;
    fcl_error err;
    fcl_error_clear(&err);
    fcl_ctx *ctx = NULL;
    fcl_status st = fcl_ctx_create(&ctx, &opts, &err);
    if (st != FCL_OK || !ctx)
        cr_assert_fail("h_ctx: no OpenCL context on device '%s' ($FACECL_TEST_DEVICE): %s [%s]",
                       opts.device ? opts.device : "(default)", err.msg, fcl_status_name(st));
    return ctx;
}

void h_force(const char *tuning)
{
    setenv("FACECL_TUNING", tuning, 1);
    printf("forced tuning: %s\n", tuning);
}

void h_ctx_free(fcl_ctx *ctx)
{
    if (ctx) fcl_ctx_destroy(ctx);
}

void h_check(fcl_ctx *ctx, fcl_status st, const char *what)
{
    if (st != FCL_OK)
        cr_assert_fail("%s failed: %s [%s]", what, ctx ? fcl_ctx_errmsg(ctx) : "(no context)",
                       fcl_status_name(st));
}

/* ---- random data -------------------------------------------------------------------------- */

uint64_t h_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double h_unit(uint64_t *s)
{
    return (double)(h_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);  /* [0, 1) */
}

void h_rand(double *x, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed * 0x2545f4914f6cdd1dull + 17;
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * h_unit(&s);
}

void h_rand_avoid(double *x, size_t n, uint64_t seed, double lo, double hi,
                  const double *kinks, size_t nk, double gap)
{
    uint64_t s = seed * 0x2545f4914f6cdd1dull + 91;
    for (size_t i = 0; i < n; i++) {
        for (int tries = 0;; tries++) {
            double v = lo + (hi - lo) * h_unit(&s);
            int near = 0;
            for (size_t k = 0; k < nk; k++)
                if (fabs(v - kinks[k]) < gap) near = 1;
            if (!near) {
                x[i] = v;
                break;
            }
            cr_assert(tries < 1000, "h_rand_avoid: [%g, %g) leaves no room %g away from kinks", lo,
                      hi, gap);
        }
    }
}

void h_to_f32(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (double)(float)x[i];
}

void h_rand_f32(double *x, size_t n, uint64_t seed, double lo, double hi)
{
    h_rand(x, n, seed, lo, hi);
    h_to_f32(x, n);
}

double *h_delta(const double *got, const double *before, size_t n)
{
    double *d = h_alloc(n);
    for (size_t i = 0; i < n; i++) d[i] = got[i] - before[i];
    return d;
}

double *h_alloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    cr_assert(p != NULL, "h_alloc: out of memory for %zu doubles", n);
    return p;
}

double *h_dup(const double *x, size_t n)
{
    double *p = h_alloc(n);
    memcpy(p, x, n * sizeof *p);
    return p;
}

size_t h_numel(int ndim, const size_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* ---- guarded buffers ---------------------------------------------------------------------- */

#define H_GUARD 16u
static unsigned h_buf_serial;   /* per process (each test is its own process) */

static uint32_t sentinel(size_t i) { return 0x7fc0fc00u | (uint32_t)(i & 0xffu); }

static h_buf make_buf(fcl_ctx *ctx, const double *host, int ndim, const size_t *shape)
{
    h_buf b;
    memset(&b, 0, sizeof b);
    cr_assert(ndim >= 1 && ndim <= FCL_MAX_DIMS, "h_upload: ndim %d out of range", ndim);
    unsigned serial = h_buf_serial++;
    b.numel = h_numel(ndim, shape);
    b.pre = H_GUARD + ((serial & 1u) ? 3u : 0u);
    b.post = H_GUARD;
    size_t total = b.pre + b.numel + b.post;
    int len = snprintf(b.name, sizeof b.name, "buffer #%u [", serial);
    for (int i = 0; i < ndim && len > 0 && (size_t)len < sizeof b.name; i++)
        len += snprintf(b.name + len, sizeof b.name - (size_t)len, i ? ", %zu" : "%zu", shape[i]);
    if (len > 0 && (size_t)len < sizeof b.name) snprintf(b.name + len, sizeof b.name - (size_t)len, "]");

    float *tmp = malloc(total * sizeof *tmp);
    cr_assert(tmp != NULL, "h_upload: out of memory");
    for (size_t i = 0; i < b.pre; i++) {
        uint32_t s = sentinel(i);
        memcpy(&tmp[i], &s, 4);
    }
    for (size_t i = 0; i < b.post; i++) {
        uint32_t s = sentinel(b.pre + b.numel + i);
        memcpy(&tmp[b.pre + b.numel + i], &s, 4);
    }
    for (size_t i = 0; i < b.numel; i++) tmp[b.pre + i] = host ? (float)host[i] : 0.0f;

    fcl_status st = fcl_tensor_alloc(ctx, &b.whole, 1, &total, FCL_F32);
    if (st == FCL_OK) st = fcl_tensor_upload(ctx, &b.whole, tmp, total);
    free(tmp);
    h_check(ctx, st, "h_upload (alloc/upload)");
    h_check(ctx, fcl_tensor_view(ctx, &b.whole, b.pre, ndim, shape, &b.t), "h_upload (view)");
    return b;
}

h_buf h_upload(fcl_ctx *ctx, const double *host, int ndim, const size_t *shape)
{
    cr_assert(host != NULL, "h_upload: NULL host data");
    return make_buf(ctx, host, ndim, shape);
}

h_buf h_zeros(fcl_ctx *ctx, int ndim, const size_t *shape)
{
    return make_buf(ctx, NULL, ndim, shape);
}

h_buf *h_name(h_buf *b, const char *name)
{
    snprintf(b->name, sizeof b->name, "%s", name);
    return b;
}

static float *fetch_whole(fcl_ctx *ctx, const h_buf *b)
{
    size_t total = b->pre + b->numel + b->post;
    float *tmp = malloc(total * sizeof *tmp);
    cr_assert(tmp != NULL, "h_download: out of memory");
    fcl_status st = fcl_tensor_download(ctx, &b->whole, tmp, total);
    if (st != FCL_OK) free(tmp);
    h_check(ctx, st, "h_download");
    for (size_t i = 0; i < total; i++) {
        if (i == b->pre) i += b->numel;
        if (i >= total) break;
        uint32_t u;
        memcpy(&u, &tmp[i], 4);
        if (u != sentinel(i)) {
            long rel = i < b->pre ? (long)i - (long)b->pre : (long)(i - b->pre - b->numel);
            free(tmp);
            cr_assert_fail("%s: sentinel overwritten %s the tensor (element %ld %s it: 0x%08x)",
                           b->name, rel < 0 ? "before" : "after", rel < 0 ? -rel : rel + 1,
                           rel < 0 ? "before" : "past the end of", (unsigned)u);
        }
    }
    return tmp;
}

void h_download(fcl_ctx *ctx, const h_buf *b, double *host)
{
    float *tmp = fetch_whole(ctx, b);
    for (size_t i = 0; i < b->numel; i++) host[i] = tmp[b->pre + i];
    free(tmp);
}

void h_check_guards(fcl_ctx *ctx, const h_buf *b)
{
    free(fetch_whole(ctx, b));
}

void h_free(fcl_ctx *ctx, h_buf *b)
{
    fcl_tensor_release(ctx, &b->whole);
    memset(b, 0, sizeof *b);
}

/* ---- comparisons -------------------------------------------------------------------------- */

double h_expect_close(const char *what, const double *got, const double *want, size_t n,
                      double rtol)
{
    double mean = 0;
    size_t finite = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i])) mean += fabs(want[i]), finite++;
    mean = finite ? mean / (double)finite : 0;
    double floor_ = mean > 0 ? mean : 1e-30;
    double max_abs = 0, max_rel = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(got[i] - want[i]);
        if (got[i] == want[i] || (isnan(got[i]) && isnan(want[i])))
            a = 0;   /* equal infinities, or NaN where NaN is expected */
        else if (!isfinite(a))
            a = INFINITY;
        double den = fabs(want[i]) > floor_ ? fabs(want[i]) : floor_;
        double r = a / den;
        if (isnan(r)) r = INFINITY;
        if (a > max_abs) max_abs = a;
        if (r > max_rel) {
            max_rel = r;
            at = i;
        }
    }
    printf("  %-34s n=%-8zu max abs err %.3e  max rel err %.3e  (at [%zu]: got %.9g want %.9g)\n",
           what, n, max_abs, max_rel, at, n ? got[at] : 0.0, n ? want[at] : 0.0);
    fflush(stdout);
    cr_expect(max_rel <= rtol, "%s: max rel err %.3e > %.1e at [%zu]: got %.9g want %.9g", what,
              max_rel, rtol, at, n ? got[at] : 0.0, n ? want[at] : 0.0);
    return max_rel;
}

/* ---- finite differences ------------------------------------------------------------------- */

static double loss_of(const h_fd *s, double *y)
{
    s->f(y, s->x, s->ud);
    double l = 0;
    for (size_t j = 0; j < s->ny; j++) l += y[j] * s->r[j];
    return l;
}

double h_fd_check(const h_fd *s)
{
    cr_assert(s->f && s->x && s->r && s->grad && s->nx && s->ny, "h_fd_check(%s): incomplete spec",
              s->what ? s->what : "?");
    size_t samples = s->samples ? s->samples : 48;
    double h = s->h > 0 ? s->h : 1e-5;
    double tol = s->tol > 0 ? s->tol : H_TOL_FD;
    size_t m = s->nx <= samples ? s->nx : samples;
    size_t *idx = malloc(m * sizeof *idx);
    double *y = h_alloc(s->ny);
    cr_assert(idx != NULL, "h_fd_check: out of memory");
    uint64_t rs = s->seed * 0x9e3779b97f4a7c15ull + 5;
    for (size_t k = 0; k < m; k++) idx[k] = s->nx <= samples ? k : (size_t)(h_splitmix64(&rs) % s->nx);

    double scale = 0;
    for (size_t k = 0; k < m; k++) scale += fabs(s->grad[idx[k]]);
    scale = scale / (double)m;
    if (scale < 1e-8) scale = 1e-8;

    double max_err = 0, fd_at = 0, an_at = 0;
    size_t at = 0, skipped = 0, checked = 0;
    for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        if (s->kink && s->kink(s->x, i, h, s->ud)) {
            skipped++;
            continue;
        }
        double x0 = s->x[i];
        s->x[i] = x0 + h;
        double lp = loss_of(s, y);
        s->x[i] = x0 - h;
        double lm = loss_of(s, y);
        s->x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        double an = s->grad[i];
        double den = fabs(an);
        if (fabs(fd) > den) den = fabs(fd);
        if (scale > den) den = scale;
        double e = fabs(fd - an) / den;
        if (!isfinite(e)) e = INFINITY;
        checked++;
        if (e > max_err || checked == 1) {
            max_err = e;
            at = i;
            fd_at = fd;
            an_at = an;
        }
    }
    printf("  FD %-31s checked %zu of %zu (skipped %zu at kinks)  max err %.3e (at [%zu]: fd %.9g "
           "analytic %.9g)\n",
           s->what, checked, s->nx, skipped, max_err, at, fd_at, an_at);
    fflush(stdout);
    free(idx);
    free(y);
    cr_expect(skipped * 2 <= m, "FD %s: %zu of %zu sampled elements were at kinks: check is empty",
              s->what, skipped, m);
    cr_expect(max_err <= tol, "FD %s: max err %.3e > %.1e at [%zu]: fd %.9g analytic %.9g", s->what,
              max_err, tol, at, fd_at, an_at);
    return max_err;
}

/* ---- case counter ------------------------------------------------------------------------- */

#define H_CASES_ENV "FACECL_H_CASES"

void h_case(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (len < 0) len = 0;
    if ((size_t)len > sizeof line - 2) len = (int)(sizeof line - 2);
    printf("case %s\n", line);
    fflush(stdout);
    line[len++] = '\n';
    const char *path = getenv(H_CASES_ENV);
    if (!path || !*path) return;   /* not run by the Criterion runner hook (e.g. --debug) */
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert(fd >= 0, "h_case: cannot open the case file %s: %s", path, strerror(errno));
    ssize_t w = write(fd, line, (size_t)len);
    close(fd);
    cr_assert(w == len, "h_case: short write to %s", path);
}

/* In the runner, before any test: a fresh count file whose path the children inherit. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    /* The facecl commands tests start (popen) select their device by $FACECL_DEVICE: make it the
     * test device, so a run on one vendor (FACECL_TEST_DEVICE=pocl) never drifts to another. */
    const char *dev = getenv("FACECL_TEST_DEVICE");
    if (dev && *dev) setenv("FACECL_DEVICE", dev, 1);
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/facecl-cases-XXXXXX", (dir && *dir) ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return;   /* counting is then off; h_case still prints each case */
    close(fd);
    setenv(H_CASES_ENV, path, 1);
}

/* In the runner, after all tests: count the lines the children appended. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    const char *path = getenv(H_CASES_ENV);
    if (!path || !*path) return;
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f) {
        int c;
        while ((c = fgetc(f)) != EOF) n += (c == '\n');
        fclose(f);
    }
    unlink(path);
    unsetenv(H_CASES_ENV);
    if (n == 0) return;
    printf("ops harness: %zu cases ran (tests: %zu passed, %zu failed, %zu crashed)\n", n,
           stats->tests_passed, stats->tests_failed, stats->tests_crashed);
    fflush(stdout);
}
