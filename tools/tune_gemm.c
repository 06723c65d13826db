/* tools/tune_gemm.c: `facecl tune`'s CLBlast stage: Xgemm parameters (and the direct/indirect threshold) searched on the network's linear and margin-head GEMM shapes, each candidate checked against the defaults' output first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "tune.h"

/* One GEMM as fcl_linear / fcl_cosine_sim call it (row-major, host/ops/linear.c, loss.c). */
typedef struct gemm_shape {
    fcl_ctx *ctx;
    fcl_gemm_params p;
    int weight;               /* how many of the network's GEMMs have this shape */
    char task[64];            /* "gemm:128x10575x512:NT" */
    fcl_tensor a, b, c;       /* inputs, and C with a sentinel tail after its m x n values */
    float *c0, *ref;          /* C before the call, and the defaults' result (+ tail) */
    size_t na, nb, nc;
    double default_ms;
} gemm_shape;

#define TAIL 64
#define SENTINEL 1234.5f

/* CLBlast decides per call: m*n*k < XGEMM_MIN_INDIRECT_SIZE^3 runs XgemmDirect, else Xgemm
 * (after pad/transpose copies). Its default threshold on devices without a database entry. */
#define DEFAULT_INDIRECT 576

static int add_shape(gemm_shape *s, int *n, int max, size_t m, size_t nn, size_t k, int ta, int tb, float beta)
{
    if (!m || !nn || !k) return 0;
    for (int i = 0; i < *n; i++) /* the same GEMM once, counted as often as it occurs */
        if (s[i].p.m == m && s[i].p.n == nn && s[i].p.k == k && s[i].p.trans_a == ta && s[i].p.trans_b == tb) {
            s[i].weight++;
            return 0;
        }
    if (*n == max) return -1;
    gemm_shape *g = &s[(*n)++];
    memset(g, 0, sizeof *g);
    g->p.m = m;
    g->p.n = nn;
    g->p.k = k;
    g->p.trans_a = ta;
    g->p.trans_b = tb;
    g->p.alpha = 1.0f;
    g->p.beta = beta;
    g->weight = 1;
    snprintf(g->task, sizeof g->task, "gemm:%zux%zux%zu:%c%c", m, nn, k, ta ? 'T' : 'N', tb ? 'T' : 'N');
    return 0;
}

/* The three GEMMs of a linear layer / margin head [batch, in] -> [batch, out]: forward
 * y = x w^T, backward dx = dy w and dw = dy^T x (beta 1 in fcl_linear_bwd: they accumulate). */
static int add_layer(gemm_shape *s, int *n, int max, size_t batch, size_t in, size_t out)
{
    return add_shape(s, n, max, batch, out, in, 0, 1, 0.0f) || add_shape(s, n, max, batch, in, out, 0, 0, 1.0f) ||
           add_shape(s, n, max, out, in, batch, 1, 0, 1.0f);
}

static fcl_status shape_alloc(fcl_ctx *ctx, gemm_shape *g)
{
    fcl_gemm_params *p = &g->p;
    g->ctx = ctx;
    g->na = p->m * p->k;
    g->nb = p->k * p->n;
    g->nc = p->m * p->n + TAIL;
    float *h = malloc((g->na > g->nb ? g->na : g->nb) * sizeof *h);
    g->c0 = malloc(g->nc * sizeof *g->c0);
    g->ref = malloc(g->nc * sizeof *g->ref);
    fcl_status st = h && g->c0 && g->ref ? FCL_OK : FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "tune: out of memory");
    if (!st) st = fcl_tensor_alloc(ctx, &g->a, 1, &g->na, FCL_F32);
    if (!st) st = tune_fill(ctx, &g->a, h, g->na, 1);
    if (!st) st = fcl_tensor_alloc(ctx, &g->b, 1, &g->nb, FCL_F32);
    if (!st) st = tune_fill(ctx, &g->b, h, g->nb, 7);
    if (!st) st = fcl_tensor_alloc(ctx, &g->c, 1, &g->nc, FCL_F32);
    for (size_t i = 0; !st && i < g->nc; i++)
        g->c0[i] = i < p->m * p->n ? (float)((i * 40503u) % 1001u) / 1000.0f - 0.5f : SENTINEL;
    free(h);
    return st;
}

