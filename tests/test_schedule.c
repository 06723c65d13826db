/* tests/test_schedule.c: LR schedules against torch.optim.lr_scheduler values (fixture), exact resume, units, errors, apply. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <facecl/facecl.h>
#include <facecl/schedule.h>
#include "helpers/each_name.h"
#include "helpers/harness.h"

#include "optim_fixture.h"

/* Closed forms (ours) and torch's chained recurrences differ by rounding only. */
#define SCHED_TOL 1e-10

/* Record "sched.<name>.<field>" with its length. */
static const double *rec(const fx_file *fx, const char *name, const char *field, size_t *n)
{
    char key[96];
    snprintf(key, sizeof key, "sched.%s.%s", name, field);
    for (size_t i = 0; i < fx->n; i++)
        if (!strcmp(fx->r[i].name, key)) {
            if (n) *n = fx->r[i].n;
            return fx->r[i].v;
        }
    cr_assert_fail("fixture record %s missing", key);
    return NULL;
}

/* A config (and the number of steps and base lrs) from a fixture cfg record. */
static fcl_sched_config config_of(const char *name, const double *c, size_t nc, int *steps,
                                  double base[2])
{
    fcl_sched_config k;
    base[0] = c[0];
    base[1] = c[1];
    if (!strcmp(name, "step")) {
        k = fcl_sched_defaults(FCL_SCHED_STEP);
        k.step_size = (int64_t)c[2];
        k.gamma = c[3];
        *steps = (int)c[4];
    } else if (!strcmp(name, "multistep")) {
        k = fcl_sched_defaults(FCL_SCHED_MULTISTEP);
        k.gamma = c[2];
        *steps = (int)c[3];
        for (size_t i = 4; i < nc; i++) k.milestones[k.n_milestones++] = (int64_t)c[i];
    } else if (!strncmp(name, "cosine", 6)) {
        k = fcl_sched_defaults(FCL_SCHED_WARMUP_COSINE);
        k.unit = FCL_SCHED_PER_ITER;
        k.warmup_steps = (int64_t)c[2];
        k.warmup_start_factor = c[3];
        k.total_steps = (int64_t)c[4];
        k.eta_min = c[5];
        *steps = (int)c[6];
    } else if (!strncmp(name, "onecycle", 8)) {
        k = fcl_sched_defaults(FCL_SCHED_ONECYCLE);
        k.total_steps = (int64_t)c[2];
        k.pct_start = c[3];
        k.div_factor = c[4];
        k.final_div_factor = c[5];
        k.three_phase = c[6] != 0.0;
        k.anneal_linear = c[7] != 0.0;
        k.base_momentum = c[8];
        k.max_momentum = c[9];
        *steps = (int)c[2];
    } else {
        k = fcl_sched_defaults(FCL_SCHED_PLATEAU);
        k.mode_max = c[2] != 0.0;
        k.factor = c[3];
        k.patience = (int64_t)c[4];
        k.threshold = c[5];
        k.threshold_abs = c[6] != 0.0;
        k.cooldown = (int64_t)c[7];
        k.min_lr = c[8];
        k.eps = c[9];
        *steps = (int)c[10];
    }
    return k;
}

static double rel_err(double got, double want)
{
    double d = fabs(got - want), m = fabs(want);
    return m > 0 ? d / m : d;
}

/* Runs schedule `name` for its steps, comparing lr (and momentum) of both groups with torch
 * after construction and after every step. Returns the max relative error. */
