/* tools/bench_peak.c: the device's honest float32 limit: an FMA loop at vector widths 4, 8 and 16 and 8-16 chains, the best kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One width: a warm-up run sizes iters so that one run takes about 0.2 s (a GPU finishes the CPU's
 * count in microseconds, where launch overhead would dominate), then the best of 3 runs. */
static fcl_status peak_width(fcl_ctx *ctx, int vw, int chains, double *gflops)
{
    const fcl_device_info *d = fcl_ctx_device(ctx);
    const size_t cus = d->compute_units ? d->compute_units : 1;
    /* CPUs: a few work-groups of 8 per core; other devices: full work-groups, 16 per compute unit
     * (enough resident work to hide latency without assuming any particular GPU's limits). */
    size_t wg = 8, global = cus * 64;
    if (!(d->type & CL_DEVICE_TYPE_CPU)) {
        wg = d->max_work_group >= 256 ? 256 : (d->max_work_group ? d->max_work_group : 1);
        global = cus * wg * 16;
    }
    char opts[48];
    snprintf(opts, sizeof opts, "-DFCL_VW=%d -DFCL_CHAINS=%d", vw, chains);
    int iters = 256;
    float m = 0.9999f, c = 1e-4f;
    cl_kernel k;
    fcl_tensor out;
    memset(&out, 0, sizeof out);
    *gflops = 0;
    fcl_status st = fcl_kernel_get(ctx, "bench.cl", "bench_fma_peak", opts, &k);
    if (!st) st = fcl_tensor_alloc4(ctx, &out, 1, 1, 1, global);
    if (!st) st = fcl_kernel_arg(ctx, k, 0, sizeof(cl_mem), &out.buf);
    if (!st) st = fcl_kernel_arg(ctx, k, 2, sizeof m, &m);
    if (!st) st = fcl_kernel_arg(ctx, k, 3, sizeof c, &c);
    for (int rep = 0; rep < 5 && !st; rep++) {
        st = fcl_kernel_arg(ctx, k, 1, sizeof iters, &iters);
        double t0 = tool_now_s();
        if (!st) st = fcl_kernel_run(ctx, k, 1, &global, &wg);
        if (!st) st = fcl_ctx_finish(ctx);
        double dt = tool_now_s() - t0;
        if (st) break;
        if (rep == 0) continue; /* the first run may include the kernel's compilation */
        double gf = (double)global * iters * chains * vw * 2 / dt * 1e-9;
        if (rep >= 2 && gf > *gflops) *gflops = gf;
        if (rep == 1) { /* size the timed runs */
            double want = (double)iters * 0.2 / (dt > 1e-6 ? dt : 1e-6);
            iters = want > (1 << 24) ? (1 << 24) : want < 256 ? 256 : (int)want;
        }
    }
    fcl_tensor_release(ctx, &out);
    return st;
}

/* Each width at 8, 12 and 16 chains (cl/bench.cl: too many spill a CPU's registers, too few leave
 * its FMA pipes waiting on the latency); a width's figure is its best chain count. */
int bench_peak_measure(fcl_ctx *ctx, bench_peak *p)
{
    static const int widths[3] = {4, 8, 16}, chains[3] = {8, 12, 16};
    memset(p, 0, sizeof *p);
    for (int i = 0; i < 3; i++) {
        p->widths[i] = widths[i];
        for (int c = 0; c < 3; c++) {
            double gf = 0;
            fcl_status st = peak_width(ctx, widths[i], chains[c], &gf);
            if (st) {
                fprintf(stderr, "facecl: warning: FMA peak at float%d x %d chains not measured: %s\n", widths[i], chains[c],
                        fcl_ctx_errmsg(ctx));
                continue;
            }
            if (gf > p->gflops[i]) p->gflops[i] = gf, p->chains[i] = chains[c];
        }
        if (p->gflops[i] > p->best) p->best = p->gflops[i], p->width = widths[i];
    }
    return p->best > 0 ? 0 : -1;
}

void bench_peak_describe(const bench_peak *p, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%.1f GFLOP/s, the best of", p->best);
    for (int i = 0; i < 3 && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s float%d %.1f (%d chains)", i ? "," : "", p->widths[i], p->gflops[i],
                      p->chains[i]);
}
