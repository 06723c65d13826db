/* host/metrics/verify.c: verification metrics over scored pairs: ROC, AUC, EER, TAR@FAR, best and k-fold accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/metrics.h"
#include "runtime/free_list.h"
#include "io/textbuf.h"

/* One pair as sorted: score, label and (for k-fold) fold. */
typedef struct scored {
    double s;
    int y;
    int fold;
} scored;

/* Descending by score. The order inside a run of equal scores is left to qsort: every metric
 * here treats such a run as one step, so it cannot change a result. */
static int cmp_scored_desc(const void *a, const void *b)
{
    const scored *p = a, *q = b;
    if (p->s > q->s) return -1;
    if (p->s < q->s) return 1;
    return 0;
}

/* The start of a pair metric: zeroes its result out (out_size bytes; NULL is an error), checks
 * scores / labels and counts the classes. `what` names the caller in messages. */
static fcl_status check_pairs(const char *what, void *out, size_t out_size, const double *scores, const int *labels,
                              size_t n, size_t *n_pos, size_t *n_neg, fcl_error *err)
{
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: out must not be NULL", what);
    memset(out, 0, out_size);
    if (!scores || !labels)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: scores and labels must not be NULL", what);
    if (n < 2)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: need at least 2 pairs, got %zu", what, n);
    /* Counts are summed as 64-bit integers in products of two counts (AUC): keep n < 2^31. */
    if (n >= ((size_t)1 << 31))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: %zu pairs is more than supported (2^31 - 1)",
                       what, n);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i]))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: score[%zu] is NaN", what, i);
        if (isinf(scores[i]))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: score[%zu] is %s", what, i,
                           scores[i] > 0 ? "+inf" : "-inf");
        if (labels[i] != 0 && labels[i] != 1)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                           "%s: label[%zu] is %d (labels must be 1 = same, 0 = different)", what,
                           i, labels[i]);
        pos += (size_t)labels[i];
    }
    *n_pos = pos;
    *n_neg = n - pos;
    return FCL_OK;
}

/* The pairs sorted by decreasing score, malloc'd. */
static scored *sort_pairs(const double *scores, const int *labels, const int *folds, size_t n)
{
    scored *v = malloc(n * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].y = labels[i];
        v[i].fold = folds ? folds[i] : 0;
    }
    qsort(v, n, sizeof *v, cmp_scored_desc);
    return v;
}

void fcl_roc_free(fcl_roc *roc)
{
    if (!roc) return;
    FCL_FREE_ALL(roc->thresholds, roc->fpr, roc->tpr, roc->tp, roc->fp);
    memset(roc, 0, sizeof *roc);
}

fcl_status fcl_roc_compute(const double *scores, const int *labels, size_t n, fcl_roc *out,
                           fcl_error *err)
{
    fcl_status st = FCL_OK;
    scored *v = NULL;
    size_t pos = 0, neg = 0;

    st = check_pairs("fcl_roc_compute", out, sizeof *out, scores, labels, n, &pos, &neg, err);
    if (st) goto fail;
    if (pos == 0 || neg == 0) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG,
                     "fcl_roc_compute: all %zu pairs are labelled %s; a ROC needs both same (1) "
                     "and different (0) pairs",
                     n, pos == 0 ? "different (0)" : "same (1)");
        goto fail;
    }
    v = sort_pairs(scores, labels, NULL, n);
    /* At most n distinct scores, plus the starting point. */
    out->thresholds = malloc((n + 1) * sizeof *out->thresholds);
    out->fpr = malloc((n + 1) * sizeof *out->fpr);
    out->tpr = malloc((n + 1) * sizeof *out->tpr);
    out->tp = malloc((n + 1) * sizeof *out->tp);
    out->fp = malloc((n + 1) * sizeof *out->fp);
    if (!v || !out->thresholds || !out->fpr || !out->tpr || !out->tp || !out->fp) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_roc_compute: out of memory for %zu pairs", n);
        goto fail;
    }
    out->n_pos = pos;
    out->n_neg = neg;
    size_t m = 0, tp = 0, fp = 0;
    out->thresholds[m] = INFINITY;
    out->tp[m] = 0;
    out->fp[m] = 0;
    m++;
    for (size_t i = 0; i < n; i++) {
        if (v[i].y) tp++;
        else fp++;
        /* A point closes each run of equal scores: ties enter the curve together. */
        if (i + 1 == n || v[i + 1].s != v[i].s) {
            out->thresholds[m] = v[i].s;
            out->tp[m] = tp;
            out->fp[m] = fp;
            m++;
        }
    }
    out->n_points = m;
    for (size_t i = 0; i < m; i++) {
        out->fpr[i] = (double)out->fp[i] / (double)neg;
        out->tpr[i] = (double)out->tp[i] / (double)pos;
    }
    free(v);
    return FCL_OK;

