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

/* One operand of a row: a float tensor of `shape` filled with `value` (BENCH_CONST), a fixed
 * pattern of values in [-1, 1] salted by `value` (BENCH_PATTERN: a constant would make every
 * cosine 1), or class labels i * 7919 % classes for row i (BENCH_LABELS, classes = value). */
typedef enum { BENCH_CONST, BENCH_PATTERN, BENCH_LABELS } bench_fill;
typedef struct bench_tensor {
    int ndim;
    size_t shape[4];
    bench_fill fill;
    float value;
} bench_tensor;

#define BENCH_MAX_TENSORS 12

/* One row of the table: what it prints, its operands, and the call it times. The driver
 * (cmd_bench.c) makes the operands, calls prep once (the forward a backward reads from, a
 * state object), run once as a warm-up (kernel builds happen there), then run --reps times,
 * each followed by clFinish and timed on the wall clock, prints the median, and frees everything.
 * GFLOP/s is printed when flops > 0, GB/s when bytes > 0 (memory-bound ops). */
typedef struct bench_case {
    char op[24];            /* "conv2d", "bn2d", ... */
    char net[16];           /* the network the shape comes from ("resnet18", "mnv2", "" ) */
    char shape[64];         /* human-readable layer shape */
    char dir[16];           /* "fwd", "bwd_data", "bwd_weight", ... */
    int count;              /* occurrences of this layer in `net` (for the per-network totals) */
    double flops;           /* floating-point operations per run (0: not meaningful) */
    double bytes;           /* minimum bytes moved per run (0: not shown) */
    int nt;
    bench_tensor t[BENCH_MAX_TENSORS];
    /* Optional, once before the warm-up; *state (may stay NULL) is freed with drop. */
    fcl_status (*prep)(fcl_ctx *ctx, const struct bench_case *c, fcl_tensor *t, void **state);
    fcl_status (*run)(fcl_ctx *ctx, const struct bench_case *c, fcl_tensor *t, void *state);
    void (*drop)(fcl_ctx *ctx, void *state);
    int kind;                                  /* the family's switch in run */
    _Alignas(16) unsigned char params[128];    /* the family's parameters: BENCH_P(c, type) */
} bench_case;

#define BENCH_P(c, type) ((type *)(void *)(c)->params)

typedef struct bench_list {
    bench_case *items;
    size_t n, cap;
} bench_list;

/* Appends an empty row with these labels and run function; NULL when out of memory. The caller
 * fills in the operands (bench_tensor_set), sizes, counts and params. */
bench_case *bench_row(bench_list *list, const char *op, const char *net, const char *dir,
                      fcl_status (*run)(fcl_ctx *, const bench_case *, fcl_tensor *, void *));
/* Sets operand i of c ([n0, n1, n2, n3] with ndim 1..4; unused trailing sizes ignored). */
void bench_tensor_set(bench_case *c, int i, int ndim, size_t n0, size_t n1, size_t n2, size_t n3,
                      bench_fill fill, float value);
/* Makes the operands of c (and runs prep); frees them (and drop's state). tools/bench_table.c */
fcl_status bench_setup(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void **state);
void bench_teardown(fcl_ctx *ctx, const bench_case *c, fcl_tensor *t, void *state);

/* The ResNet-18 activation sizes at input `size`: stem, layer1..4 (0 when too small). */
void bench_rn18_sizes(int size, int *stem, int *r);

/* A family adds its rows. Register it in the `families` table of tools/cmd_bench.c. */
typedef int (*bench_family_fn)(const bench_env *env, bench_list *list);

int bench_conv_cases(const bench_env *env, bench_list *list);   /* tools/bench_conv.c */
int bench_linear_cases(const bench_env *env, bench_list *list);   /* tools/bench_linear.c */
int bench_eltwise_cases(const bench_env *env, bench_list *list);  /* tools/bench_eltwise.c */
int bench_loss_cases(const bench_env *env, bench_list *list);     /* tools/bench_loss.c */
int bench_metric_loss_cases(const bench_env *env, bench_list *list); /* tools/bench_metric_loss.c */
int bench_bn_act_pool_cases(const bench_env *env, bench_list *list); /* tools/bench_bn_act_pool.c */
int bench_blocks_cases(const bench_env *env, bench_list *list);   /* tools/bench_blocks.c */

/* The device's honest float32 limit (tools/bench_peak.c): an FMA loop built at vector widths 4, 8
 * and 16 with 8, 12 and 16 independent chains, the best kept, so "%peak" is against the full FMA
 * width (AVX-512 where the CPU has it) with the chains in registers (AVX2 has only 16). */
typedef struct bench_peak {
    int widths[3];
    double gflops[3];       /* per width, its best chain count; 0 where it failed */
    int chains[3];          /* that chain count */
    int width;              /* the best width */
    double best;            /* GFLOP/s */
} bench_peak;
int bench_peak_measure(fcl_ctx *ctx, bench_peak *p);   /* 0 ok; -1 none measured (warnings printed) */
void bench_peak_describe(const bench_peak *p, char *buf, size_t size);

/* One training step as `facecl bench net` times it and `facecl tune` measures it (tools/bench_step.c):
 * forward on x [N,C,H,W], softmax cross-entropy against labels y [N] into loss, dlogits refilled,
 * backward, the gradients averaged by ddp when it is not NULL, the optimizer step. */
fcl_status bench_train_step(fcl_ctx *ctx, fcl_net *net, fcl_optim *opt, const fcl_tensor *x, const fcl_tensor *y,
                            fcl_tensor *loss, fcl_tensor *dlogits, fcl_ddp *ddp);

/* That step's state for a model at a batch size: the network (parameters from the context's
 * seed), SGD (lr 0.01, momentum 0.9, weight decay 5e-4 on the decayed group), x drawn N(0, 1) and
 * labels uniform over the classes from seed 1. setup fills a zeroed struct (free it even when
 * setup failed); new_optim replaces the optimizer (a fresh state); run is one step (ddp: NULL, or
 * set by the caller). */
typedef struct bench_step {
    fcl_ctx *ctx;
    fcl_net *net;
    fcl_optim *opt;
    fcl_param_range *rd, *rn;
    size_t nd, nn;
    fcl_tensor x, y, loss, dlogits;
    fcl_ddp *ddp;
} bench_step;
fcl_status bench_step_setup(bench_step *s, fcl_ctx *ctx, const fcl_model *m, int batch);
fcl_status bench_step_new_optim(bench_step *s);
fcl_status bench_step_run(void *u);
void bench_step_free(bench_step *s);

/* qsort comparison of doubles, ascending (the medians of the timings). */
int bench_cmp_double(const void *a, const void *b);
/* the median of v[0..n), n >= 1 (sorts v; the mean of the middle two when n is even) */
double bench_median(double *v, long n);

#endif
