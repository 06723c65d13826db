/* host/metrics/classify.c: classification metrics: top-k accuracy, argmax, confusion counts, per-class report and predictions CSV. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facecl/metrics.h"
#include "io/csv_internal.h"
#include "runtime/free_list.h"
#include "io/textbuf.h"

/* Longest class name shown in the report table before it is cut with "...". */
#define NAME_MAX_SHOWN 40

/* Checks logits [n, c] for NaN and, when need_labels, labels for range. */
static fcl_status check_logits(const char *what, const float *logits, const int *labels,
                               int need_labels, size_t n, int c, fcl_error *err)
{
    if (!logits || (need_labels && !labels))
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: logits%s must not be NULL", what,
                       need_labels ? " and labels" : "");
    if (n == 0 || c < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: need n >= 1 rows and c >= 1 classes, got %zu x %d",
                       what, n, c);
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * (size_t)c;
        for (int j = 0; j < c; j++)
            if (isnan(row[j]))
                return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: logit [%zu, %d] is NaN", what, i, j);
        if (labels && (labels[i] < 0 || labels[i] >= c))
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: label[%zu] is %d, not in [0, %d)", what,
                           i, labels[i], c);
    }
    return FCL_OK;
}

fcl_status fcl_topk_correct(const float *logits, const int *labels, size_t n, int c,
                            const int *ks, int n_ks, size_t *correct, fcl_error *err)
{
    if (!ks || !correct || n_ks < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_topk_correct: need at least one k");
    for (int j = 0; j < n_ks; j++)
        if (ks[j] < 1)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_topk_correct: k = %d (must be >= 1)", ks[j]);
    fcl_status st = check_logits("fcl_topk_correct", logits, labels, 1, n, c, err);
    if (st) return st;
    for (int j = 0; j < n_ks; j++) correct[j] = 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * (size_t)c;
        int y = labels[i];
        float ly = row[y];
        /* Rank of the label: classes ahead of it, ties going to the lower index. */
        int rank = 0;
        for (int j = 0; j < c; j++)
            if (row[j] > ly || (row[j] == ly && j < y)) rank++;
        for (int j = 0; j < n_ks; j++)
            if (rank < ks[j]) correct[j]++;
    }
    return FCL_OK;
}

fcl_status fcl_topk_accuracy(const float *logits, const int *labels, size_t n, int c, int k,
                             double *accuracy, fcl_error *err)
{
    size_t correct = 0;
    if (!accuracy) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_topk_accuracy: accuracy is NULL");
    fcl_status st = fcl_topk_correct(logits, labels, n, c, &k, 1, &correct, err);
    if (st) return st;
    *accuracy = (double)correct / (double)n;
    return FCL_OK;
}

fcl_status fcl_argmax_rows(const float *logits, size_t n, int c, int *pred, fcl_error *err)
{
    if (!pred) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_argmax_rows: pred is NULL");
    fcl_status st = check_logits("fcl_argmax_rows", logits, NULL, 0, n, c, err);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * (size_t)c;
        int best = 0;
        for (int j = 1; j < c; j++)
            if (row[j] > row[best]) best = j;
        pred[i] = best;
    }
    return FCL_OK;
}

static fcl_status check_pred(const char *what, const int *pred, const int *labels, size_t n, int c,
                             fcl_error *err)
{
    if (!pred || !labels)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: pred and labels must not be NULL", what);
    if (n == 0 || c < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: need n >= 1 samples and c >= 1 classes", what);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= c)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: label[%zu] is %d, not in [0, %d)", what, i,
                           labels[i], c);
        if (pred[i] < 0 || pred[i] >= c)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "%s: pred[%zu] is %d, not in [0, %d)", what, i,
                           pred[i], c);
    }
    return FCL_OK;
}

fcl_status fcl_confusion_counts(const int *pred, const int *labels, size_t n, int c, size_t *m,
                                fcl_error *err)
{
    if (!m) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_confusion_counts: m is NULL");
    fcl_status st = check_pred("fcl_confusion_counts", pred, labels, n, c, err);
    if (st) return st;
    memset(m, 0, (size_t)c * (size_t)c * sizeof *m);
    for (size_t i = 0; i < n; i++) m[(size_t)labels[i] * (size_t)c + (size_t)pred[i]]++;
    return FCL_OK;
}

void fcl_class_report_free(fcl_class_report *r)
{
    if (!r) return;
    FCL_FREE_ALL(r->tp, r->support, r->predicted, r->precision, r->recall, r->f1);
    memset(r, 0, sizeof *r);
}

/* a / b with 0 / 0 = 0 (sklearn's zero_division=0). */
static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