fail:
    free(v);
    fcl_roc_free(out);
    return st;
}

double fcl_roc_auc(const fcl_roc *roc)
{
    /* Trapezoids in counts: sum (fp_i - fp_{i-1}) (tp_i + tp_{i-1}) = 2 * area * P * N, exact in
     * 64 bits for n < 2^31 (the sum is at most 2 P N < n^2 / 2 < 2^61). */
    unsigned long long twice = 0;
    for (size_t i = 1; i < roc->n_points; i++)
        twice += (unsigned long long)(roc->fp[i] - roc->fp[i - 1]) *
                 (unsigned long long)(roc->tp[i] + roc->tp[i - 1]);
    return (double)twice / (2.0 * (double)roc->n_pos * (double)roc->n_neg);
}

void fcl_roc_eer(const fcl_roc *roc, double *eer, double *threshold)
{
    /* g = fpr + tpr - 1 = FAR - FRR rises from -1 at point 0 to +1 at the last point. */
    size_t i = 1;
    double g = 0, g0 = -1;
    for (; i < roc->n_points; i++) {
        g = roc->fpr[i] + roc->tpr[i] - 1.0;
        if (g >= 0) break;
        g0 = g;
    }
    if (i >= roc->n_points) i = roc->n_points - 1; /* unreachable: the last point has g = 1 */
    double e, th;
    if (g == 0) {
        e = roc->fpr[i];
        th = roc->thresholds[i];
    } else {
        double t = -g0 / (g - g0);
        e = roc->fpr[i - 1] + t * (roc->fpr[i] - roc->fpr[i - 1]);
        th = i - 1 == 0 ? roc->thresholds[i]
                        : roc->thresholds[i - 1] + t * (roc->thresholds[i] - roc->thresholds[i - 1]);
    }
    if (eer) *eer = e;
    if (threshold) *threshold = th;
}

fcl_status fcl_roc_tar_at_far(const fcl_roc *roc, double far, double *tar, double *threshold,
                              fcl_error *err)
{
    if (!roc || !tar || roc->n_points < 2)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_roc_tar_at_far: need a computed ROC and tar");
    if (!(far >= 0.0 && far <= 1.0))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_roc_tar_at_far: FAR target %g is not in [0, 1]",
                       far);
    /* fpr is non-decreasing: binary search for the last point with fpr <= far; tpr is
     * non-decreasing too, so that point has the largest tpr among them. Point 0 always qualifies. */
    size_t lo = 0, hi = roc->n_points; /* invariant: fpr[lo] <= far, fpr[hi] > far (hi = end) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (roc->fpr[mid] <= far) lo = mid;
        else hi = mid;
    }
    *tar = roc->tpr[lo];
    if (threshold) *threshold = roc->thresholds[lo];
    return FCL_OK;
}

/* The threshold reported for the best point with score a when the next lower distinct score is
 * b: the middle of (b, a]. 0.5 a + 0.5 b cannot overflow; if rounding lands it outside the gap
 * (a and b adjacent doubles) a itself is used. */
static double gap_middle(double a, double b)
{
    double m = 0.5 * a + 0.5 * b;
    return m > b && m <= a ? m : a;
}

void fcl_roc_best_accuracy(const fcl_roc *roc, double *accuracy, double *threshold)
{
    /* Correct decisions at point i: accepted positives plus rejected negatives. Compared as
     * integers so ties are exact; strict '>' keeps the first (highest) threshold. */
    size_t best = 0, best_i = 0;
    for (size_t i = 0; i < roc->n_points; i++) {
        size_t c = roc->tp[i] + (roc->n_neg - roc->fp[i]);
        if (i == 0 || c > best) {
            best = c;
            best_i = i;
        }
    }
    if (accuracy) *accuracy = (double)best / (double)(roc->n_pos + roc->n_neg);
    if (threshold)
        *threshold = best_i == 0 || best_i + 1 == roc->n_points
                         ? roc->thresholds[best_i]
                         : gap_middle(roc->thresholds[best_i], roc->thresholds[best_i + 1]);
}

