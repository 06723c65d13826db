/* tools/tune_search.c: `facecl tune`'s coordinate search over typed parameters, shared by the kernel and head stages: checked candidates, medians, a 3% bar, an alternating confirmation, whole families into the cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "tune.h"

void tune_config_from_cache(const tune_run *t, tune_config *c, int (*keep)(fcl_tune_id id))
{
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        for (int j = 0; j < n; j++) c->v[f][j] = fcl_tuning_default(t->ctx, (fcl_tune_id)(first + j));
    }
    for (size_t i = 0; i < t->cache.n_sets; i++) {
        const fcl_tune_set *set = &t->cache.sets[i];
        int f = set->kind == FCL_TUNE_KERNEL ? fcl_tune_family_find(set->target) : -1;
        if (f < 0) continue;
        fcl_tune_id first;
        fcl_tune_family_params((fcl_tune_family)f, &first);
        for (int j = 0; j < set->n; j++) {
            int id = fcl_tune_param_find((fcl_tune_family)f, set->names[j]);
            if (id >= 0 && (!keep || keep((fcl_tune_id)id))) c->v[f][id - first] = (int)set->values[j];
        }
    }
}

/* The candidate's name: the values that differ from the defaults ("conv.CONV_WT_DX=0,..."). */
static void config_name(const tune_run *t, const tune_config *c, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        for (int j = 0; j < n && used < size; j++)
            if (c->v[f][j] != fcl_tuning_default(t->ctx, (fcl_tune_id)(first + j)))
                used += (size_t)snprintf(buf + used, size - used, "%s%s.%s=%d", used ? "," : "",
                                         fcl_tune_family_name((fcl_tune_family)f),
                                         fcl_tune_param_info((fcl_tune_id)(first + j))->name, c->v[f][j]);
    }
    if (!buf[0]) snprintf(buf, size, "default");
}

static fcl_status config_apply(fcl_ctx *ctx, const tune_config *c)
{
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        fcl_tune_id first;
        int n = fcl_tune_family_params((fcl_tune_family)f, &first);
        fcl_status st = fcl_ctx_tuning_set_family(ctx, (fcl_tune_family)f, c->v[f], n);
        if (st) return st;
    }
    return FCL_OK;
}

/* The cache's kernel sets become c: a family whose values all equal the defaults has none, any
 * other one set with all of its values. Saved; 0 or -1 (printed). */
static int config_put(tune_run *t, const tune_config *c)
{
    for (int f = 0; f < FCL_TF_COUNT; f++) {
        const char *fname = fcl_tune_family_name((fcl_tune_family)f);
        fcl_tune_id first;
        int np = fcl_tune_family_params((fcl_tune_family)f, &first), differs = 0;
        const char *names[FCL_TUNE_MAX_PARAMS];
        long vals[FCL_TUNE_MAX_PARAMS];
        for (int j = 0; j < np; j++) {
            names[j] = fcl_tune_param_info((fcl_tune_id)(first + j))->name;
            vals[j] = c->v[f][j];
            differs |= c->v[f][j] != fcl_tuning_default(t->ctx, (fcl_tune_id)(first + j));
        }
        fcl_tune_cache_drop(&t->cache, FCL_TUNE_KERNEL, fname);
        fcl_error e = {0};
        if (differs && fcl_tune_cache_put(&t->cache, FCL_TUNE_KERNEL, fname, np, names, vals, &e)) {
            fprintf(stderr, "facecl: error: %s\n", e.msg);
            return -1;
        }
    }
    return tune_save(t);
}

/* The search's state between its steps. */
typedef struct search_state {
    tune_search *s;
    float *ref, *got;
    size_t seg[TUNE_MAX_SEGS];
    int n_seg;
} search_state;

/* The largest of the parts' relative errors; +Inf when the parts differ in number or size. */
static double parts_err(const search_state *ss, const size_t *seg, int n_seg)
{
    double worst = 0;
    size_t at = 0;
    if (n_seg != ss->n_seg) return 1e300;
    for (int i = 0; i < n_seg; i++) {
        if (seg[i] != ss->seg[i]) return 1e300;
        double e = tune_rel_err(ss->got + at, ss->ref + at, seg[i]);
        if (!(e <= worst)) worst = e;
        at += seg[i];
    }
    return worst;
}

/* The median ms of a configuration (checked first); -1 when rejected; -2 on an error that ends
 * the stage (printed). Measured once: later runs take it from the cache. A first timed run slower
 * than cut_ms (> 0) is the measurement (the candidate is far behind). */
static double evaluate(search_state *ss, const tune_config *c, const char *label, double cut_ms)
{
    tune_search *s = ss->s;
    tune_run *t = s->t;
    char name[256], why[200] = "";
    config_name(t, c, name, sizeof name);
    const fcl_tune_meas *m = fcl_tune_cache_find(&t->cache, s->task, name);
    if (m) {
        t->reused++;
        return m->ms;
    }
    double ms = -1;
    size_t seg[TUNE_MAX_SEGS];
    int n_seg = 0;
    fcl_status st = config_apply(t->ctx, c);
    if (!st) st = s->checked(s->u, ss->got, seg, &n_seg);
    if (st) {
        snprintf(why, sizeof why, "%.190s", fcl_ctx_errmsg(t->ctx));
    } else {
        double e = parts_err(ss, seg, n_seg);
        if (!(e <= 2e-3)) {
            snprintf(why, sizeof why, "results differ from the start's (relative error %.2g)", e);
            st = FCL_ERR_INTERNAL;
        }
    }
    if (!st) st = tune_time_cut(t, s->run, s->u, t->reps, cut_ms, &ms);
    if (st) {
        fprintf(stderr, "facecl tune:   %s %s rejected: %s\n", label, name, why[0] ? why : fcl_ctx_errmsg(t->ctx));
        ms = -1;
    }
    return tune_record(t, s->task, name, ms) || tune_save(t) ? -2 : ms;
}

