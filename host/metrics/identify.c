/* host/metrics/identify.c: open-set identification metrics: CMC / rank-k, DIR at FAR and its threshold, decision accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/identify.h"

static const double default_fars[3] = {1e-1, 1e-2, 1e-3};

static fcl_status check_probes(const long *rank, const double *best, size_t n, size_t n_ids, const char *fn,
                               fcl_error *err)
{
    if (n && (!rank || !best)) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: NULL argument", fn);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(best[i]))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: probe %zu: best score is not finite", fn, i);
        if (rank[i] < -1 || (n_ids && rank[i] >= 0 && (size_t)rank[i] >= n_ids))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: probe %zu: rank %ld outside -1..%zu", fn, i, rank[i],
                           n_ids ? n_ids - 1 : 0);
    }
    return FCL_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* The sweep behind DIR at FAR: probes sorted by best score, decreasing, each with its kind
 * (0 impostor, 1 genuine identified at rank 0, 2 other genuine). */
typedef struct sweep_item {
    double s;
    int kind;
} sweep_item;

static int cmp_item(const void *a, const void *b) { return cmp_desc(&((const sweep_item *)a)->s, &((const sweep_item *)b)->s); }

/* For each target far[j]: the lowest threshold among +inf and the distinct scores with
 * impostors(>= t) / n_imp <= far[j]; outputs that threshold, the identified genuine count and
 * the impostor count at it. Needs n_imp > 0. */
static fcl_status sweep_fars(const long *rank, const double *best, size_t n, const double *far, int n_far,
                             double *thr, size_t *ident, size_t *imp_acc, fcl_error *err)
{
    sweep_item *it = malloc((n ? n : 1) * sizeof *it);
    if (!it) return FCL_ERR(err, FCL_ERR_NOMEM, "identification metrics: out of memory for %zu probes", n);
    size_t n_imp = 0;
    for (size_t i = 0; i < n; i++) {
        it[i].s = best[i];
        it[i].kind = rank[i] < 0 ? 0 : rank[i] == 0 ? 1 : 2;
        n_imp += rank[i] < 0;
    }
    qsort(it, n, sizeof *it, cmp_item);
    for (int j = 0; j < n_far; j++) {
        thr[j] = INFINITY;
        ident[j] = 0;
        imp_acc[j] = 0;
    }
    size_t c_imp = 0, c_id = 0;
    for (size_t i = 0; i < n;) {
        /* Every probe of one score value enters together: a threshold cannot split a tie. */
        size_t e = i;
        while (e < n && it[e].s == it[i].s) {
            c_imp += it[e].kind == 0;
            c_id += it[e].kind == 1;
            e++;
        }
        double fr = (double)c_imp / (double)n_imp;
        for (int j = 0; j < n_far; j++)
            if (fr <= far[j]) {
                thr[j] = it[i].s;
                ident[j] = c_id;
                imp_acc[j] = c_imp;
            }
        i = e;
    }
    free(it);
    return FCL_OK;
}

static fcl_status check_far(double far, fcl_error *err)
{
    if (!(far >= 0.0 && far <= 1.0))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "identification metrics: FAR target %g is not in [0, 1]", far);
    return FCL_OK;
}

fcl_status fcl_ident_threshold_at_far(const long *rank, const double *best, size_t n, double far, double *threshold,
                                      double *far_actual, fcl_error *err)
{
    fcl_status st;
    if ((st = check_probes(rank, best, n, 0, "fcl_ident_threshold_at_far", err))) return st;
    if ((st = check_far(far, err))) return st;
    size_t n_imp = 0;
    for (size_t i = 0; i < n; i++) n_imp += rank[i] < 0;
    if (!n_imp)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "a threshold for FAR %g needs impostor probes (identities not in the gallery); there are none", far);
    double t = 0;
    size_t id = 0, acc = 0;
    if ((st = sweep_fars(rank, best, n, &far, 1, &t, &id, &acc, err))) return st;
    if (threshold) *threshold = t;
    if (far_actual) *far_actual = (double)acc / (double)n_imp;
    return FCL_OK;
}

void fcl_ident_metrics_free(fcl_ident_metrics *m)
{
    if (!m) return;
    free(m->cmc);
    memset(m, 0, sizeof *m);
}

