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

typedef struct tune_kernel_opts {
    const fcl_model *model;
    int batch;
} tune_kernel_opts;
int tune_kernels(tune_run *t, const tune_kernel_opts *o);

#endif
