/* host/nn/schedule.c: learning-rate schedules computed on the host exactly as torch.optim.lr_scheduler does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/context.h"
#include "facecl/schedule.h"
#include "runtime/free_list.h"

/* Where the chainable torch schedulers (StepLR, MultiStepLR, ReduceLROnPlateau) update the
 * previous lr, so do we (state keeps the current lr); the others use torch's closed forms. */

struct fcl_sched {
    fcl_sched_config cfg;
    size_t n;               /* groups */
    double *base;           /* [n] initial_lr (one-cycle: max_lr) */
    double *lr;             /* [n] current */
    double *mom;            /* [n] current momentum (one-cycle with cycle_momentum) */
    int64_t last_epoch;
    /* ReduceLROnPlateau */
    double best;
    int64_t num_bad_epochs;
    int64_t cooldown_counter;
};

#define STATE_TAG 7100.0   /* + kind: state vectors of another kind are refused */
#define STATE_FIXED 6      /* tag, groups, last_epoch, best, num_bad_epochs, cooldown_counter */

fcl_sched_config fcl_sched_defaults(fcl_sched_kind kind)
{
    fcl_sched_config c = {0};
    c.kind = kind;
    c.unit = kind == FCL_SCHED_ONECYCLE ? FCL_SCHED_PER_ITER : FCL_SCHED_PER_EPOCH;
    c.gamma = 0.1;
    c.warmup_start_factor = 1.0 / 3.0;
    c.pct_start = 0.3;
    c.div_factor = 25.0;
    c.final_div_factor = 1e4;
    c.cycle_momentum = kind == FCL_SCHED_ONECYCLE;
    c.base_momentum = 0.85;
    c.max_momentum = 0.95;
    c.factor = 0.1;
    c.patience = 10;
    c.threshold = 1e-4;
    c.eps = 1e-8;
    return c;
}

/* ---- one-cycle phases (torch OneCycleLR._schedule_phases) ----------------------------------- */

/* Values a phase anneals between: indices into a group's {initial_lr, max_lr, min_lr} and
 * {base_momentum, max_momentum}. */
enum { LR_INITIAL = 0, LR_MAX = 1, LR_MIN = 2 };
enum { MOM_BASE = 0, MOM_MAX = 1 };

typedef struct phase {
    double end_step;
    int lr0, lr1;
    int m0, m1;
} phase;

static int onecycle_phases(const fcl_sched_config *c, phase *ph)
{
    double total = (double)c->total_steps;
    if (c->three_phase) {
        ph[0] = (phase){c->pct_start * total - 1.0, LR_INITIAL, LR_MAX, MOM_MAX, MOM_BASE};
        ph[1] = (phase){2.0 * c->pct_start * total - 2.0, LR_MAX, LR_INITIAL, MOM_BASE, MOM_MAX};
        ph[2] = (phase){total - 1.0, LR_INITIAL, LR_MIN, MOM_MAX, MOM_MAX};
        return 3;
    }
    ph[0] = (phase){c->pct_start * total - 1.0, LR_INITIAL, LR_MAX, MOM_MAX, MOM_BASE};
    ph[1] = (phase){total - 1.0, LR_MAX, LR_MIN, MOM_BASE, MOM_MAX};
    return 2;
}

static double anneal(const fcl_sched_config *c, double start, double end, double pct)
{
    if (c->anneal_linear) return (end - start) * pct + start;
    double cos_out = cos(M_PI * pct) + 1.0;
    return end + (start - end) / 2.0 * cos_out;
}