fcl_status fcl_ident_evaluate(const long *rank, const double *best, size_t n, size_t n_ids, const double *fars,
                              int n_fars, double threshold, fcl_ident_metrics *out, fcl_error *err)
{
    fcl_status st;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_evaluate: NULL output");
    memset(out, 0, sizeof *out);
    if (n_ids == 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_evaluate: the gallery has no identities");
    if (n == 0) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_evaluate: no probes");
    if ((st = check_probes(rank, best, n, n_ids, "fcl_ident_evaluate", err))) return st;
    if (!fars) {
        fars = default_fars;
        n_fars = 3;
    }
    if (n_fars < 0 || n_fars > FCL_IDENT_MAX_FARS)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_evaluate: %d FAR targets (0..%d)", n_fars, FCL_IDENT_MAX_FARS);
    for (int j = 0; j < n_fars; j++)
        if ((st = check_far(fars[j], err))) return st;
    if (isnan(threshold)) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_evaluate: the decision threshold is NaN");

    out->n = n;
    out->n_ids = n_ids;
    out->cmc = calloc(n_ids, sizeof *out->cmc);
    if (!out->cmc) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_ident_evaluate: out of memory for %zu identities", n_ids);
    /* CMC from a histogram of ranks, then a running sum. */
    for (size_t i = 0; i < n; i++) {
        if (rank[i] < 0) {
            out->n_impostor++;
            if (best[i] >= threshold)
                out->impostor_accepted++;
            else
                out->impostor_rejected++;
            continue;
        }
        out->n_genuine++;
        out->cmc[rank[i]] += 1.0;
        if (best[i] < threshold)
            out->genuine_rejected++;
        else if (rank[i] == 0)
            out->genuine_correct++;
        else
            out->genuine_wrong_id++;
    }
    double run = 0.0;
    for (size_t r = 0; r < n_ids; r++) {
        run += out->cmc[r];
        out->cmc[r] = out->n_genuine ? run / (double)out->n_genuine : NAN;
    }
    out->rank1 = out->cmc[0];
    out->rank5 = out->cmc[n_ids < 5 ? n_ids - 1 : 4];
    out->threshold = threshold;
    out->accuracy = (double)(out->genuine_correct + out->impostor_rejected) / (double)n;

    out->n_fars = n_fars;
    for (int j = 0; j < n_fars; j++) {
        out->far[j] = fars[j];
        out->dir[j] = out->dir_threshold[j] = out->far_actual[j] = NAN;
    }
    if (out->n_impostor && n_fars) {
        double thr[FCL_IDENT_MAX_FARS];
        size_t id[FCL_IDENT_MAX_FARS], acc[FCL_IDENT_MAX_FARS];
        if ((st = sweep_fars(rank, best, n, fars, n_fars, thr, id, acc, err))) {
            fcl_ident_metrics_free(out);
            return st;
        }
        for (int j = 0; j < n_fars; j++) {
            out->dir_threshold[j] = thr[j];
            out->far_actual[j] = (double)acc[j] / (double)out->n_impostor;
            out->dir[j] = out->n_genuine ? (double)id[j] / (double)out->n_genuine : NAN;
        }
    }
    return FCL_OK;
}

/* "12.34 %" or "n/a" for NaN. */
static void pct(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "n/a");
    else
        snprintf(buf, size, "%.2f %%", 100.0 * x);
}

fcl_status fcl_ident_metrics_format(const fcl_ident_metrics *m, char **text, fcl_error *err)
{
    if (!m || !text) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_ident_metrics_format: NULL argument");
    *text = NULL;
    size_t cap = 2048 + 160 * (size_t)m->n_fars;
    char *s = malloc(cap), a[32], b[32];
    if (!s) return FCL_ERR(err, FCL_ERR_NOMEM, "fcl_ident_metrics_format: out of memory");
    size_t k = 0;
#define PUT(...) k += (size_t)snprintf(s + k, k < cap ? cap - k : 0, __VA_ARGS__)
    PUT("probes       %zu (%zu of gallery identities, %zu impostors), gallery %zu identities\n", m->n, m->n_genuine,
        m->n_impostor, m->n_ids);
    pct(a, sizeof a, m->rank1);
    pct(b, sizeof b, m->rank5);
    PUT("rank-1       %s\nrank-5       %s\n", a, b);
    for (int j = 0; j < m->n_fars; j++) {
        pct(a, sizeof a, m->dir[j]);
        pct(b, sizeof b, m->far_actual[j]);
        char far[32];
        snprintf(far, sizeof far, "DIR@FAR=%g", m->far[j]);
        if (isnan(m->dir_threshold[j]))
            PUT("%-12s %s  (no impostors: no threshold)\n", far, a);
        else
            PUT("%-12s %s  (threshold %.6f, FAR reached %s)\n", far, a, m->dir_threshold[j], b);
    }
    pct(a, sizeof a, m->accuracy);
    if (isinf(m->threshold) && m->threshold < 0)
        PUT("decisions    closed set (no threshold): accuracy %s", a);
    else
        PUT("decisions    threshold %.6f: accuracy %s", m->threshold, a);
    PUT(" (genuine: %zu right, %zu wrong identity, %zu unknown; impostors: %zu unknown, %zu accepted)\n",
        m->genuine_correct, m->genuine_wrong_id, m->genuine_rejected, m->impostor_rejected, m->impostor_accepted);
#undef PUT
    if (k >= cap) {
        free(s);
        return FCL_ERR(err, FCL_ERR_INTERNAL, "fcl_ident_metrics_format: summary too long");
    }
    *text = s;
    return FCL_OK;
}