fcl_status fcl_class_report_compute(const int *pred, const int *labels, size_t n, int c,
                                    fcl_class_report *out, fcl_error *err)
{
    fcl_status st = FCL_OK;
    if (!out) return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_class_report_compute: out is NULL");
    memset(out, 0, sizeof *out);
    st = check_pred("fcl_class_report_compute", pred, labels, n, c, err);
    if (st) return st;
    size_t nc = (size_t)c;
    out->n_classes = c;
    out->n = n;
    out->tp = calloc(nc, sizeof *out->tp);
    out->support = calloc(nc, sizeof *out->support);
    out->predicted = calloc(nc, sizeof *out->predicted);
    out->precision = calloc(nc, sizeof *out->precision);
    out->recall = calloc(nc, sizeof *out->recall);
    out->f1 = calloc(nc, sizeof *out->f1);
    if (!out->tp || !out->support || !out->predicted || !out->precision || !out->recall || !out->f1) {
        st = FCL_ERR(err, FCL_ERR_NOMEM, "fcl_class_report_compute: out of memory for %d classes", c);
        goto fail;
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        out->support[labels[i]]++;
        out->predicted[pred[i]]++;
        if (pred[i] == labels[i]) {
            out->tp[labels[i]]++;
            correct++;
        }
    }
    out->accuracy = (double)correct / (double)n;
    double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;
    for (size_t j = 0; j < nc; j++) {
        double p = ratio((double)out->tp[j], (double)out->predicted[j]);
        double r = ratio((double)out->tp[j], (double)out->support[j]);
        double f = ratio(2.0 * p * r, p + r);
        out->precision[j] = p;
        out->recall[j] = r;
        out->f1[j] = f;
        if (out->support[j] || out->predicted[j]) {
            out->n_present++;
            mp += p;
            mr += r;
            mf += f;
        }
        double w = (double)out->support[j];
        wp += w * p;
        wr += w * r;
        wf += w * f;
    }
    /* n >= 1, so at least one class is present. */
    out->macro_precision = mp / out->n_present;
    out->macro_recall = mr / out->n_present;
    out->macro_f1 = mf / out->n_present;
    out->weighted_precision = wp / (double)n;
    out->weighted_recall = wr / (double)n;
    out->weighted_f1 = wf / (double)n;
    return FCL_OK;

fail:
    fcl_class_report_free(out);
    return st;
}

/* The name shown for class j: cut to NAME_MAX_SHOWN bytes with "..." when longer. */
static void shown_name(const char *const *names, int j, char *buf, size_t size)
{
    if (!names || !names[j]) {
        snprintf(buf, size, "class %d", j);
        return;
    }
    size_t len = strlen(names[j]);
    if (len <= NAME_MAX_SHOWN) snprintf(buf, size, "%s", names[j]);
    else snprintf(buf, size, "%.*s...", NAME_MAX_SHOWN - 3, names[j]);
}

fcl_status fcl_class_report_format(const fcl_class_report *r, const char *const *names,
                                   char **text, fcl_error *err)
{
    fcl_textbuf t = {0};
    char name[NAME_MAX_SHOWN + 16];

    if (!r || !text || r->n_classes < 1 || !r->tp)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_class_report_format: need a computed report");
    *text = NULL;
    int w = (int)strlen("weighted avg");
    for (int j = 0; j < r->n_classes; j++) {
        if (!r->support[j] && !r->predicted[j]) continue;
        shown_name(names, j, name, sizeof name);
        if ((int)strlen(name) > w) w = (int)strlen(name);
    }
    fcl_textbuf_printf(&t, "%-*s  %9s  %9s  %9s  %9s\n", w, "class", "precision", "recall", "f1-score",
                       "support");
    for (int j = 0; j < r->n_classes; j++) {
        if (!r->support[j] && !r->predicted[j]) continue;
        shown_name(names, j, name, sizeof name);
        fcl_textbuf_printf(&t, "%-*s  %9.4f  %9.4f  %9.4f  %9zu\n", w, name, r->precision[j], r->recall[j],
                           r->f1[j], r->support[j]);
    }
    fcl_textbuf_printf(&t, "\n%-*s  %9s  %9s  %9.4f  %9zu\n", w, "accuracy", "", "", r->accuracy, r->n);
    fcl_textbuf_printf(&t, "%-*s  %9.4f  %9.4f  %9.4f  %9zu\n", w, "macro avg", r->macro_precision,
                       r->macro_recall, r->macro_f1, r->n);
    fcl_textbuf_printf(&t, "%-*s  %9.4f  %9.4f  %9.4f  %9zu\n", w, "weighted avg", r->weighted_precision,
                       r->weighted_recall, r->weighted_f1, r->n);
    if (r->n_present < r->n_classes)
        fcl_textbuf_printf(&t, "(%d of %d classes not shown: no samples and no predictions)\n",
                           r->n_classes - r->n_present, r->n_classes);
    return fcl_textbuf_finish(&t, text, "fcl_class_report_format", err);
}

fcl_status fcl_predictions_write_csv(const char *path, const char *const *ids, const int *pred,
                                     size_t n, int c, const char *const *names, fcl_error *err)
{
    fcl_status st = FCL_OK;
    fcl_atomic_file af = {0};

    if (!path || !*path || !ids || !pred || c < 1)
        return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                       "fcl_predictions_write_csv: need a path, ids, predictions and c >= 1");
    for (size_t i = 0; i < n; i++) {
        if (pred[i] < 0 || pred[i] >= c)
            return FCL_ERR(err, FCL_ERR_INVALID_ARG,
                           "fcl_predictions_write_csv(%s): pred[%zu] is %d, not in [0, %d)", path, i,
                           pred[i], c);
        if (!ids[i])
            return FCL_ERR(err, FCL_ERR_INVALID_ARG, "fcl_predictions_write_csv(%s): id[%zu] is NULL",
                           path, i);
    }
    st = fcl_atomic_open(&af, path, err);
    if (st) return st;
    int bad = fputs("id,label\n", af.f) == EOF;
    for (size_t i = 0; i < n && !bad; i++) {
        char num[16];
        const char *label = names && names[pred[i]] ? names[pred[i]] : NULL;
        if (!label) {
            snprintf(num, sizeof num, "%d", pred[i]);
            label = num;
        }
        bad = fcl_csv_put_field(af.f, ids[i]) != 0 || fputc(',', af.f) == EOF ||
              fcl_csv_put_field(af.f, label) != 0 || fputc('\n', af.f) == EOF;
    }
    if (bad) return fcl_atomic_fail(&af, "writing", errno, err);
    return fcl_atomic_commit(&af, err);
}