/* lr (and momentum) of every group at step `e` (torch OneCycleLR.get_lr). */
static void onecycle_at(fcl_sched *s, int64_t e)
{
    const fcl_sched_config *c = &s->cfg;
    phase ph[3];
    int np = onecycle_phases(c, ph);
    double start_step = 0.0, step = (double)e;
    double mom[2] = {c->base_momentum, c->max_momentum};
    for (int i = 0; i < np; i++) {
        double end_step = ph[i].end_step;
        if (step <= end_step || i == np - 1) {
            double pct = (step - start_step) / (end_step - start_step);
            for (size_t g = 0; g < s->n; g++) {
                double initial = s->base[g] / c->div_factor;   /* torch's group['initial_lr'] */
                double v[3] = {initial, s->base[g], initial / c->final_div_factor};
                s->lr[g] = anneal(c, v[ph[i].lr0], v[ph[i].lr1], pct);
                if (c->cycle_momentum) s->mom[g] = anneal(c, mom[ph[i].m0], mom[ph[i].m1], pct);
            }
            return;
        }
        start_step = end_step;
    }
}

/* ---- validation --------------------------------------------------------------------------- */

static int fin(double x) { return isfinite(x); }

static fcl_status check_config(const fcl_sched_config *c, const double *base, size_t n,
                               fcl_error *err)
{
    const char *op = "fcl_sched_create";
    if (n == 0 || !base)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: need at least one group's base lr", op);
    for (size_t g = 0; g < n; g++)
        if (!fin(base[g]) || base[g] < 0.0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: group %zu: invalid base lr %g", op, g, base[g]);
    if (c->unit != FCL_SCHED_PER_EPOCH && c->unit != FCL_SCHED_PER_ITER)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: unknown unit %d", op, (int)c->unit);
    switch (c->kind) {
    case FCL_SCHED_CONSTANT:
        return FCL_OK;
    case FCL_SCHED_STEP:
        if (c->step_size <= 0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: step schedule needs step_size > 0 (got %lld)",
                           op, (long long)c->step_size);
        if (!fin(c->gamma) || c->gamma < 0.0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: invalid gamma %g", op, c->gamma);
        return FCL_OK;
    case FCL_SCHED_MULTISTEP:
        if (c->n_milestones < 0 || c->n_milestones > FCL_SCHED_MAX_MILESTONES)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %d milestones (0..%d allowed)", op,
                           c->n_milestones, FCL_SCHED_MAX_MILESTONES);
        for (int i = 0; i < c->n_milestones; i++)
            if (c->milestones[i] < 0)
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: milestone %d is negative (%lld)", op, i,
                               (long long)c->milestones[i]);
        if (!fin(c->gamma) || c->gamma < 0.0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: invalid gamma %g", op, c->gamma);
        return FCL_OK;
    case FCL_SCHED_WARMUP_COSINE:
        if (c->warmup_steps < 0 || c->total_steps <= c->warmup_steps)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: warmup-cosine needs 0 <= warmup_steps (%lld) "
                           "< total_steps (%lld)", op, (long long)c->warmup_steps,
                           (long long)c->total_steps);
        if (c->warmup_steps > 0 && !(c->warmup_start_factor > 0.0 && c->warmup_start_factor <= 1.0))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: warmup_start_factor %g must be in (0, 1]",
                           op, c->warmup_start_factor);
        if (!fin(c->eta_min) || c->eta_min < 0.0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: invalid eta_min %g", op, c->eta_min);
        return FCL_OK;
    case FCL_SCHED_ONECYCLE: {
        if (c->unit != FCL_SCHED_PER_ITER)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: one-cycle is stepped per iteration (unit "
                           "FCL_SCHED_PER_ITER)", op);
        if (c->total_steps <= 0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: one-cycle needs total_steps > 0 (got %lld)",
                           op, (long long)c->total_steps);
        if (!(c->pct_start >= 0.0 && c->pct_start <= 1.0))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: pct_start %g must be in [0, 1]", op,
                           c->pct_start);
        if (!(fin(c->div_factor) && c->div_factor > 0.0 && fin(c->final_div_factor) &&
              c->final_div_factor > 0.0))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: div_factor %g and final_div_factor %g must "
                           "be > 0", op, c->div_factor, c->final_div_factor);
        if (c->cycle_momentum && !(fin(c->base_momentum) && fin(c->max_momentum)))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: invalid momentum range %g..%g", op,
                           c->base_momentum, c->max_momentum);
        phase ph[3];
        int np = onecycle_phases(c, ph);
        double start = 0.0;
        for (int i = 0; i < np; i++) {
            /* torch divides by (end_step - start_step): a zero-length phase would divide by 0 */
            if (!(ph[i].end_step > start))
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: one-cycle phase %d is empty (ends at "
                               "step %g, starts at %g): raise total_steps (%lld) or change "
                               "pct_start (%g)", op, i + 1, ph[i].end_step, start,
                               (long long)c->total_steps, c->pct_start);
            start = ph[i].end_step;
        }
        return FCL_OK;
    }
    case FCL_SCHED_PLATEAU:
        if (c->unit != FCL_SCHED_PER_EPOCH)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: reduce-on-plateau is stepped per epoch with "
                           "a metric (unit FCL_SCHED_PER_EPOCH)", op);
        if (!(c->factor >= 0.0 && c->factor < 1.0))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: factor %g should be < 1.0 (and >= 0)", op,
                           c->factor);
        if (c->patience < 0 || c->cooldown < 0)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: patience %lld and cooldown %lld must be >= 0",
                           op, (long long)c->patience, (long long)c->cooldown);
        if (!fin(c->threshold) || !fin(c->min_lr) || c->min_lr < 0.0 || !fin(c->eps))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: invalid threshold %g, min_lr %g or eps %g",
                           op, c->threshold, c->min_lr, c->eps);
        return FCL_OK;
    }
    return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: unknown schedule kind %d", op, (int)c->kind);
}