void fcl_kfold_free(fcl_kfold *kf)
{
    if (!kf) return;
    FCL_FREE_ALL(kf->accuracy, kf->threshold, kf->size);
    memset(kf, 0, sizeof *kf);
}

/* Best-accuracy threshold over the pairs of v (sorted, decreasing) whose fold is not `skip`:
 * the same sweep and the same gap-middle threshold as fcl_roc_best_accuracy over those pairs'
 * ROC. Points sit at the distinct scores of the included pairs; a run of equal scores with no
 * included pair adds no point. */
static double best_threshold_without(const scored *v, size_t n, int skip, size_t neg)
{
    size_t tp = 0, fp = 0, best = neg; /* point 0: reject everything */
    double best_s = INFINITY, next_s = 0;
    int best_is_start = 1, need_next = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int any = 0;
        for (; j < n && v[j].s == v[i].s; j++) {
            if (v[j].fold == skip) continue;
            any = 1;
            if (v[j].y) tp++;
            else fp++;
        }
        if (any) {
            if (need_next) { /* the first included score below the best one */
                next_s = v[i].s;
                need_next = 0;
            }
            size_t c = tp + (neg - fp);
            if (c > best) {
                best = c;
                best_s = v[i].s;
                best_is_start = 0;
                need_next = 1;
            }
        }
        i = j;
    }
    if (best_is_start) return INFINITY;
    return need_next ? best_s : gap_middle(best_s, next_s); /* need_next: best is the last point */
}

fcl_status fcl_kfold_accuracy(const double *scores, const int *labels, const int *folds,
                              size_t n, int k, fcl_kfold *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    scored *v = NULL;
    int *assigned = NULL;
    size_t *fold_neg = NULL;
    size_t pos = 0, neg = 0;

    st = check_pairs("fcl_kfold_accuracy", out, sizeof *out, scores, labels, n, &pos, &neg, err);
    if (st) goto fail;
    if (k < 2 || (size_t)k > n) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG,
                     "fcl_kfold_accuracy: k = %d folds is not in [2, %zu] (the number of pairs)", k,
                     n);
        goto fail;
    }
    out->k = k;
    out->accuracy = calloc((size_t)k, sizeof *out->accuracy);
    out->threshold = calloc((size_t)k, sizeof *out->threshold);
    out->size = calloc((size_t)k, sizeof *out->size);
    fold_neg = calloc((size_t)k, sizeof *fold_neg);
    if (!folds) assigned = malloc(n * sizeof *assigned);
    if (!out->accuracy || !out->threshold || !out->size || !fold_neg || (!folds && !assigned)) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_kfold_accuracy: out of memory");
        goto fail;
    }
    if (!folds) {
        /* sklearn KFold(k, shuffle=False): the first n % k folds get one extra pair. */
        size_t base = n / (size_t)k, extra = n % (size_t)k, i = 0;
        for (int f = 0; f < k; f++) {
            size_t len = base + ((size_t)f < extra ? 1 : 0);
            for (size_t j = 0; j < len; j++) assigned[i++] = f;
        }
        folds = assigned;
    }
    for (size_t i = 0; i < n; i++) {
        if (folds[i] < 0 || folds[i] >= k) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG,
                         "fcl_kfold_accuracy: fold[%zu] is %d, not in [0, %d)", i, folds[i], k);
            goto fail;
        }
        out->size[folds[i]]++;
        if (!labels[i]) fold_neg[folds[i]]++;
    }
    for (int f = 0; f < k; f++)
        if (out->size[f] == 0) {
            st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_kfold_accuracy: fold %d of %d has no pairs",
                         f, k);
            goto fail;
        }
    v = sort_pairs(scores, labels, folds, n);
    if (!v) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_kfold_accuracy: out of memory for %zu pairs", n);
        goto fail;
    }
    for (int f = 0; f < k; f++) {
        double th = best_threshold_without(v, n, f, neg - fold_neg[f]);
        size_t correct = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].fold == f && (v[i].s >= th) == (v[i].y == 1)) correct++;
        out->threshold[f] = th;
        out->accuracy[f] = (double)correct / (double)out->size[f];
    }
    /* Two passes like np.mean / np.std (ddof = 0). */
    double sum = 0, ss = 0;
    for (int f = 0; f < k; f++) sum += out->accuracy[f];
    out->mean = sum / k;
    for (int f = 0; f < k; f++) ss += (out->accuracy[f] - out->mean) * (out->accuracy[f] - out->mean);
    out->std = sqrt(ss / k);
    FCL_FREE_ALL(v, assigned, fold_neg);
    return FCL_OK;