static double check_sched(const char *name)
{
    fx_file fx = fx_load();
    size_t nc, nlr, nm = 0;
    const double *c = rec(&fx, name, "cfg", &nc);
    int steps;
    double base[2];
    fcl_sched_config k = config_of(name, c, nc, &steps, base);
    const double *lr = rec(&fx, name, "lr", &nlr);
    cr_assert_eq(nlr, 2 * (size_t)(steps + 1));
    const double *mom = k.kind == FCL_SCHED_ONECYCLE ? rec(&fx, name, "mom", &nm) : NULL;
    const double *metrics = k.kind == FCL_SCHED_PLATEAU ? rec(&fx, name, "metrics", NULL) : NULL;

    fcl_error err;
    fcl_error_clear(&err);
    fcl_sched *s = NULL;
    cr_assert_eq(fcl_sched_create(&s, &k, base, 2, &err), FCL_OK, "%s: %s", name, err.msg);
    double worst = 0, worst_m = 0;
    int at = 0;
    for (int t = 0; t <= steps; t++) {
        if (t > 0) {
            fcl_status st = k.unit == FCL_SCHED_PER_ITER ? fcl_sched_on_iter(s, &err)
                                                          : fcl_sched_on_epoch(s, metrics ? metrics[t - 1] : 0.0, &err);
            cr_assert_eq(st, FCL_OK, "%s step %d: %s", name, t, err.msg);
        }
        cr_expect_eq(fcl_sched_last_epoch(s), t);
        for (int g = 0; g < 2; g++) {
            double e = rel_err(fcl_sched_lr(s, (size_t)g), lr[2 * t + g]);
            if (e > worst) {
                worst = e;
                at = t;
            }
            cr_expect(e <= SCHED_TOL, "%s step %d group %d: lr %.17g, torch %.17g", name, t, g,
                      fcl_sched_lr(s, (size_t)g), lr[2 * t + g]);
            if (mom) {
                double em = rel_err(fcl_sched_momentum(s, (size_t)g), mom[2 * t + g]);
                if (em > worst_m) worst_m = em;
                cr_expect(em <= SCHED_TOL, "%s step %d group %d: momentum %.17g, torch %.17g", name, t,
                          g, fcl_sched_momentum(s, (size_t)g), mom[2 * t + g]);
            }
        }
    }
    printf("  %-14s %3d steps: max rel err vs torch: lr %.2e (step %d)%s", name, steps, worst, at,
           mom ? "" : "\n");
    if (mom) printf(", momentum %.2e\n", worst_m);
    fflush(stdout);
    h_case("schedule %s vs torch, %d steps", name, steps);
    if (k.kind == FCL_SCHED_ONECYCLE) {
        /* torch raises when stepped past total_steps */
        cr_expect_eq(fcl_sched_step(s, 0.0, &err), FCL_ERR_INVALID_ARG);
        cr_expect(strstr(err.msg, "total_steps") != NULL, "%s", err.msg);
    }
    fcl_sched_destroy(s);
    fx_free(&fx);
    return worst;
}

/* Every schedule of the fixture, each its own test process. */
FCL_TEST_EACH_NAME(schedule, fixture_schedules, check_sched, {"step"}, {"multistep"}, {"cosine_warmup"},
                   {"cosine"}, {"onecycle"}, {"onecycle3"}, {"onecycle_lin"}, {"plateau"}, {"plateau_max"});

/* Saving the state halfway and restoring it into a fresh schedule continues bit-identically. */
Test(schedule, resume_is_exact)
{
    static const char *names[] = {"step", "multistep", "cosine_warmup", "onecycle3", "plateau",
                                  "plateau_max"};
    fx_file fx = fx_load();
    fcl_error err;
    fcl_error_clear(&err);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t nc;
        const double *c = rec(&fx, names[i], "cfg", &nc);
        int steps;
        double base[2];
        fcl_sched_config k = config_of(names[i], c, nc, &steps, base);
        const double *metrics = k.kind == FCL_SCHED_PLATEAU ? rec(&fx, names[i], "metrics", NULL) : NULL;
        fcl_sched *a = NULL, *b = NULL;
        cr_assert_eq(fcl_sched_create(&a, &k, base, 2, &err), FCL_OK, "%s", err.msg);
        cr_assert_eq(fcl_sched_create(&b, &k, base, 2, &err), FCL_OK, "%s", err.msg);
        for (int t = 1; t <= steps; t++) {
            double m = metrics ? metrics[t - 1] : 0.0;
            cr_assert_eq(fcl_sched_step(a, m, &err), FCL_OK, "%s", err.msg);
            cr_assert_eq(fcl_sched_step(b, m, &err), FCL_OK, "%s", err.msg);
            if (t == steps / 2) {
                double st[64];
                size_t n = fcl_sched_state_size(b);
                cr_assert(n <= 64);
                fcl_sched_get_state(b, st);
                fcl_sched_destroy(b);
                cr_assert_eq(fcl_sched_create(&b, &k, base, 2, &err), FCL_OK, "%s", err.msg);
                cr_assert_eq(fcl_sched_set_state(b, st, n, &err), FCL_OK, "%s", err.msg);
            }
            for (size_t g = 0; g < 2; g++) {
                cr_expect_eq(fcl_sched_lr(a, g), fcl_sched_lr(b, g), "%s step %d: resumed lr differs",
                             names[i], t);
                if (fcl_sched_sets_momentum(a))
                    cr_expect_eq(fcl_sched_momentum(a, g), fcl_sched_momentum(b, g));
            }
        }
        h_case("schedule %s resume at step %d of %d", names[i], steps / 2, steps);
        fcl_sched_destroy(a);
        fcl_sched_destroy(b);
    }
    fx_free(&fx);
}