static void shape_free(fcl_ctx *ctx, gemm_shape *g)
{
    fcl_tensor_release(ctx, &g->a);
    fcl_tensor_release(ctx, &g->b);
    fcl_tensor_release(ctx, &g->c);
    free(g->c0);
    free(g->ref);
}

static fcl_status run_gemm(void *u)
{
    gemm_shape *g = u;
    return fcl_gemm(g->ctx, g->c.buf, g->a.buf, g->b.buf, &g->p);
}

/* One call from C's starting values; the result (with the tail) into out. */
static fcl_status run_once(gemm_shape *g, float *out)
{
    fcl_status st = fcl_tensor_upload(g->ctx, &g->c, g->c0, g->nc);
    if (!st) st = run_gemm(g);
    if (!st) st = fcl_tensor_download(g->ctx, &g->c, out, g->nc);
    return st;
}

/* A candidate's result against the defaults': every value within a tolerance that covers
 * another summation order over k terms of size <= 1 (k * 1e-5, plus 1e-5 relative), and the
 * sentinel tail after C untouched. A wrong tiling is off by whole products, far above it. */
static int result_ok(const gemm_shape *g, const float *got, char *why, size_t size)
{
    size_t mn = g->p.m * g->p.n;
    double tol = 1e-5 * (double)g->p.k;
    for (size_t i = 0; i < g->nc; i++) {
        double want = g->ref[i], d = fabs((double)got[i] - want);
        if (i >= mn && got[i] != SENTINEL) {
            snprintf(why, size, "wrote past C (element %zu of the tail)", i - mn);
            return 0;
        }
        if (!(d <= tol + 1e-5 * fabs(want))) {
            snprintf(why, size, "C[%zu] = %g, the defaults give %g", i, got[i], want);
            return 0;
        }
    }
    return 1;
}

/* ---- candidates ------------------------------------------------------------------------------ */

static const char *XG_NAMES[16];
static int xg_n;

static void cand_name(const size_t *v, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "Xgemm");
    for (int i = 0; i < xg_n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%c%s=%zu", i ? ',' : ':', XG_NAMES[i], v[i]);
}

/* Sets every GEMM to the indirect kernel (threshold 0) or back to CLBlast's default. */
static fcl_status set_threshold(fcl_ctx *ctx, size_t t)
{
    const char *name = "XGEMM_MIN_INDIRECT_SIZE";
    return fcl_gemm_override(ctx, "GemmRoutine", 1, &name, &t);
}

/* The fastest time measured so far on a task (any candidate); 0 when none. */
static double best_known(const tune_run *t, const char *task)
{
    double best = 0;
    for (size_t i = 0; i < t->cache.n_meas; i++)
        if (t->cache.meas[i].ms > 0 && !strcmp(t->cache.meas[i].task, task) && (best == 0 || t->cache.meas[i].ms < best))
            best = t->cache.meas[i].ms;
    return best;
}

/* Checks and times one candidate (already applied) on every shape; records each measurement
 * (-1: rejected) and saves. Returns -1 on a save error. */
static int measure(tune_run *t, gemm_shape *s, int ns, const char *cand, float *buf)
{
    for (int i = 0; i < ns; i++) {
        gemm_shape *g = &s[i];
        double ms = -1;
        char why[160] = "";
        if (fcl_tune_cache_find(&t->cache, g->task, cand)) continue;
        fcl_status st = run_once(g, buf);
        if (st) snprintf(why, sizeof why, "%s", fcl_ctx_errmsg(t->ctx));
        else if (!result_ok(g, buf, why, sizeof why)) st = FCL_ERR_INTERNAL;
        /* one timed run first: a candidate already 2x slower than the best known on this shape
         * keeps that one time (no need for its median: it will not be chosen) */
        if (!st) st = tune_time(t, run_gemm, g, 1, &ms);
        double known = best_known(t, g->task);
        if (!st && t->reps > 1 && !(known > 0 && ms > 2 * known)) st = tune_time(t, run_gemm, g, t->reps, &ms);
        if (st) {
            fprintf(stderr, "facecl tune:   %s rejected on %s: %.150s\n", cand, g->task, why[0] ? why : fcl_ctx_errmsg(t->ctx));
            ms = -1;
        }
        if (tune_record(t, g->task, cand, ms)) return -1;
        if (st) break; /* one wrong shape rejects the candidate */
    }
    return tune_save(t);
}