fail:
    FCL_FREE_ALL(v, assigned, fold_neg);
    fcl_kfold_free(out);
    return st;
}

void fcl_verify_result_free(fcl_verify_result *r)
{
    if (!r) return;
    fcl_roc_free(&r->roc);
    fcl_kfold_free(&r->kfold);
    memset(r, 0, sizeof *r);
}

fcl_status fcl_verify_evaluate(const double *scores, const int *labels, size_t n,
                               const fcl_verify_opts *opts, fcl_verify_result *out,
                               fcl_error *err)
{
    static const double default_fars[] = {1e-1, 1e-2, 1e-3};
    fcl_status st = FCL_OK;

    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_evaluate: out must not be NULL");
    memset(out, 0, sizeof *out);
    const double *fars = opts && opts->fars ? opts->fars : default_fars;
    int n_fars = opts && opts->fars ? opts->n_fars : 3;
    if (n_fars < 0 || n_fars > FCL_VERIFY_MAX_FARS) {
        st = FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_evaluate: %d FAR targets (at most %d)",
                     n_fars, FCL_VERIFY_MAX_FARS);
        goto fail;
    }
    st = fcl_roc_compute(scores, labels, n, &out->roc, err);
    if (st) goto fail;
    out->n = n;
    out->n_pos = out->roc.n_pos;
    out->n_neg = out->roc.n_neg;
    out->auc = fcl_roc_auc(&out->roc);
    fcl_roc_eer(&out->roc, &out->eer, &out->eer_threshold);
    out->n_fars = n_fars;
    for (int j = 0; j < n_fars; j++) {
        out->far[j] = fars[j];
        st = fcl_roc_tar_at_far(&out->roc, fars[j], &out->tar[j], &out->tar_threshold[j], err);
        if (st) goto fail;
    }
    fcl_roc_best_accuracy(&out->roc, &out->best_accuracy, &out->best_threshold);
    if (opts && opts->k_folds) {
        st = fcl_kfold_accuracy(scores, labels, opts->folds, n, opts->k_folds, &out->kfold, err);
        if (st) goto fail;
        out->has_kfold = 1;
    }
    return FCL_OK;

fail:
    fcl_verify_result_free(out);
    return st;
}

fcl_status fcl_verify_result_format(const fcl_verify_result *r, char **text, fcl_error *err)
{
    fcl_textbuf t = {0};

    if (!r || !text)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_verify_result_format: NULL argument");
    *text = NULL;
    fcl_textbuf_printf(&t, "pairs            %zu (%zu same, %zu different)\n", r->n, r->n_pos, r->n_neg);
    fcl_textbuf_printf(&t, "ROC AUC          %.6f\n", r->auc);
    fcl_textbuf_printf(&t, "EER              %.4f %%  (threshold %.6f)\n", 100.0 * r->eer, r->eer_threshold);
    for (int j = 0; j < r->n_fars; j++) {
        char name[40];
        snprintf(name, sizeof name, "TAR@FAR=%g", r->far[j]);
        fcl_textbuf_printf(&t, "%-16s %.4f %%  (threshold %.6f)\n", name, 100.0 * r->tar[j],
                           r->tar_threshold[j]);
    }
    fcl_textbuf_printf(&t, "best accuracy    %.4f %%  (threshold %.6f)\n", 100.0 * r->best_accuracy,
                       r->best_threshold);
    if (r->has_kfold)
        fcl_textbuf_printf(&t, "%d-fold accuracy  %.4f %% +- %.4f %%  (population std over folds)\n",
                           r->kfold.k, 100.0 * r->kfold.mean, 100.0 * r->kfold.std);
    return fcl_textbuf_finish(&t, text, "fcl_verify_result_format", err);
}