/* ---- stepping ------------------------------------------------------------------------------- */

/* The lrs at last_epoch (already advanced); chainable kinds update the previous values. */
static void compute(fcl_sched *s)
{
    const fcl_sched_config *c = &s->cfg;
    int64_t e = s->last_epoch;
    switch (c->kind) {
    case FCL_SCHED_CONSTANT:
    case FCL_SCHED_PLATEAU:
        break;
    case FCL_SCHED_STEP:
        /* StepLR.get_lr: unchanged unless e is a positive multiple of step_size */
        if (e != 0 && e % c->step_size == 0)
            for (size_t g = 0; g < s->n; g++) s->lr[g] *= c->gamma;
        break;
    case FCL_SCHED_MULTISTEP: {
        /* MultiStepLR.get_lr: lr * gamma ** (times e appears among the milestones) */
        int count = 0;
        for (int i = 0; i < c->n_milestones; i++) count += c->milestones[i] == e;
        if (count)
            for (size_t g = 0; g < s->n; g++) s->lr[g] *= pow(c->gamma, (double)count);
        break;
    }
    case FCL_SCHED_WARMUP_COSINE:
        for (size_t g = 0; g < s->n; g++) {
            if (e < c->warmup_steps) {
                /* LinearLR closed form with end_factor 1 */
                double f = c->warmup_start_factor +
                           (1.0 - c->warmup_start_factor) * (double)e / (double)c->warmup_steps;
                s->lr[g] = s->base[g] * f;
            } else {
                /* CosineAnnealingLR closed form, restarted at the warmup milestone */
                double t = (double)(e - c->warmup_steps);
                double tmax = (double)(c->total_steps - c->warmup_steps);
                s->lr[g] = c->eta_min + (s->base[g] - c->eta_min) * (1.0 + cos(M_PI * t / tmax)) / 2.0;
            }
        }
        break;
    case FCL_SCHED_ONECYCLE:
        onecycle_at(s, e);
        break;
    }
}

/* ReduceLROnPlateau.is_better */
static int plateau_better(const fcl_sched_config *c, double a, double best)
{
    if (!c->mode_max)
        return c->threshold_abs ? a < best - c->threshold : a < best * (1.0 - c->threshold);
    return c->threshold_abs ? a > best + c->threshold : a > best * (c->threshold + 1.0);
}