/* Weighted total ms of a candidate over the shapes, small shapes at their better of direct
 * (the defaults' path) and this candidate; < 0 when not measured on all or rejected. */
static double total(const tune_run *t, const gemm_shape *s, int ns, const char *cand)
{
    double sum = 0;
    for (int i = 0; i < ns; i++) {
        const fcl_tune_meas *m = fcl_tune_cache_find(&t->cache, s[i].task, cand);
        const fcl_tune_meas *d = fcl_tune_cache_find(&t->cache, s[i].task, "default");
        if (!m || m->ms < 0 || !d || d->ms < 0) return -1;
        double mnk = (double)s[i].p.m * (double)s[i].p.n * (double)s[i].p.k;
        double best = mnk < pow(DEFAULT_INDIRECT, 3) && d->ms < m->ms ? d->ms : m->ms;
        sum += s[i].weight * best;
    }
    return sum;
}

/* The smallest threshold whose split (below: direct, the defaults' path; at or above: the tuned
 * Xgemm) gives the least total; DEFAULT_INDIRECT when nothing changes. */
static size_t pick_threshold(const tune_run *t, const gemm_shape *s, int ns, const char *cand)
{
    double best = -1;
    size_t best_t = DEFAULT_INDIRECT;
    /* the candidates: every shape's cube root, rounded so that shape goes indirect */
    for (int j = -1; j < ns; j++) {
        double thr_mnk = j < 0 ? pow(DEFAULT_INDIRECT, 3) : (double)s[j].p.m * (double)s[j].p.n * (double)s[j].p.k;
        size_t thr = j < 0 ? DEFAULT_INDIRECT : (size_t)floor(cbrt(thr_mnk));
        while (thr > 0 && pow((double)thr, 3) > thr_mnk) thr--;
        double sum = 0;
        for (int i = 0; i < ns; i++) {
            double mnk = (double)s[i].p.m * (double)s[i].p.n * (double)s[i].p.k;
            const fcl_tune_meas *m = fcl_tune_cache_find(&t->cache, s[i].task, mnk < pow((double)thr, 3) ? "default" : cand);
            if (mnk >= pow(DEFAULT_INDIRECT, 3) && mnk < pow((double)thr, 3)) m = NULL; /* direct never measured there */
            sum = m && m->ms >= 0 && sum >= 0 ? sum + s[i].weight * m->ms : -1;
        }
        if (sum >= 0 && (best < 0 || sum < best - 1e-9 || (sum <= best + 1e-9 && thr < best_t))) {
            best = sum;
            best_t = thr;
        }
    }
    return best_t;
}

