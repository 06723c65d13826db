/* facecl/schedule.h: learning-rate schedules with torch semantics (step, multi-step, warmup+cosine, one-cycle, reduce-on-plateau). */
#ifndef FACECL_SCHEDULE_H
#define FACECL_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A schedule holds one learning rate per parameter group (and, for one-cycle with momentum
 * cycling, one momentum), computed host-side in double exactly as torch.optim.lr_scheduler does.
 * Like torch, creating a schedule performs its initial step (last_epoch = 0), and each
 * fcl_sched_step advances last_epoch by one. Which training event advances it is the schedule's
 * `unit`: fcl_sched_on_iter after every optimizer step, fcl_sched_on_epoch after every epoch
 * (with the validation metric); each advances only a schedule of its unit. The engine then
 * copies the values into the optimizer with fcl_sched_apply. */

typedef enum fcl_sched_kind {
    FCL_SCHED_CONSTANT = 0,    /* the base learning rates, unchanged */
    FCL_SCHED_STEP,            /* StepLR(step_size, gamma) */
    FCL_SCHED_MULTISTEP,       /* MultiStepLR(milestones, gamma); repeated milestones multiply */
    FCL_SCHED_WARMUP_COSINE,   /* SequentialLR([LinearLR(start_factor, total_iters=warmup),
                                  CosineAnnealingLR(T_max=total-warmup, eta_min)], [warmup]) */
    FCL_SCHED_ONECYCLE,        /* OneCycleLR(max_lr = the base lrs, total_steps, ...) */
    FCL_SCHED_PLATEAU          /* ReduceLROnPlateau(mode, factor, patience, threshold, ...) */
} fcl_sched_kind;

typedef enum fcl_sched_unit {
    FCL_SCHED_PER_EPOCH = 0,
    FCL_SCHED_PER_ITER = 1
} fcl_sched_unit;

#define FCL_SCHED_MAX_MILESTONES 64

typedef struct fcl_sched_config {
    fcl_sched_kind kind;
    /* What advances the schedule. One-cycle must be PER_ITER and plateau PER_EPOCH (as torch
     * uses them); the others may be either (their step counts are then in that unit). */
    fcl_sched_unit unit;
    double gamma;                     /* STEP, MULTISTEP: factor per decay */
    int64_t step_size;                /* STEP: decay every step_size steps (> 0) */
    int64_t milestones[FCL_SCHED_MAX_MILESTONES];  /* MULTISTEP: steps at which to decay */
    int n_milestones;
    int64_t warmup_steps;             /* WARMUP_COSINE: linear warmup length (0: none) */
    double warmup_start_factor;       /* WARMUP_COSINE: lr factor at step 0 (in (0, 1]) */
    int64_t total_steps;              /* WARMUP_COSINE (> warmup_steps), ONECYCLE (> 0) */
    double eta_min;                   /* WARMUP_COSINE: floor of the cosine */
    double pct_start;                 /* ONECYCLE: fraction of steps increasing the lr */
    double div_factor;                /* ONECYCLE: initial_lr = max_lr / div_factor */
    double final_div_factor;          /* ONECYCLE: min_lr = initial_lr / final_div_factor */
    int three_phase;                  /* ONECYCLE: torch's three_phase */
    int anneal_linear;                /* ONECYCLE: anneal_strategy 'linear' instead of 'cos' */
    int cycle_momentum;               /* ONECYCLE: cycle SGD momentum / AdamW beta1 inversely */
    double base_momentum, max_momentum;   /* ONECYCLE with cycle_momentum */
    int mode_max;                     /* PLATEAU: 1 for mode 'max' (higher metric is better) */
    double factor;                    /* PLATEAU: new_lr = lr * factor (< 1) */
    int64_t patience;                 /* PLATEAU: bad epochs tolerated before reducing */
    double threshold;                 /* PLATEAU: significance of an improvement */
    int threshold_abs;                /* PLATEAU: threshold_mode 'abs' instead of 'rel' */
    int64_t cooldown;                 /* PLATEAU: epochs to wait after a reduction */
    double min_lr;                    /* PLATEAU: lower bound of every group's lr */
    double eps;                       /* PLATEAU: smaller changes than eps are skipped */
} fcl_sched_config;

/* torch's defaults for `kind` (StepLR gamma 0.1; MultiStepLR gamma 0.1; LinearLR start_factor
 * 1/3; OneCycleLR pct_start 0.3, div 25, final_div 1e4, cos, momentum 0.85..0.95 cycled;
 * ReduceLROnPlateau min, 0.1, 10, 1e-4 rel, cooldown 0, min_lr 0, eps 1e-8) with the unit torch
 * steps it by (one-cycle per iteration, the rest per epoch). Sizes (step_size, milestones,
 * warmup_steps, total_steps) have no default and stay 0. */
fcl_sched_config fcl_sched_defaults(fcl_sched_kind kind);

typedef struct fcl_sched fcl_sched;

/* A schedule over n_groups parameter groups whose base learning rates (torch's initial_lr;
 * for one-cycle: max_lr) are base_lrs[0..n_groups). Validates the config with torch's rules. */
fcl_status fcl_sched_create(fcl_sched **out, const fcl_sched_config *cfg, const double *base_lrs,
                            size_t n_groups, fcl_error *err);
void fcl_sched_destroy(fcl_sched *s);

const fcl_sched_config *fcl_sched_config_of(const fcl_sched *s);
size_t fcl_sched_group_count(const fcl_sched *s);
/* torch's last_epoch: the number of steps taken since creation. */
int64_t fcl_sched_last_epoch(const fcl_sched *s);
/* The current learning rate of group g (torch's get_last_lr()[g]); NaN for a bad g. */
double fcl_sched_lr(const fcl_sched *s, size_t g);
/* 1 when the schedule also sets momentum (one-cycle with cycle_momentum), and its value. */
int fcl_sched_sets_momentum(const fcl_sched *s);
double fcl_sched_momentum(const fcl_sched *s, size_t g);

/* One step (last_epoch + 1). `metric` is ReduceLROnPlateau's argument (ignored by the others;
 * NaN counts as no improvement). One-cycle refuses to step past total_steps, like torch. */
fcl_status fcl_sched_step(fcl_sched *s, double metric, fcl_error *err);
/* Steps when the unit is PER_ITER (call after every optimizer step), else does nothing. */
fcl_status fcl_sched_on_iter(fcl_sched *s, fcl_error *err);
/* Steps when the unit is PER_EPOCH (call after every epoch), else does nothing. */
fcl_status fcl_sched_on_epoch(fcl_sched *s, double metric, fcl_error *err);

/* Copies the current learning rates into the optimizer's groups (counts must agree) and, when
 * the schedule cycles momentum, SGD's momentum or AdamW's beta1 (as torch's OneCycleLR). */
fcl_status fcl_sched_apply(fcl_ctx *ctx, const fcl_sched *s, fcl_optim *o);

/* ---- state, for exact resume --------------------------------------------------------------
 * The mutable state as doubles (integers up to 2^53 are exact): a tag of the kind, the group
 * count, last_epoch, the plateau counters and best value, and per group the base, current lr
 * and momentum. The config is not included: resume with the same config. */
size_t fcl_sched_state_size(const fcl_sched *s);
void fcl_sched_get_state(const fcl_sched *s, double *out);
/* Restores a state from fcl_sched_get_state of a schedule of the same kind and group count. */
fcl_status fcl_sched_set_state(fcl_sched *s, const double *in, size_t n, fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