/* ReduceLROnPlateau.step(metrics) after last_epoch was advanced. */
static void plateau_step(fcl_sched *s, double metric)
{
    const fcl_sched_config *c = &s->cfg;
    if (plateau_better(c, metric, s->best)) {
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0;   /* bad epochs in cooldown do not count */
    }
    if (s->num_bad_epochs > c->patience) {
        for (size_t g = 0; g < s->n; g++) {
            double old_lr = s->lr[g];
            double new_lr = fmax(old_lr * c->factor, c->min_lr);
            if (old_lr - new_lr > c->eps) s->lr[g] = new_lr;
        }
        s->cooldown_counter = c->cooldown;
        s->num_bad_epochs = 0;
    }
}

fcl_status fcl_sched_create(fcl_sched **out, const fcl_sched_config *cfg, const double *base_lrs,
                            size_t n_groups, fcl_error *err)
{
    fcl_status st;
    fcl_sched *s = NULL;
    *out = NULL;
    if (!cfg) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_sched_create: no config");
        goto fail;
    }
    if ((st = check_config(cfg, base_lrs, n_groups, err)))
        goto fail;
    s = calloc(1, sizeof *s);
    if (!s || !(s->base = calloc(n_groups, sizeof(double))) ||
        !(s->lr = calloc(n_groups, sizeof(double))) || !(s->mom = calloc(n_groups, sizeof(double)))) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_sched_create: out of memory");
        goto fail;
    }
    s->cfg = *cfg;
    s->n = n_groups;
    for (size_t g = 0; g < n_groups; g++) {
        s->base[g] = base_lrs[g];
        s->lr[g] = base_lrs[g];
        s->mom[g] = cfg->max_momentum;
    }
    s->best = cfg->mode_max ? -INFINITY : INFINITY;
    /* torch's constructor performs one step to last_epoch 0 (ReduceLROnPlateau just sets it) */
    s->last_epoch = 0;
    compute(s);
    *out = s;
    return FCL_OK;
fail:
    fcl_sched_destroy(s);
    return st;
}

void fcl_sched_destroy(fcl_sched *s)
{
    if (!s) return;
    FCL_FREE_ALL(s->base, s->lr, s->mom, s);
}

const fcl_sched_config *fcl_sched_config_of(const fcl_sched *s) { return &s->cfg; }
size_t fcl_sched_group_count(const fcl_sched *s) { return s->n; }
int64_t fcl_sched_last_epoch(const fcl_sched *s) { return s->last_epoch; }
double fcl_sched_lr(const fcl_sched *s, size_t g) { return g < s->n ? s->lr[g] : NAN; }
int fcl_sched_sets_momentum(const fcl_sched *s)
{
    return s->cfg.kind == FCL_SCHED_ONECYCLE && s->cfg.cycle_momentum;
}
double fcl_sched_momentum(const fcl_sched *s, size_t g)
{
    return g < s->n && fcl_sched_sets_momentum(s) ? s->mom[g] : NAN;
}

fcl_status fcl_sched_step(fcl_sched *s, double metric, fcl_error *err)
{
    if (s->cfg.kind == FCL_SCHED_ONECYCLE && s->last_epoch + 1 > s->cfg.total_steps)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_sched_step: tried to step the one-cycle "
                       "schedule %lld times; its total_steps is %lld", (long long)(s->last_epoch + 1),
                       (long long)s->cfg.total_steps);
    s->last_epoch++;
    if (s->cfg.kind == FCL_SCHED_PLATEAU)
        plateau_step(s, metric);
    else
        compute(s);
    return FCL_OK;
}

fcl_status fcl_sched_on_iter(fcl_sched *s, fcl_error *err)
{
    return s->cfg.unit == FCL_SCHED_PER_ITER ? fcl_sched_step(s, NAN, err) : FCL_OK;
}

fcl_status fcl_sched_on_epoch(fcl_sched *s, double metric, fcl_error *err)
{
    return s->cfg.unit == FCL_SCHED_PER_EPOCH ? fcl_sched_step(s, metric, err) : FCL_OK;
}