int tune_gemm(tune_run *t, const tune_gemm_opts *o, double stage_deadline)
{
    fcl_ctx *ctx = t->ctx;
    gemm_shape s[48];
    int ns = 0, rc = -1;
    float *buf = NULL;
    const fcl_model *m = o->model;
    xg_n = fcl_gemm_param_names("Xgemm", XG_NAMES, 16);
    for (int i = 0; m && i < m->n_layers; i++)
        if (m->layers[i].kind == FCL_LAYER_LINEAR &&
            add_layer(s, &ns, 48, (size_t)o->batch, (size_t)m->layers[i].linear.in, (size_t)m->layers[i].linear.out))
            goto too_many;
    for (int i = 0; i < o->n_head_classes; i++)
        if (add_layer(s, &ns, 48, (size_t)o->head_batch, (size_t)(m ? m->embedding_dim : 512), (size_t)o->head_classes[i]))
            goto too_many;
    /* Shapes CLBlast never runs in the ops here (fcl_gemm_clblast_may_run: the margin heads on the
     * CPU kernels) are left out: timing them only spent the budget (ResNet-18's tune on a 2-core
     * Zen 3: the defaults' pass over 9 shapes took 158 s of the 243 s stage, 12.7 s a pass, the
     * heads ~98% of it). The tool's context has no tuning cache applied: its values are the defaults. */
    int kept = 0;
    for (int i = 0; i < ns; i++)
        if (fcl_gemm_clblast_may_run(ctx, s[i].p.m, s[i].p.n, s[i].p.k)) s[kept++] = s[i];
    int dropped = ns - kept;
    ns = kept;
    if (!ns) {
        fprintf(stderr, "facecl tune: [gemm] nothing to tune: CLBlast runs none of these GEMMs on this device\n");
        return 0;
    }
    for (int i = 0; i < ns && t->cpu_clock; i++) /* CPU-time measurements apart from wall-clock ones */
        strncat(s[i].task, ":cpu", sizeof s[i].task - strlen(s[i].task) - 1);
    size_t most = 0;
    fcl_status st = FCL_OK;
    for (int i = 0; i < ns && !st; i++) {
        st = shape_alloc(ctx, &s[i]);
        if (s[i].nc > most) most = s[i].nc;
    }
    buf = malloc(most * sizeof *buf);
    if (!st && !buf) st = FCL_ERR(fcl_ctx_error(ctx), FCL_ERR_NOMEM, "tune: out of memory");
    /* the defaults' results are the reference every candidate is held to (computed in this run:
     * no override is active yet, the tool created its context without the cache) */
    for (int i = 0; i < ns && !st; i++) st = run_once(&s[i], s[i].ref);
    if (st) {
        fprintf(stderr, "facecl: error: tune gemm: %s\n", fcl_ctx_errmsg(ctx));
        goto done;
    }
    fprintf(stderr, "facecl tune: CLBlast GEMM: %d shapes (linear layers at batch %d, heads at batch %d):", ns, o->batch,
            o->head_batch);
    for (int i = 0; i < ns; i++) fprintf(stderr, " %s", s[i].task + 5);
    fprintf(stderr, "\n");
    if (dropped)
        fprintf(stderr, "facecl tune: [gemm] %d shape(s) of 2^26 multiply-adds or more left out: the conv kernels run "
                "them on this device\n", dropped);
    if (measure(t, s, ns, "default", buf)) goto done;
    double base = total(t, s, ns, "default");
    fprintf(stderr, "facecl tune: [gemm] defaults: %.1f ms for all shapes (%.0fs)\n", base, tune_elapsed(t));

    size_t list[32][16];
    int nl = fcl_gemm_xgemm_candidates(ctx, list, 32);
    char best[256] = "default", name[256];
    double best_ms = base, per_cand = 20;
    int indirect_all = 0;
    for (int c = 0; c < nl; c++) {
        size_t *v = list[c];
        cand_name(v, name, sizeof name);
        int known = 1;
        for (int i = 0; i < ns; i++) known = known && fcl_tune_cache_find(&t->cache, s[i].task, name);
        if (!known) {
            double t0 = tool_now_s();
            if (t0 + per_cand > stage_deadline || tune_out_of_time(t, per_cand)) {
                fprintf(stderr, "facecl tune: [gemm] time budget spent after %d of %d candidates (re-run to continue)\n",
                        c, nl);
                break;
            }
            if (!indirect_all && set_threshold(ctx, 0)) goto cl_fail;
            indirect_all = 1;
            if (fcl_gemm_override(ctx, "Xgemm", (size_t)xg_n, XG_NAMES, v)) goto cl_fail;
            if (measure(t, s, ns, name, buf)) goto done;
            per_cand = tool_now_s() - t0;
        } else {
            t->reused += ns;
        }
        double tot = total(t, s, ns, name);
        if (tot >= 0 && tot < best_ms) {
            best_ms = tot;
            snprintf(best, sizeof best, "%s", name);
        }
        fprintf(stderr, "facecl tune: [gemm %d/%d] %s: %s%.1f ms%s (best %.1f ms, defaults %.1f) (%.0fs)\n", c + 1, nl,
                name + 6, tot < 0 ? "rejected " : "", tot < 0 ? 0 : tot, known ? " (measured before)" : "", best_ms,
                base, tune_elapsed(t));
    }
    /* the choice: kept when it beats the defaults by more than 3% (less is within the noise) */
    fcl_tune_cache_drop(&t->cache, FCL_TUNE_CLBLAST, "Xgemm");
    fcl_tune_cache_drop(&t->cache, FCL_TUNE_CLBLAST, "GemmRoutine");
    if (strcmp(best, "default") && best_ms < 0.97 * base) {
        size_t v[16];
        long lv[16];
        const char *p = best + 6;
        for (int i = 0; i < xg_n; i++) {
            const char *eq = strchr(p, '=');
            v[i] = eq ? strtoul(eq + 1, NULL, 10) : 0;
            lv[i] = (long)v[i];
            p = strchr(eq ? eq : p, ',');
            p = p ? p + 1 : "";
        }
        size_t thr = pick_threshold(t, s, ns, best);
        long lthr = (long)thr;
        const char *tn = "XGEMM_MIN_INDIRECT_SIZE";
        fcl_error e = {0};
        if (fcl_tune_cache_put(&t->cache, FCL_TUNE_CLBLAST, "Xgemm", xg_n, XG_NAMES, lv, &e) ||
            (thr != DEFAULT_INDIRECT && fcl_tune_cache_put(&t->cache, FCL_TUNE_CLBLAST, "GemmRoutine", 1, &tn, &lthr, &e))) {
            fprintf(stderr, "facecl: error: %s\n", e.msg);
            goto done;
        }
        if (fcl_gemm_override(ctx, "Xgemm", (size_t)xg_n, XG_NAMES, v) || set_threshold(ctx, thr)) goto cl_fail;
        fprintf(stderr, "facecl tune: [gemm] chosen %s, direct below %zu^3: %.1f ms vs %.1f ms with the defaults (%.2fx)\n",
                best + 6, thr, best_ms, base, base / best_ms);
        for (int i = 0; i < ns; i++) {
            const fcl_tune_meas *d = fcl_tune_cache_find(&t->cache, s[i].task, "default");
            double mnk = (double)s[i].p.m * (double)s[i].p.n * (double)s[i].p.k;
            /* below the threshold CLBlast keeps running its direct kernel: the defaults' time */
            const fcl_tune_meas *b = fcl_tune_cache_find(&t->cache, s[i].task, mnk < pow((double)thr, 3) ? "default" : best);
            double gf = 2e-6 * (double)s[i].p.m * (double)s[i].p.n * (double)s[i].p.k;
            if (d && b && d->ms > 0 && b->ms > 0)
                fprintf(stderr, "facecl tune:   %-24s defaults %8.2f ms %6.1f GFLOP/s, tuned %8.2f ms %6.1f GFLOP/s\n",
                        s[i].task + 5, d->ms, gf / d->ms, b->ms, gf / b->ms);
        }
    } else {
        if (indirect_all && set_threshold(ctx, DEFAULT_INDIRECT)) goto cl_fail;
        fprintf(stderr, "facecl tune: [gemm] keeping CLBlast's defaults (no candidate more than 3%% faster)\n");
    }
    rc = tune_save(t);
    goto done;
too_many:
    fprintf(stderr, "facecl: error: tune gemm: more than 48 GEMM shapes\n");
    goto done;
cl_fail:
    fprintf(stderr, "facecl: error: tune gemm: %s\n", fcl_ctx_errmsg(ctx));
done:
    for (int i = 0; i < ns; i++) shape_free(ctx, &s[i]);
    free(buf);
    return rc;
}