Test(schedule, units)
{
    fcl_error err;
    fcl_error_clear(&err);
    double base = 0.1;
    fcl_sched_config k = fcl_sched_defaults(FCL_SCHED_STEP);
    k.step_size = 1;
    k.gamma = 0.5;
    fcl_sched *s = NULL;
    cr_assert_eq(fcl_sched_create(&s, &k, &base, 1, &err), FCL_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++) cr_assert_eq(fcl_sched_on_iter(s, &err), FCL_OK);
    cr_expect_eq(fcl_sched_lr(s, 0), 0.1, "a per-epoch schedule must ignore iterations");
    cr_assert_eq(fcl_sched_on_epoch(s, 0.0, &err), FCL_OK);
    cr_expect_eq(fcl_sched_lr(s, 0), 0.05);
    fcl_sched_destroy(s);

    k = fcl_sched_defaults(FCL_SCHED_ONECYCLE);
    k.total_steps = 10;
    cr_assert_eq(fcl_sched_create(&s, &k, &base, 1, &err), FCL_OK, "%s", err.msg);
    double lr0 = fcl_sched_lr(s, 0);
    cr_expect(fabs(lr0 - 0.1 / 25) < 1e-15, "one-cycle starts at max_lr / div_factor: %g", lr0);
    cr_assert_eq(fcl_sched_on_epoch(s, 1.0, &err), FCL_OK);
    cr_expect_eq(fcl_sched_lr(s, 0), lr0, "one-cycle must ignore epochs");
    cr_assert_eq(fcl_sched_on_iter(s, &err), FCL_OK);
    cr_expect_neq(fcl_sched_lr(s, 0), lr0);
    fcl_sched_destroy(s);
}

