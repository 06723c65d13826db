/* host/runtime/profile.c: per-kernel device times of a context made with profiling on (the queue's events, summed by kernel name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

/* Pending launches are folded into the per-name totals once this many wait (and on every
 * read), so a long run holds a bounded number of events. */
enum { PROF_FOLD_AT = 1024 };

/* The totals entry of kernel `name`, added when new; NULL when out of host memory. */
static fcl_kernel_time *total_of(fcl_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_ktimes; i++)
        if (!strcmp(ctx->ktimes[i].name, name)) return &ctx->ktimes[i];
    if (ctx->n_ktimes == ctx->cap_ktimes) {
        size_t cap = ctx->cap_ktimes ? 2 * ctx->cap_ktimes : 32;
        void *p = realloc(ctx->ktimes, cap * sizeof *ctx->ktimes);
        if (!p) return NULL;
        ctx->ktimes = p;
        ctx->cap_ktimes = cap;
    }
    fcl_kernel_time *t = &ctx->ktimes[ctx->n_ktimes++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

/* Waits for the pending launches and adds their END - START to their kernels' totals (every
 * event is released, also on failure). */
static fcl_status fold(fcl_ctx *ctx)
{
    fcl_status st = FCL_OK;
    for (size_t i = 0; i < ctx->n_kpend; i++) {
        fcl_kernel_pending *p = &ctx->kpend[i];
        cl_ulong t0 = 0, t1 = 0;
        cl_int rc = st ? CL_SUCCESS : clWaitForEvents(1, &p->ev);
        if (!st && rc == CL_SUCCESS) rc = clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (!st && rc == CL_SUCCESS) rc = clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        if (!st && rc != CL_SUCCESS) st = fcl_cl_fail(ctx, rc, __FILE__, __LINE__, "kernel profiling (%s)", p->name);
        if (!st) {
            fcl_kernel_time *t = total_of(ctx, p->name);
            if (!t) st = FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory (kernel profiling)");
            else {
                t->calls++;
                t->ms += t1 > t0 ? (double)(t1 - t0) * 1e-6 : 0.0;
            }
        }
        clReleaseEvent(p->ev);
    }
    ctx->n_kpend = 0;
    return st;
}

fcl_status fcl_profile_record(fcl_ctx *ctx, cl_event ev, const char *name)
{
    if (ctx->n_kpend == ctx->cap_kpend) {
        fcl_status st = ctx->n_kpend >= PROF_FOLD_AT ? fold(ctx) : FCL_OK;
        if (st) {
            clReleaseEvent(ev);
            return st;
        }
        if (ctx->n_kpend == ctx->cap_kpend) {
            size_t cap = ctx->cap_kpend ? 2 * ctx->cap_kpend : 64;
            void *p = realloc(ctx->kpend, cap * sizeof *ctx->kpend);
            if (!p) {
                clReleaseEvent(ev);
                return FCL_ERR(&ctx->err, FCL_ERR_NOMEM, "out of host memory (kernel profiling)");
            }
            ctx->kpend = p;
            ctx->cap_kpend = cap;
        }
    }
    fcl_kernel_pending *p = &ctx->kpend[ctx->n_kpend++];
    p->ev = ev;
    snprintf(p->name, sizeof p->name, "%s", name);
    return FCL_OK;
}

int fcl_ctx_profiling(const fcl_ctx *ctx) { return ctx->profiling; }

/* most time first */
static int by_ms(const void *a, const void *b)
{
    double x = ((const fcl_kernel_time *)a)->ms, y = ((const fcl_kernel_time *)b)->ms;
    return x < y ? 1 : x > y ? -1 : strcmp(((const fcl_kernel_time *)a)->name, ((const fcl_kernel_time *)b)->name);
}

fcl_status fcl_ctx_kernel_times(fcl_ctx *ctx, fcl_kernel_time *out, size_t cap, size_t *n, int reset)
{
    *n = 0;
    if (!ctx->profiling)
        return FCL_ERR(&ctx->err, FCL_ERR_INVALID_ARG, "kernel times: the context was made without profiling "
                       "(fcl_ctx_opts.profiling)");
    fcl_status st = fold(ctx);
    if (st) return st;
    qsort(ctx->ktimes, ctx->n_ktimes, sizeof *ctx->ktimes, by_ms);
    *n = ctx->n_ktimes < cap ? ctx->n_ktimes : cap;
    if (*n) memcpy(out, ctx->ktimes, *n * sizeof *out);
    if (reset) ctx->n_ktimes = 0;
    return FCL_OK;
}

void fcl_profile_free(fcl_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_kpend; i++) clReleaseEvent(ctx->kpend[i].ev);
    free(ctx->kpend);
    free(ctx->ktimes);
}