fcl_status fcl_sched_apply(fcl_ctx *ctx, const fcl_sched *s, fcl_optim *o)
{
    const char *op = "fcl_sched_apply";
    fcl_error *e = fcl_ctx_error(ctx);
    fcl_status st;
    if (fcl_optim_group_count(o) != s->n)
        return FCL_ERR(e, FCL_ERR_SHAPE, "%s: the schedule has %zu groups, the optimizer %zu", op, s->n,
                       fcl_optim_group_count(o));
    int sets_mom = fcl_sched_sets_momentum(s);
    if (sets_mom && fcl_optim_kind_of(o) == FCL_OPTIM_SGD && fcl_optim_state_count(o) == 0)
        return FCL_ERR(e, FCL_ERR_INVALID_ARG, "%s: one-cycle cycles momentum, but the SGD optimizer "
                       "was created without momentum: give its groups a momentum or turn "
                       "cycle_momentum off", op);
    for (size_t g = 0; g < s->n; g++) {
        if ((st = fcl_optim_set_lr(ctx, o, g, s->lr[g])))
            return st;
        if (sets_mom) {
            fcl_optim_hparams *h = fcl_optim_hparams_of(o, g);
            if (fcl_optim_kind_of(o) == FCL_OPTIM_SGD)
                h->momentum = s->mom[g];
            else
                h->beta1 = s->mom[g];
        }
    }
    return FCL_OK;
}

size_t fcl_sched_state_size(const fcl_sched *s) { return STATE_FIXED + 3 * s->n; }

void fcl_sched_get_state(const fcl_sched *s, double *out)
{
    out[0] = STATE_TAG + (double)s->cfg.kind;
    out[1] = (double)s->n;
    out[2] = (double)s->last_epoch;
    out[3] = s->best;
    out[4] = (double)s->num_bad_epochs;
    out[5] = (double)s->cooldown_counter;
    for (size_t g = 0; g < s->n; g++) {
        out[STATE_FIXED + g] = s->base[g];
        out[STATE_FIXED + s->n + g] = s->lr[g];
        out[STATE_FIXED + 2 * s->n + g] = s->mom[g];
    }
}

/* An integer-valued double in [0, 2^53]. */
static int is_count(double x) { return x >= 0.0 && x <= 9007199254740992.0 && x == floor(x); }

fcl_status fcl_sched_set_state(fcl_sched *s, const double *in, size_t n, fcl_error *err)
{
    const char *op = "fcl_sched_set_state";
    if (n != fcl_sched_state_size(s) || in[0] != STATE_TAG + (double)s->cfg.kind ||
        in[1] != (double)s->n)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: the state (%zu values, tag %g, %g groups) is not of "
                       "this schedule (%zu values, kind %d, %zu groups)", op, n, n ? in[0] : 0.0,
                       n > 1 ? in[1] : 0.0, fcl_sched_state_size(s), (int)s->cfg.kind, s->n);
    if (!is_count(in[2]) || !is_count(in[4]) || !is_count(in[5]) || isnan(in[3]))
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: invalid counters (last_epoch %g, bad epochs %g, "
                       "cooldown %g, best %g)", op, in[2], in[4], in[5], in[3]);
    if (s->cfg.kind == FCL_SCHED_ONECYCLE && in[2] > (double)s->cfg.total_steps)
        return FCL_ERR(err, FCL_ERR_FORMAT, "%s: last_epoch %g is past the one-cycle total_steps %lld",
                       op, in[2], (long long)s->cfg.total_steps);
    for (size_t g = 0; g < 2 * s->n; g++)
        if (!isfinite(in[STATE_FIXED + g]) || in[STATE_FIXED + g] < 0.0)
            return FCL_ERR(err, FCL_ERR_FORMAT, "%s: invalid learning rate %g in the state", op,
                           in[STATE_FIXED + g]);
    s->last_epoch = (int64_t)in[2];
    s->best = in[3];
    s->num_bad_epochs = (int64_t)in[4];
    s->cooldown_counter = (int64_t)in[5];
    for (size_t g = 0; g < s->n; g++) {
        s->base[g] = in[STATE_FIXED + g];
        s->lr[g] = in[STATE_FIXED + s->n + g];
        s->mom[g] = in[STATE_FIXED + 2 * s->n + g];
    }
    return FCL_OK;
}