static void expect_bad(fcl_sched_config k, const char *needle)
{
    fcl_error err;
    fcl_error_clear(&err);
    double base[2] = {0.1, 0.01};
    fcl_sched *s = (fcl_sched *)&err;   /* must be reset to NULL */
    cr_expect_eq(fcl_sched_create(&s, &k, base, 2, &err), FCL_ERR_INVALID_ARG, "kind %d: no error",
                 (int)k.kind);
    cr_expect_null(s);
    cr_expect(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
    printf("  error as expected: %s\n", err.msg);
}

Test(schedule, bad_configs)
{
    fcl_sched_config k = fcl_sched_defaults(FCL_SCHED_STEP);
    expect_bad(k, "step_size");
    k = fcl_sched_defaults(FCL_SCHED_WARMUP_COSINE);
    k.warmup_steps = 10;
    k.total_steps = 10;
    expect_bad(k, "warmup_steps");
    k = fcl_sched_defaults(FCL_SCHED_ONECYCLE);
    k.total_steps = 10;
    k.pct_start = 0.1;   /* first phase ends at step 0: torch would divide by zero */
    expect_bad(k, "phase 1 is empty");
    k.pct_start = 1.5;
    expect_bad(k, "pct_start");
    k = fcl_sched_defaults(FCL_SCHED_ONECYCLE);
    k.total_steps = 10;
    k.unit = FCL_SCHED_PER_EPOCH;
    expect_bad(k, "per iteration");
    k = fcl_sched_defaults(FCL_SCHED_PLATEAU);
    k.factor = 1.0;
    expect_bad(k, "factor");
    k = fcl_sched_defaults(FCL_SCHED_MULTISTEP);
    k.n_milestones = 1;
    k.milestones[0] = -3;
    expect_bad(k, "milestone");

    /* a state vector of another kind is refused */
    fcl_error err;
    fcl_error_clear(&err);
    double base = 0.1, st[16];
    fcl_sched *a = NULL, *b = NULL;
    k = fcl_sched_defaults(FCL_SCHED_STEP);
    k.step_size = 2;
    cr_assert_eq(fcl_sched_create(&a, &k, &base, 1, &err), FCL_OK);
    k = fcl_sched_defaults(FCL_SCHED_PLATEAU);
    cr_assert_eq(fcl_sched_create(&b, &k, &base, 1, &err), FCL_OK);
    fcl_sched_get_state(a, st);
    cr_expect_eq(fcl_sched_set_state(b, st, fcl_sched_state_size(a), &err), FCL_ERR_FORMAT);
    printf("  error as expected: %s\n", err.msg);
    fcl_sched_destroy(a);
    fcl_sched_destroy(b);
}

/* fcl_sched_apply copies lrs (and one-cycle momentum) into optimizer groups. */
Test(schedule, apply_to_optimizer)
{
    fcl_ctx *ctx = h_ctx();
    fcl_error err;
    fcl_error_clear(&err);
    fcl_param_range r[2] = {{0, 10}, {10, 5}};
    double base[2] = {0.1, 0.02};
    fcl_sched_config k = fcl_sched_defaults(FCL_SCHED_ONECYCLE);
    k.total_steps = 20;
    fcl_sched *s = NULL;
    cr_assert_eq(fcl_sched_create(&s, &k, base, 2, &err), FCL_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++) cr_assert_eq(fcl_sched_on_iter(s, &err), FCL_OK);
    for (int kind = 0; kind < 2; kind++) {
        fcl_param_group g[2];
        for (int j = 0; j < 2; j++) {
            g[j].hp = kind == 0 ? fcl_sgd_defaults(base[j]) : fcl_adamw_defaults(base[j]);
            g[j].hp.momentum = kind == 0 ? 0.9 : 0.0;
            g[j].ranges = &r[j];
            g[j].n_ranges = 1;
        }
        fcl_optim *o = NULL;
        H_OK(ctx, fcl_optim_create(ctx, &o, kind == 0 ? FCL_OPTIM_SGD : FCL_OPTIM_ADAMW, 15, g, 2));
        H_OK(ctx, fcl_sched_apply(ctx, s, o));
        for (size_t j = 0; j < 2; j++) {
            cr_expect_eq(fcl_optim_lr(o, j), fcl_sched_lr(s, j));
            const fcl_optim_hparams *h = fcl_optim_hparams_of(o, j);
            cr_expect_eq(kind == 0 ? h->momentum : h->beta1, fcl_sched_momentum(s, j));
        }
        fcl_optim_destroy(ctx, o);
    }
    /* SGD without momentum cannot take cycled momentum */
    fcl_param_group g1 = {fcl_sgd_defaults(0.1), r, 1};
    fcl_optim *o = NULL;
    H_OK(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 15, &g1, 1));
    cr_expect_eq(fcl_sched_apply(ctx, s, o), FCL_ERR_SHAPE, "group counts differ");
    fcl_optim_destroy(ctx, o);
    fcl_param_group g2[2] = {{fcl_sgd_defaults(0.1), &r[0], 1}, {fcl_sgd_defaults(0.1), &r[1], 1}};
    H_OK(ctx, fcl_optim_create(ctx, &o, FCL_OPTIM_SGD, 15, g2, 2));
    cr_expect_eq(fcl_sched_apply(ctx, s, o), FCL_ERR_INVALID_ARG);
    cr_expect(strstr(fcl_ctx_errmsg(ctx), "without momentum") != NULL, "%s", fcl_ctx_errmsg(ctx));
    fcl_optim_destroy(ctx, o);
    fcl_sched_destroy(s);
    h_case("schedule apply (SGD momentum, AdamW beta1)");
    h_ctx_free(ctx);
}
