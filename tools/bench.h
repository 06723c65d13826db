/* tools/bench.h: the case list of `facecl bench ops`: one row = one op invocation on a real layer shape. */
#ifndef FACECL_TOOLS_BENCH_H
#define FACECL_TOOLS_BENCH_H

#include <facecl/facecl.h>

/* What the command line asked for; families size their cases from it. */
typedef struct bench_env {
    fcl_ctx *ctx;
    int batch;              /* --batch (default 32) */
    int size;               /* --size: network input height = width (default 112) */
} bench_env;

/* One row of the table. The driver (cmd_bench.c) calls setup once, run once as a warm-up
 * (kernel builds happen there), then run --reps times, each followed by clFinish and timed on
 * the wall clock, prints the median, and calls teardown. run only enqueues work.
 * GFLOP/s is printed when flops > 0, GB/s when bytes > 0 (memory-bound ops). */
typedef struct bench_case {
    char op[24];            /* "conv2d", "bn2d", ... */
    char net[16];           /* the network the shape comes from ("resnet18", "mnv2", "" ) */
    char shape[64];         /* human-readable layer shape */
    char dir[16];           /* "fwd", "bwd_data", "bwd_weight", ... */
    int count;              /* occurrences of this layer in `net` (for the per-network totals) */
    double flops;           /* floating-point operations per run (0: not meaningful) */
    double bytes;           /* minimum bytes moved per run (0: not shown) */
    fcl_status (*setup)(fcl_ctx *ctx, const struct bench_case *c, void **state);
    fcl_status (*run)(fcl_ctx *ctx, const struct bench_case *c, void *state);
    void (*teardown)(fcl_ctx *ctx, void *state);
    void *params;           /* family-specific, malloc'd by the family, freed by the driver */
} bench_case;

typedef struct bench_list {
    bench_case *items;
    size_t n, cap;
} bench_list;

/* Appends a copy of c (c->params is taken over); 0 on success, -1 out of memory (params freed). */
int bench_add(bench_list *list, const bench_case *c);

/* A family adds its rows. Register it in the `families` table of tools/cmd_bench.c. */
typedef int (*bench_family_fn)(const bench_env *env, bench_list *list);

int bench_conv_cases(const bench_env *env, bench_list *list);   /* tools/bench_conv.c */
int bench_linear_cases(const bench_env *env, bench_list *list);   /* tools/bench_linear.c */
int bench_eltwise_cases(const bench_env *env, bench_list *list);  /* tools/bench_eltwise.c */
int bench_loss_cases(const bench_env *env, bench_list *list);     /* tools/bench_loss.c */
int bench_metric_loss_cases(const bench_env *env, bench_list *list); /* tools/bench_metric_loss.c */
int bench_bn_act_pool_cases(const bench_env *env, bench_list *list); /* tools/bench_bn_act_pool.c */
int bench_blocks_cases(const bench_env *env, bench_list *list);   /* tools/bench_blocks.c */

/* Wall-clock seconds (CLOCK_MONOTONIC) for every bench timing (tools/bench_peak.c). */
double bench_now_s(void);

/* The device's honest float32 limit (tools/bench_peak.c): an FMA loop built at vector widths 4, 8
 * and 16, the best kept, so "%peak" is against the full FMA width (AVX-512 on these CPUs). */
typedef struct bench_peak {
    int widths[3];
    double gflops[3];       /* per width; 0 where it failed */
    int width;              /* the best width */
    double best;            /* GFLOP/s */
} bench_peak;
int bench_peak_measure(fcl_ctx *ctx, bench_peak *p);   /* 0 ok; -1 none measured (warnings printed) */
void bench_peak_describe(const bench_peak *p, char *buf, size_t size);

#endif
