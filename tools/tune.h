/* tools/tune.h: what the stages of `facecl tune` share: the context, the cache being filled, the time budget, timing and progress. */
#ifndef FACECL_TOOLS_TUNE_H
#define FACECL_TOOLS_TUNE_H

#include <facecl/facecl.h>

typedef struct tune_run {
    fcl_ctx *ctx;
    fcl_tune_cache cache;     /* what is known so far: sets chosen, every measurement */
    char path[1200];          /* where it is saved (atomically, after every candidate) */
    double start, deadline;   /* tool_now_s() values: the stages stop starting candidates after */
    int reps;                 /* timed runs per measurement (the median is kept) */
    int cpu_clock;            /* 1: time by the process's CPU time (all its threads), which
                                 other processes on a shared machine disturb less than the
                                 wall clock, but blind to a candidate that leaves a core
                                 idle; measurements are kept apart by a ":cpu" task */
    int reused, measured;     /* measurements taken from an earlier run / taken now */
} tune_run;

/* Saves the cache; prints the error and returns -1 when it cannot. */
int tune_save(tune_run *t);
/* Records a measurement of candidate cand on task (ms < 0: rejected) and counts it; prints the
 * error and returns -1 when it cannot. */
int tune_record(tune_run *t, const char *task, const char *cand, double ms);
/* 1 when fewer than `need_s` seconds are left of the budget. */
int tune_out_of_time(const tune_run *t, double need_s);
/* Seconds since the run started (for the progress lines). */
double tune_elapsed(const tune_run *t);

/* Runs fn reps times, each followed by clFinish, and gives the median time in ms (wall clock,
 * or the process's CPU time with t->cpu_clock). */
typedef fcl_status (*tune_fn)(void *u);
fcl_status tune_time(const tune_run *t, tune_fn fn, void *u, int reps, double *median_ms);
/* The same, but a first run slower than cut_ms (> 0) is the measurement alone: a candidate that
 * far behind is not kept whatever the other runs say (`facecl tune` spends its budget elsewhere). */
fcl_status tune_time_cut(const tune_run *t, tune_fn fn, void *u, int reps, double cut_ms, double *median_ms);

/* t's n values: a fixed pattern in [-1, 1] salted by salt (a constant input would hide wrong
 * results: every cosine 1), through the host buffer h (n floats). */
fcl_status tune_fill(fcl_ctx *ctx, fcl_tensor *t, float *h, size_t n, unsigned salt);

/* Largest |a - b| over n values, relative to the largest |b| (NaN or Inf anywhere: +Inf). */
double tune_rel_err(const float *a, const float *b, size_t n);

/* The stages. They skip what the cache already holds, save after each candidate, stop
 * starting candidates when the budget is spent, and put their choice into the cache. 0: done
 * (or out of time), -1: an error was printed. */
typedef struct tune_gemm_opts {
    const fcl_model *model;   /* its linear layers at `batch` */
    int batch;
    const int *head_classes;  /* margin heads / linear classifiers: embedding -> classes */
    int n_head_classes;
    int head_batch;
} tune_gemm_opts;
int tune_gemm(tune_run *t, const tune_gemm_opts *o, double stage_deadline);

/* ---- the coordinate search the kernel and head stages share (tools/tune_search.c) ---------- */

/* Every family's values (table order). */
typedef struct tune_config {
    int v[FCL_TF_COUNT][FCL_TUNE_MAX_PARAMS];
} tune_config;

/* The defaults' values on this context's device; then where the cache holds a kernel set for a
 * family, its values for the parameters keep(id) accepts (keep NULL: all of them). */
void tune_config_from_cache(const tune_run *t, tune_config *c, int (*keep)(fcl_tune_id id));

/* One move from the current values: up to 3 parameters set together. */
typedef struct tune_move {
    int n;
    fcl_tune_id id[3];
    int value[3];
} tune_move;

#define TUNE_MAX_SEGS 64

/* A stage's search. The caller fills it; tune_search_run applies `start`, takes checked's outputs
 * as the reference, then per family (in `families` order) tries each of moves()'s candidates:
 * checked first (each part's largest difference <= 2e-3 of its largest value in the reference,
 * else rejected), then timed
 * (t->reps, the median), kept when more than 3% faster. The winner is timed again against the
 * start, alternating, and kept only if still faster. Each family's choice goes into the cache as
 * soon as it is made (resumable); candidates stop starting after `deadline`. */
typedef struct tune_search {
    tune_run *t;
    const char *stage;        /* "kernels", "heads": the progress lines' tag */
    char task[128];           /* the measurements' task in the cache */
    void *u;
    /* one run from the same start: its outputs one after the other in out, in *n_seg parts of
     * seg[i] floats each (at most TUNE_MAX_SEGS), each compared on its own scale */
    fcl_status (*checked)(void *u, float *out, size_t *seg, int *n_seg);
    tune_fn run;              /* one timed run */
    size_t n_out;             /* most floats checked writes */
    const fcl_tune_family *families;
    int n_families;
    int (*moves)(fcl_tune_family f, const int *cur, tune_move *out, int max);
    double deadline;          /* tool_now_s() value */
} tune_search;
/* 0: done (or out of time; *best_ms / *start_ms the chosen and the start's times), -1: an
 * error was printed. The chosen values are applied to t->ctx on return. */
int tune_search_run(tune_search *s, const tune_config *start, double *best_ms, double *start_ms);

/* ---- the stages using it -------------------------------------------------------------------- */

typedef struct tune_kernel_opts {
    const fcl_model *model;
    int batch;
    double deadline;          /* the stage's share of the budget (tool_now_s() value) */
} tune_kernel_opts;
int tune_kernels(tune_run *t, const tune_kernel_opts *o);

/* The margin heads' stage: an ArcFace training step's head (forward with the weights' norms and
 * the softmax's statistics kept, backward overwriting dW) from `dim` to each of the classes at
 * `batch`; it owns the parameters only heads and linear classifiers run (tune_heads_owns). */
typedef struct tune_head_opts {
    int dim;
    const int *classes;
    int n_classes;
    int batch;
} tune_head_opts;
int tune_heads(tune_run *t, const tune_head_opts *o);
/* 1 for the parameters the head stage searches (the kernel stage leaves them as they are). */
int tune_heads_owns(fcl_tune_id id);

#endif