/* The search compared medians taken minutes apart on a shared machine. The winner is timed
 * again against the start, alternating (start, chosen, start, ...), and kept only if it is
 * still faster; otherwise the start comes back (and into the cache). 0, or -1 (printed). */
static int confirm(search_state *ss, const tune_config *start, tune_config *cur, double *best, double *base)
{
    tune_search *s = ss->s;
    tune_run *t = s->t;
    double a[8], b[8];
    int n = t->reps < 8 ? t->reps : 8;
    for (int r = 0; r < n; r++) {
        if (config_apply(t->ctx, start) || tune_time(t, s->run, s->u, 1, &a[r]) || config_apply(t->ctx, cur) ||
            tune_time(t, s->run, s->u, 1, &b[r])) {
            fprintf(stderr, "facecl: error: tune %s: %s\n", s->stage, fcl_ctx_errmsg(t->ctx));
            return -1;
        }
    }
    qsort(a, (size_t)n, sizeof a[0], bench_cmp_double);
    qsort(b, (size_t)n, sizeof b[0], bench_cmp_double);
    *base = a[n / 2];
    *best = b[n / 2];
    fprintf(stderr, "facecl tune: [%s] confirmation, alternating: start %.1f ms, tuned %.1f ms\n", s->stage, *base, *best);
    if (*best < *base) return 0;
    fprintf(stderr, "facecl tune: [%s] not faster on the second look: keeping the start's values\n", s->stage);
    *cur = *start;
    *best = *base;
    return config_put(t, cur);
}

int tune_search_run(tune_search *s, const tune_config *start, double *best_ms, double *start_ms)
{
    tune_run *t = s->t;
    search_state ss = {s, malloc(s->n_out * sizeof(float)), malloc(s->n_out * sizeof(float)), {0}, 0};
    tune_config cur = *start;
    int rc = -1, stopped = 0;
    fcl_status st = ss.ref && ss.got ? FCL_OK : FCL_ERR(fcl_ctx_error(t->ctx), FCL_ERR_NOMEM, "tune: out of memory");
    if (!st) st = config_apply(t->ctx, start);
    if (!st) st = s->checked(s->u, ss.ref, ss.seg, &ss.n_seg);
    if (st) {
        fprintf(stderr, "facecl: error: tune %s: %s\n", s->stage, fcl_ctx_errmsg(t->ctx));
        goto done;
    }
    char label[64];
    snprintf(label, sizeof label, "[%s] start", s->stage);
    double base = evaluate(&ss, start, label, 0);
    if (base == -2) goto done;
    if (base < 0) {
        fprintf(stderr, "facecl: error: tune %s: the start's own run failed\n", s->stage);
        goto done;
    }
    fprintf(stderr, "facecl tune: [%s] %s: %.1f ms at the start (%.0fs)\n", s->stage, s->task, base, tune_elapsed(t));
    double best = base, per_cand = 3 * base / 1e3 + 5;
    for (int fi = 0; fi < s->n_families && !stopped; fi++) {
        fcl_tune_family f = s->families[fi];
        const char *fname = fcl_tune_family_name(f);
        fcl_tune_id first;
        int np = fcl_tune_family_params(f, &first);
        tune_move mv[96];
        int nm = s->moves(f, cur.v[f], mv, 96);
        for (int i = 0; i < nm; i++) {
            tune_config c = cur;
            for (int j = 0; j < mv[i].n; j++) c.v[f][mv[i].id[j] - first] = mv[i].value[j];
            if (fcl_tune_check(f, c.v[f], np, NULL)) continue;
            char name[256];
            snprintf(label, sizeof label, "[%s %s %d/%d]", s->stage, fname, i + 1, nm);
            config_name(t, &c, name, sizeof name);
            int known = fcl_tune_cache_find(&t->cache, s->task, name) != NULL;
            /* room for this candidate and for the confirmation at the end (2 x reps runs) */
            if (!known && tool_now_s() + per_cand + 2e-3 * t->reps * best > s->deadline) {
                fprintf(stderr, "facecl tune: [%s] time budget spent in family %s (re-run with the same options to "
                        "continue)\n", s->stage, fname);
                stopped = 1;
                break;
            }
            double t0 = tool_now_s(), ms = evaluate(&ss, &c, label, 1.3 * best);
            if (ms == -2) goto done;
            if (!known) per_cand = 0.5 * per_cand + 0.5 * (tool_now_s() - t0);
            int better = ms >= 0 && ms < 0.97 * best; /* 3%: less is within this machine's noise */
            fprintf(stderr, "facecl tune: %s %s: %s%.1f ms%s%s (%.0fs)\n", label, name, ms < 0 ? "rejected " : "",
                    ms < 0 ? 0 : ms, known ? " (measured before)" : "", better ? " -> kept" : "", tune_elapsed(t));
            if (better) {
                cur = c;
                best = ms;
            }
        }
        if (config_put(t, &cur)) goto done; /* the family's choice, kept if the run is cut off */
    }
    if (memcmp(&cur, start, sizeof cur) && confirm(&ss, start, &cur, &best, &base)) goto done;
    if (config_apply(t->ctx, &cur)) {
        fprintf(stderr, "facecl: error: tune %s: %s\n", s->stage, fcl_ctx_errmsg(t->ctx));
        goto done;
    }
    *best_ms = best;
    *start_ms = base;
    if (stopped) fprintf(stderr, "facecl tune: [%s] search not finished\n", s->stage);
    rc = 0;
done:
    free(ss.ref);
    free(ss.got);
    return rc;
}
