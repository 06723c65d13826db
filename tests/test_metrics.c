/* tests/test_metrics.c: verification metrics against scikit-learn fixtures and brute force, classification metrics, CSV logs, plots. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <facecl/facecl.h>
#include "helpers/each_name.h"
#include "helpers/cmdline.h"
#include "helpers/harness.h"

#define FIXTURE FACECL_SOURCE_DIR "/tests/fixtures/metrics_sklearn.txt"
/* Continuous results (AUC, interpolated EER, means) agree with sklearn/numpy to rounding; the
 * brief allows 1e-6, these are held to 1e-9. Discrete ones (counts, rates that are one integer
 * divided by another, thresholds that are scores) must be identical. */
#define TOL 1e-9

/* ---- small helpers ------------------------------------------------------------------------ */

/* Random pairs: labels ~50/50 (or `pos_rate`), scores label-dependent, rounded to `grid` steps
 * when grid > 0 so ties are common. */
static void random_pairs(uint64_t seed, size_t n, double pos_rate, double grid, double *s, int *y)
{
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        y[i] = h_unit(&st) < pos_rate;
        double v = 0.3 * y[i] + h_unit(&st) * 0.7;
        if (grid > 0) v = round(v / grid) * grid;
        s[i] = v;
    }
    /* Both classes, whatever the draw. */
    y[0] = 1;
    y[1] = 0;
}

static void write_text(const char *path, const char *text, const char *mode)
{
    FILE *f = fopen(path, mode);
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- the sklearn fixture ------------------------------------------------------------------ */

typedef struct fx_case {
    char name[64];
    size_t n, pos, neg;
    double *s;
    int *y;
    int k, explicit_folds;
    int *folds;
    double auc, eer, eer_th;
    int n_far;
    double far[8], tar[8], tar_th[8];
    double best_acc, best_th;
    double k_mean, k_std;
    double k_acc[32], k_th[32];
    size_t k_size[32];
    size_t roc_points, n_roc;
    double roc_th[256], roc_fpr[256], roc_tpr[256];
} fx_case;

static double num(const char *tok)
{
    cr_assert_not_null(tok, "fixture: missing number");
    char *end;
    double v = strtod(tok, &end);
    cr_assert(end != tok && *end == '\0', "fixture: bad number '%s'", tok);
    return v;
}

/* Loads the case called `name` from the fixture (fails the test when it is not there). */
static fx_case *load_case(const char *name)
{
    FILE *f = fopen(FIXTURE, "r");
    cr_assert_not_null(f, "cannot open %s (run tools/make_metric_fixtures.py)", FIXTURE);
    fx_case *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    char *line = NULL;
    size_t cap = 0;
    int in = 0, done = 0;
    while (!done && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL, *key = strtok_r(line, " ", &save);
        if (!key || key[0] == '#') continue;
        if (!strcmp(key, "case")) {
            in = !strcmp(strtok_r(NULL, " ", &save), name);
            if (in) snprintf(c->name, sizeof c->name, "%s", name);
            continue;
        }
        if (!in) continue;
        if (!strcmp(key, "n")) {
            c->n = (size_t)num(strtok_r(NULL, " ", &save));
            strtok_r(NULL, " ", &save);
            c->pos = (size_t)num(strtok_r(NULL, " ", &save));
            strtok_r(NULL, " ", &save);
            c->neg = (size_t)num(strtok_r(NULL, " ", &save));
            c->s = calloc(c->n, sizeof *c->s);
            c->y = calloc(c->n, sizeof *c->y);
            c->folds = calloc(c->n, sizeof *c->folds);
        } else if (!strcmp(key, "scores")) {
            for (size_t i = 0; i < c->n; i++) c->s[i] = num(strtok_r(NULL, " ", &save));
            cr_assert_null(strtok_r(NULL, " ", &save), "%s: too many scores", name);
        } else if (!strcmp(key, "labels")) {
            for (size_t i = 0; i < c->n; i++) c->y[i] = (int)num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "folds")) {
            c->explicit_folds = !strcmp(strtok_r(NULL, " ", &save), "explicit");
            c->k = (int)num(strtok_r(NULL, " ", &save));
            if (c->explicit_folds)
                for (size_t i = 0; i < c->n; i++) c->folds[i] = (int)num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "auc")) {
            c->auc = num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "eer")) {
            c->eer = num(strtok_r(NULL, " ", &save));
            c->eer_th = num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "tar")) {
            c->far[c->n_far] = num(strtok_r(NULL, " ", &save));
            c->tar[c->n_far] = num(strtok_r(NULL, " ", &save));
            c->tar_th[c->n_far] = num(strtok_r(NULL, " ", &save));
            c->n_far++;
        } else if (!strcmp(key, "best_acc")) {
            c->best_acc = num(strtok_r(NULL, " ", &save));
            c->best_th = num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "kfold")) {
            c->k_mean = num(strtok_r(NULL, " ", &save));
            c->k_std = num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "kfold_fold")) {
            int fi = (int)num(strtok_r(NULL, " ", &save));
            cr_assert(fi >= 0 && fi < 32);
            c->k_acc[fi] = num(strtok_r(NULL, " ", &save));
            c->k_th[fi] = num(strtok_r(NULL, " ", &save));
            c->k_size[fi] = (size_t)num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "roc_points")) {
            c->roc_points = (size_t)num(strtok_r(NULL, " ", &save));
        } else if (!strcmp(key, "roc")) {
            cr_assert(c->n_roc < 256);
            c->roc_th[c->n_roc] = num(strtok_r(NULL, " ", &save));
            c->roc_fpr[c->n_roc] = num(strtok_r(NULL, " ", &save));
            c->roc_tpr[c->n_roc] = num(strtok_r(NULL, " ", &save));
            c->n_roc++;
        } else if (!strcmp(key, "end")) {
            done = 1;
        }
    }
    free(line);
    fclose(f);
    cr_assert(done && c->n > 0 && c->n_far == 3 && c->k >= 2, "fixture case '%s' missing or incomplete", name);
    return c;
}

static void free_case(fx_case *c)
{
    free(c->s);
    free(c->y);
    free(c->folds);
    free(c);
}

#define EXPECT_NEAR(got, want, what)                                                               \
    cr_expect(fabs((got) - (want)) <= TOL, "%s %s: got %.17g, sklearn %.17g", c->name, what,       \
              (double)(got), (double)(want))
#define EXPECT_SAME(got, want, what)                                                               \
    cr_expect((got) == (want), "%s %s: got %.17g, sklearn %.17g", c->name, what, (double)(got),    \
              (double)(want))

static void check_case(const char *name)
{
    fx_case *c = load_case(name);
    fcl_error e = {0};
    fcl_roc roc;
    cr_assert_eq(fcl_roc_compute(c->s, c->y, c->n, &roc, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(roc.n_pos, c->pos);
    cr_expect_eq(roc.n_neg, c->neg);
    cr_expect_eq(roc.n_points, c->roc_points, "%s: %zu ROC points, sklearn %zu", name, roc.n_points,
                 c->roc_points);
    /* Point by point against roc_curve(drop_intermediate=False), where the fixture has it. */
    for (size_t i = 0; i < c->n_roc && i < roc.n_points; i++) {
        EXPECT_SAME(roc.thresholds[i], c->roc_th[i], "roc threshold");
        EXPECT_SAME(roc.fpr[i], c->roc_fpr[i], "roc fpr");
        EXPECT_SAME(roc.tpr[i], c->roc_tpr[i], "roc tpr");
    }
    EXPECT_NEAR(fcl_roc_auc(&roc), c->auc, "auc");
    double eer, eer_th;
    fcl_roc_eer(&roc, &eer, &eer_th);
    EXPECT_NEAR(eer, c->eer, "eer");
    if (isinf(c->eer_th)) EXPECT_SAME(eer_th, c->eer_th, "eer threshold");
    else EXPECT_NEAR(eer_th, c->eer_th, "eer threshold");
    for (int j = 0; j < c->n_far; j++) {
        double tar, th;
        cr_assert_eq(fcl_roc_tar_at_far(&roc, c->far[j], &tar, &th, &e), FCL_OK, "%s", e.msg);
        EXPECT_SAME(tar, c->tar[j], "tar@far");
        EXPECT_SAME(th, c->tar_th[j], "tar@far threshold");
    }
    double acc, acc_th;
    fcl_roc_best_accuracy(&roc, &acc, &acc_th);
    EXPECT_SAME(acc, c->best_acc, "best accuracy");
    EXPECT_SAME(acc_th, c->best_th, "best threshold");

    fcl_kfold kf;
    cr_assert_eq(fcl_kfold_accuracy(c->s, c->y, c->explicit_folds ? c->folds : NULL, c->n, c->k, &kf, &e),
                 FCL_OK, "%s", e.msg);
    EXPECT_NEAR(kf.mean, c->k_mean, "k-fold mean");
    EXPECT_NEAR(kf.std, c->k_std, "k-fold std");
    for (int f = 0; f < c->k; f++) {
        EXPECT_SAME(kf.accuracy[f], c->k_acc[f], "fold accuracy");
        EXPECT_SAME(kf.threshold[f], c->k_th[f], "fold threshold");
        cr_expect_eq(kf.size[f], c->k_size[f], "%s fold %d size", name, f);
    }

    /* The one-call summary agrees with the pieces. */
    fcl_verify_opts vo = {.k_folds = c->k, .folds = c->explicit_folds ? c->folds : NULL};
    fcl_verify_result r;
    cr_assert_eq(fcl_verify_evaluate(c->s, c->y, c->n, &vo, &r, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(r.auc, fcl_roc_auc(&roc));
    cr_expect_eq(r.eer, eer);
    cr_expect_eq(r.n_fars, 3);
    for (int j = 0; j < 3; j++) EXPECT_SAME(r.tar[j], c->tar[j], "verify tar");
    cr_expect_eq(r.best_accuracy, acc);
    cr_expect(r.has_kfold && r.kfold.mean == kf.mean);
    char *text = NULL;
    cr_assert_eq(fcl_verify_result_format(&r, &text, &e), FCL_OK, "%s", e.msg);
    cr_expect(strstr(text, "ROC AUC") && strstr(text, "TAR@FAR=0.001") && strstr(text, "-fold accuracy"),
              "summary:\n%s", text);
    cr_log_info("%-12s n=%zu auc=%.6f eer=%.6f best=%.4f %d-fold=%.4f+-%.4f: matches sklearn\n", name,
                c->n, fcl_roc_auc(&roc), eer, acc, c->k, kf.mean, kf.std);
    free(text);
    fcl_verify_result_free(&r);
    fcl_kfold_free(&kf);
    fcl_roc_free(&roc);
    free_case(c);
}

/* Every case of the fixture, each its own test process. */
FCL_TEST_EACH_NAME(sklearn_fixture, fixture_cases, check_case, {"sklearn_doc"}, {"ties"}, {"separated"},
                   {"overlapping"}, {"imbalanced"}, {"lfw_like"}, {"all_tied"}, {"negative"});

/* LFW's pairs.txt lists its folds in order, so per-pair ids and contiguous folds agree. */
Test(sklearn_fixture, lfw_contiguous_equals_explicit)
{
    fx_case *c = load_case("lfw_like");
    fcl_error e = {0};
    fcl_kfold a, b;
    cr_assert_eq(fcl_kfold_accuracy(c->s, c->y, c->folds, c->n, 10, &a, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_kfold_accuracy(c->s, c->y, NULL, c->n, 10, &b, &e), FCL_OK, "%s", e.msg);
    for (int f = 0; f < 10; f++) {
        cr_expect_eq(a.accuracy[f], b.accuracy[f]);
        cr_expect_eq(a.threshold[f], b.threshold[f]);
        cr_expect_eq(a.size[f], 60);
    }
    fcl_kfold_free(&a);
    fcl_kfold_free(&b);
    free_case(c);
}

/* ---- verification: brute force on random data ------------------------------------------- */

/* O(n^2) references written from the definitions, not from the sweep. */
static double brute_auc(const double *s, const int *y, size_t n)
{
    double num_ = 0, pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i]) pos++;
        else neg++;
        if (!y[i]) continue;
        for (size_t j = 0; j < n; j++)
            if (!y[j]) num_ += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
    return num_ / (pos * neg);
}

/* Accuracy of threshold t over the pairs with mask[i] (NULL: all). */
static double acc_at(const double *s, const int *y, const int *fold, int skip, size_t n, double t)
{
    size_t ok = 0, cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (fold && fold[i] == skip) continue;
        cnt++;
        ok += (s[i] >= t) == (y[i] == 1);
    }
    return (double)ok / (double)cnt;
}

static double brute_best_acc(const double *s, const int *y, const int *fold, int skip, size_t n)
{
    double best = acc_at(s, y, fold, skip, n, INFINITY);
    for (size_t i = 0; i < n; i++) {
        if (fold && fold[i] == skip) continue;
        double a = acc_at(s, y, fold, skip, n, s[i]);
        if (a > best) best = a;
    }
    return best;
}

Test(verify_brute, random_with_ties)
{
    enum { N = 400 };
    double s[N], t;
    int y[N], fold[N];
    fcl_error e = {0};
    for (uint64_t seed = 1; seed <= 12; seed++) {
        random_pairs(seed, N, seed % 3 ? 0.5 : 0.15, seed % 2 ? 0.02 : 0, s, y);
        fcl_roc roc;
        cr_assert_eq(fcl_roc_compute(s, y, N, &roc, &e), FCL_OK, "%s", e.msg);
        cr_expect(fabs(fcl_roc_auc(&roc) - brute_auc(s, y, N)) < 1e-12, "seed %d auc", (int)seed);

        /* TAR@FAR: the best TAR among all thresholds whose FAR is within the target. */
        const double fars[] = {0.0, 0.001, 0.01, 0.05, 0.1, 0.3, 1.0};
        for (size_t j = 0; j < sizeof fars / sizeof fars[0]; j++) {
            double best = 0;
            for (size_t i = 0; i < N; i++) {
                size_t tp = 0, fp = 0;
                for (size_t q = 0; q < N; q++) {
                    if (s[q] < s[i]) continue;
                    if (y[q]) tp++;
                    else fp++;
                }
                if ((double)fp / (double)roc.n_neg <= fars[j] && (double)tp / (double)roc.n_pos > best)
                    best = (double)tp / (double)roc.n_pos;
            }
            double tar;
            cr_assert_eq(fcl_roc_tar_at_far(&roc, fars[j], &tar, &t, &e), FCL_OK);
            cr_expect_eq(tar, best, "seed %d far %g: %g vs brute %g", (int)seed, fars[j], tar, best);
        }
        /* EER: FAR and FRR agree at the reported point (a point of the polyline). */
        double eer, eer_th;
        fcl_roc_eer(&roc, &eer, &eer_th);
        cr_expect(eer >= 0 && eer <= 1);

        /* Best accuracy, and the reported threshold achieves it. */
        double acc, th;
        fcl_roc_best_accuracy(&roc, &acc, &th);
        cr_expect(fabs(acc - brute_best_acc(s, y, NULL, -1, N)) < 1e-15, "seed %d best acc", (int)seed);
        cr_expect(fabs(acc_at(s, y, NULL, -1, N, th) - acc) < 1e-15, "seed %d threshold %g", (int)seed, th);

        /* k-fold with random fold ids: each fold's threshold is optimal on the other folds. */
        int k = 2 + (int)(seed % 9);
        uint64_t st = seed * 77;
        for (size_t i = 0; i < N; i++) fold[i] = (int)(h_splitmix64(&st) % (uint64_t)k);
        for (int f = 0; f < k; f++) fold[f] = f; /* no empty fold */
        fcl_kfold kf;
        cr_assert_eq(fcl_kfold_accuracy(s, y, fold, N, k, &kf, &e), FCL_OK, "%s", e.msg);
        double sum = 0, ss = 0;
        for (int f = 0; f < k; f++) {
            double train = brute_best_acc(s, y, fold, f, N);
            cr_expect(fabs(acc_at(s, y, fold, f, N, kf.threshold[f]) - train) < 1e-15,
                      "seed %d fold %d: threshold %g is not optimal on the other folds", (int)seed, f,
                      kf.threshold[f]);
            size_t ok = 0, cnt = 0;
            for (size_t i = 0; i < N; i++)
                if (fold[i] == f) {
                    cnt++;
                    ok += (s[i] >= kf.threshold[f]) == (y[i] == 1);
                }
            cr_expect_eq(kf.size[f], cnt);
            cr_expect_eq(kf.accuracy[f], (double)ok / (double)cnt);
            sum += kf.accuracy[f];
        }
        for (int f = 0; f < k; f++) ss += pow(kf.accuracy[f] - sum / k, 2);
        cr_expect(fabs(kf.mean - sum / k) < 1e-15 && fabs(kf.std - sqrt(ss / k)) < 1e-12);
        fcl_kfold_free(&kf);
        fcl_roc_free(&roc);
    }
}

/* The order of the pairs does not matter. */
Test(verify_brute, order_invariant)
{
    enum { N = 300 };
    double s[N], s2[N];
    int y[N], y2[N];
    fcl_error e = {0};
    random_pairs(99, N, 0.4, 0.05, s, y);
    for (size_t i = 0; i < N; i++) {
        s2[i] = s[N - 1 - i];
        y2[i] = y[N - 1 - i];
    }
    fcl_verify_result a, b;
    cr_assert_eq(fcl_verify_evaluate(s, y, N, NULL, &a, &e), FCL_OK);
    cr_assert_eq(fcl_verify_evaluate(s2, y2, N, NULL, &b, &e), FCL_OK);
    cr_expect_eq(a.auc, b.auc);
    cr_expect_eq(a.eer, b.eer);
    cr_expect_eq(a.eer_threshold, b.eer_threshold);
    cr_expect_eq(a.best_accuracy, b.best_accuracy);
    cr_expect_eq(a.best_threshold, b.best_threshold);
    for (int j = 0; j < 3; j++) cr_expect_eq(a.tar[j], b.tar[j]);
    cr_expect_eq(a.has_kfold, 0);
    fcl_verify_result_free(&a);
    fcl_verify_result_free(&b);
}

/* A large input: the sort-based AUC equals the rank-sum (Mann-Whitney) formula with average ranks
 * for ties, an independent O(n log n) method; a quadratic implementation would time out here. */
static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

Test(verify_brute, large_rank_sum, .timeout = 120)
{
    const size_t n = 400000;
    double *s = malloc(n * sizeof *s), *sorted = malloc(n * sizeof *sorted);
    int *y = malloc(n * sizeof *y);
    cr_assert(s && sorted && y);
    random_pairs(7, n, 0.3, 1e-4, s, y);
    fcl_error e = {0};
    fcl_verify_result r;
    fcl_verify_opts o = {.k_folds = 10};
    cr_assert_eq(fcl_verify_evaluate(s, y, n, &o, &r, &e), FCL_OK, "%s", e.msg);
    /* Rank sum of positives: rank of value v = (number below) + (ties + 1) / 2. */
    memcpy(sorted, s, n * sizeof *s);
    qsort(sorted, n, sizeof *sorted, cmp_dbl);
    double rank_sum = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (!y[i]) continue;
        pos++;
        size_t lo = 0, hi = n; /* first index >= s[i] */
        while (lo < hi) {
            size_t m = (lo + hi) / 2;
            if (sorted[m] < s[i]) lo = m + 1;
            else hi = m;
        }
        size_t lo2 = lo, hi2 = n; /* first index > s[i] */
        while (lo2 < hi2) {
            size_t m = (lo2 + hi2) / 2;
            if (sorted[m] <= s[i]) lo2 = m + 1;
            else hi2 = m;
        }
        rank_sum += (double)lo + ((double)(lo2 - lo) + 1.0) / 2.0;
    }
    double neg = (double)n - pos;
    double auc = (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
    cr_expect(fabs(r.auc - auc) < 1e-9, "auc %.12f vs rank-sum %.12f", r.auc, auc);
    cr_expect(r.kfold.mean > 0.5 && r.kfold.mean <= r.best_accuracy + 0.01);
    fcl_verify_result_free(&r);
    free(s);
    free(sorted);
    free(y);
}

/* ---- verification: bad input -------------------------------------------------------------- */

static void expect_error(fcl_status st, fcl_status want, const fcl_error *e, const char *text)
{
    cr_expect_eq(st, want, "status %s, want %s (%s)", fcl_status_name(st), fcl_status_name(want), e->msg);
    cr_expect(strstr(e->msg, text) != NULL, "message '%s' does not say '%s'", e->msg, text);
}

Test(verify_errors, bad_input)
{
    double s[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    int y[6] = {0, 1, 0, 1, 0, 1};
    fcl_error e = {0};
    fcl_roc roc;
    fcl_kfold kf;

    s[3] = NAN;
    expect_error(fcl_roc_compute(s, y, 6, &roc, &e), FCL_ERR_INVALID_ARG, &e, "score[3] is NaN");
    cr_expect_null(roc.fpr);
    expect_error(fcl_kfold_accuracy(s, y, NULL, 6, 2, &kf, &e), FCL_ERR_INVALID_ARG, &e, "score[3] is NaN");
    s[3] = INFINITY;
    expect_error(fcl_roc_compute(s, y, 6, &roc, &e), FCL_ERR_INVALID_ARG, &e, "score[3] is +inf");
    s[3] = 0.4;
    y[2] = 2;
    expect_error(fcl_roc_compute(s, y, 6, &roc, &e), FCL_ERR_INVALID_ARG, &e, "label[2] is 2");
    y[2] = 0;

    int ones[6] = {1, 1, 1, 1, 1, 1}, zeros[6] = {0};
    expect_error(fcl_roc_compute(s, ones, 6, &roc, &e), FCL_ERR_INVALID_ARG, &e, "all 6 pairs are labelled same (1)");
    expect_error(fcl_roc_compute(s, zeros, 6, &roc, &e), FCL_ERR_INVALID_ARG, &e, "different (0)");
    fcl_verify_result r;
    expect_error(fcl_verify_evaluate(s, ones, 6, NULL, &r, &e), FCL_ERR_INVALID_ARG, &e, "needs both");
    expect_error(fcl_roc_compute(s, y, 1, &roc, &e), FCL_ERR_INVALID_ARG, &e, "at least 2 pairs");
    expect_error(fcl_roc_compute(NULL, y, 6, &roc, &e), FCL_ERR_INVALID_ARG, &e, "NULL");

    /* Accuracy is defined for one class: k-fold accepts it. Training on folds of positives
     * only picks "accept all" at the lowest training score, so fold 0 (the two lowest scores,
     * 0.1 and 0.2, below the others' 0.3) is rejected and folds 1 and 2 are accepted. */
    cr_expect_eq(fcl_kfold_accuracy(s, ones, NULL, 6, 3, &kf, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(kf.threshold[0], 0.3);
    cr_expect_eq(kf.accuracy[0], 0.0);
    cr_expect_eq(kf.accuracy[1], 1.0);
    cr_expect_eq(kf.accuracy[2], 1.0);
    cr_expect(fabs(kf.mean - 2.0 / 3) < 1e-15);
    fcl_kfold_free(&kf);

    expect_error(fcl_kfold_accuracy(s, y, NULL, 6, 1, &kf, &e), FCL_ERR_INVALID_ARG, &e, "k = 1 folds");
    expect_error(fcl_kfold_accuracy(s, y, NULL, 6, 7, &kf, &e), FCL_ERR_INVALID_ARG, &e, "not in [2, 6]");
    int folds[6] = {0, 1, 0, 1, 3, 0};
    expect_error(fcl_kfold_accuracy(s, y, folds, 6, 3, &kf, &e), FCL_ERR_INVALID_ARG, &e, "fold[4] is 3");
    folds[4] = 0;
    expect_error(fcl_kfold_accuracy(s, y, folds, 6, 3, &kf, &e), FCL_ERR_INVALID_ARG, &e, "fold 2 of 3 has no pairs");
    cr_expect_null(kf.accuracy);

    cr_assert_eq(fcl_roc_compute(s, y, 6, &roc, &e), FCL_OK);
    double tar;
    expect_error(fcl_roc_tar_at_far(&roc, 1.5, &tar, NULL, &e), FCL_ERR_INVALID_ARG, &e, "not in [0, 1]");
    expect_error(fcl_roc_tar_at_far(&roc, NAN, &tar, NULL, &e), FCL_ERR_INVALID_ARG, &e, "not in [0, 1]");
    double many[FCL_VERIFY_MAX_FARS + 1] = {0};
    fcl_verify_opts o = {.fars = many, .n_fars = FCL_VERIFY_MAX_FARS + 1};
    expect_error(fcl_verify_evaluate(s, y, 6, &o, &r, &e), FCL_ERR_INVALID_ARG, &e, "FAR targets");
    fcl_roc_free(&roc);
}

/* ---- classification ----------------------------------------------------------------------- */

Test(classify, topk_hand_made)
{
    /* 5 rows x 6 classes. Label ranks (ties to the lower index):
     * row 0: label 2 is the max                      -> rank 0
     * row 1: label 4, two classes above              -> rank 2
     * row 2: label 3 ties with class 1 (lower index) -> rank 1; with class 5 (higher): no effect
     * row 3: label 0, five classes above             -> rank 5
     * row 4: label 5, all equal                      -> rank 5 */
    const float logits[5 * 6] = {
        0.1f, 0.2f, 3.0f, -1.0f, 0.0f, 0.5f,
        5.0f, 0.0f, 0.0f, 4.0f, 1.0f, -2.0f,
        0.0f, 2.0f, 0.0f, 2.0f, 1.0f, 2.0f,
        -9.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f,
        1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
    };
    const int labels[5] = {2, 4, 3, 0, 5};
    const int ks[] = {1, 2, 3, 5, 6, 10};
    size_t correct[6];
    fcl_error e = {0};
    cr_assert_eq(fcl_topk_correct(logits, labels, 5, 6, ks, 6, correct, &e), FCL_OK, "%s", e.msg);
    /* ranks {0, 2, 1, 5, 5} */
    cr_expect_eq(correct[0], 1);
    cr_expect_eq(correct[1], 2);
    cr_expect_eq(correct[2], 3);
    cr_expect_eq(correct[3], 3);
    cr_expect_eq(correct[4], 5); /* k = c: every row */
    cr_expect_eq(correct[5], 5); /* k > c too */
    double a1, a5;
    cr_assert_eq(fcl_topk_accuracy(logits, labels, 5, 6, 1, &a1, &e), FCL_OK);
    cr_assert_eq(fcl_topk_accuracy(logits, labels, 5, 6, 5, &a5, &e), FCL_OK);
    cr_expect_eq(a1, 0.2);
    cr_expect_eq(a5, 0.6);

    int pred[5];
    cr_assert_eq(fcl_argmax_rows(logits, 5, 6, pred, &e), FCL_OK);
    const int want[5] = {2, 0, 1, 5, 0};
    for (int i = 0; i < 5; i++) cr_expect_eq(pred[i], want[i], "row %d argmax %d", i, pred[i]);
    /* Top-1 agrees with argmax == label. */
    size_t top1 = 0;
    for (int i = 0; i < 5; i++) top1 += pred[i] == labels[i];
    cr_expect_eq(top1, correct[0]);
}

Test(classify, errors)
{
    float logits[2 * 3] = {0, 1, 2, 3, 4, 5};
    int labels[2] = {0, 2}, ks[1] = {1};
    size_t correct;
    fcl_error e = {0};
    logits[5] = NAN;
    expect_error(fcl_topk_correct(logits, labels, 2, 3, ks, 1, &correct, &e), FCL_ERR_INVALID_ARG, &e,
                 "logit [1, 2] is NaN");
    int pred[2];
    expect_error(fcl_argmax_rows(logits, 2, 3, pred, &e), FCL_ERR_INVALID_ARG, &e, "logit [1, 2] is NaN");
    logits[5] = 5;
    labels[1] = 3;
    expect_error(fcl_topk_correct(logits, labels, 2, 3, ks, 1, &correct, &e), FCL_ERR_INVALID_ARG, &e,
                 "label[1] is 3");
    labels[1] = 2;
    ks[0] = 0;
    expect_error(fcl_topk_correct(logits, labels, 2, 3, ks, 1, &correct, &e), FCL_ERR_INVALID_ARG, &e, "k = 0");
    int p[2] = {0, -1};
    size_t m[9];
    expect_error(fcl_confusion_counts(p, labels, 2, 3, m, &e), FCL_ERR_INVALID_ARG, &e, "pred[1] is -1");
    fcl_class_report r;
    expect_error(fcl_class_report_compute(p, labels, 2, 3, &r, &e), FCL_ERR_INVALID_ARG, &e, "pred[1] is -1");
}

Test(classify, report_matches_sklearn)
{
    /* sklearn.metrics.classification_report(y, pred, digits=6) gives (class 3 absent):
     *   0: 0.500000 0.500000 0.500000 2;  1: 0.666667 1.000000 0.800000 2;
     *   2: 1.000000 0.666667 0.800000 3;  accuracy 0.714286;
     *   macro 0.722222 0.722222 0.700000; weighted 0.761905 0.714286 0.714286 */
    const int y[7] = {0, 0, 1, 1, 2, 2, 2};
    const int p[7] = {0, 1, 1, 1, 2, 0, 2};
    fcl_error e = {0};
    size_t m[16];
    cr_assert_eq(fcl_confusion_counts(p, y, 7, 4, m, &e), FCL_OK);
    const size_t want_m[16] = {1, 1, 0, 0, 0, 2, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) cr_expect_eq(m[i], want_m[i], "confusion[%d][%d]", i / 4, i % 4);

    fcl_class_report r;
    cr_assert_eq(fcl_class_report_compute(p, y, 7, 4, &r, &e), FCL_OK, "%s", e.msg);
    const double P[3] = {0.5, 2.0 / 3, 1.0}, R[3] = {0.5, 1.0, 2.0 / 3}, F[3] = {0.5, 0.8, 0.8};
    const size_t S[3] = {2, 2, 3};
    for (int j = 0; j < 3; j++) {
        cr_expect(fabs(r.precision[j] - P[j]) < 1e-15, "precision[%d] %g", j, r.precision[j]);
        cr_expect(fabs(r.recall[j] - R[j]) < 1e-15, "recall[%d] %g", j, r.recall[j]);
        cr_expect(fabs(r.f1[j] - F[j]) < 1e-15, "f1[%d] %g", j, r.f1[j]);
        cr_expect_eq(r.support[j], S[j]);
    }
    cr_expect_eq(r.support[3], 0);
    cr_expect_eq(r.n_present, 3);
    cr_expect(fabs(r.accuracy - 5.0 / 7) < 1e-15);
    cr_expect(fabs(r.macro_precision - 0.7222222222222222) < 1e-12);
    cr_expect(fabs(r.macro_recall - 0.7222222222222222) < 1e-12);
    cr_expect(fabs(r.macro_f1 - 0.7000000000000001) < 1e-12);
    cr_expect(fabs(r.weighted_precision - 0.7619047619047619) < 1e-12);
    cr_expect(fabs(r.weighted_recall - 0.7142857142857143) < 1e-12);
    cr_expect(fabs(r.weighted_f1 - 0.7142857142857143) < 1e-12);

    const char *names[4] = {"Aaron_Eckhart", "Abdullah_Gul",
                            "A_very_long_identity_name_that_goes_on_and_on_forever", "Zico"};
    char *text = NULL;
    cr_assert_eq(fcl_class_report_format(&r, names, &text, &e), FCL_OK);
    cr_expect(strstr(text, "Aaron_Eckhart") && strstr(text, "Abdullah_Gul"), "%s", text);
    cr_expect(strstr(text, "A_very_long_identity_name_that_goes_o...") != NULL, "%s", text);
    cr_expect(strstr(text, "Zico") == NULL, "absent class shown:\n%s", text);
    cr_expect(strstr(text, "0.6667") && strstr(text, "0.7143") && strstr(text, "(1 of 4 classes not shown"),
              "%s", text);
    cr_log_info("class report:\n%s", text);
    free(text);
    cr_assert_eq(fcl_class_report_format(&r, NULL, &text, &e), FCL_OK);
    cr_expect(strstr(text, "class 2") != NULL, "%s", text);
    free(text);
    fcl_class_report_free(&r);
}

Test(classify, predictions_csv)
{
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/pred.csv", dir);
    const char *ids[3] = {"a/img_001.jpg", "b,with comma.png", "say \"cheese\".jpg"};
    const char *names[2] = {"Alice", "Bob, Jr."};
    const int pred[3] = {1, 0, 1};
    fcl_error e = {0};
    cr_assert_eq(fcl_predictions_write_csv(path, ids, pred, 3, 2, names, &e), FCL_OK, "%s", e.msg);
    char *text = fcl_test_slurp_n(path, NULL);
    cr_expect_str_eq(text, "id,label\na/img_001.jpg,\"Bob, Jr.\"\n\"b,with comma.png\",Alice\n"
                           "\"say \"\"cheese\"\".jpg\",\"Bob, Jr.\"\n");
    free(text);
    fcl_csv_table t;
    cr_assert_eq(fcl_csv_read(path, &t, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(t.n_rows, 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_str_eq(fcl_csv_cell(&t, (size_t)i, 0), ids[i]);
        cr_expect_str_eq(fcl_csv_cell(&t, (size_t)i, 1), names[pred[i]]);
    }
    fcl_csv_free(&t);
    cr_assert_eq(fcl_predictions_write_csv(path, ids, pred, 3, 2, NULL, &e), FCL_OK);
    text = fcl_test_slurp_n(path, NULL);
    cr_expect(strstr(text, "a/img_001.jpg,1\n") != NULL, "%s", text);
    free(text);
    const int bad[1] = {2};
    expect_error(fcl_predictions_write_csv(path, ids, bad, 1, 2, names, &e), FCL_ERR_INVALID_ARG, &e,
                 "pred[0] is 2");
    cr_assert(fcl_test_rm_rf(dir));
}

/* ---- CSV log ------------------------------------------------------------------------------ */

Test(csvlog, round_trip_and_resume)
{
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/train.csv", dir);
    const char *cols[4] = {"epoch", "loss", "val acc", "note"};
    fcl_csvlog log;
    fcl_error e = {0};
    cr_assert_eq(fcl_csvlog_open(&log, path, cols, 4, 0, &e), FCL_OK, "%s", e.msg);
    const double r1[4] = {1, 2.5, 0.125, NAN};
    cr_assert_eq(fcl_csvlog_write_numbers(&log, r1, &e), FCL_OK, "%s", e.msg);
    const char *r2[4] = {"2", "1.75", "0.5", "lr drop, \"warm\"\nrestart"};
    cr_assert_eq(fcl_csvlog_write(&log, r2, &e), FCL_OK, "%s", e.msg);
    /* Flushed per row: visible to another reader before close. */
    char *text = fcl_test_slurp_n(path, NULL);
    cr_expect_str_eq(text, "epoch,loss,val acc,note\n1,2.5,0.125,nan\n"
                           "2,1.75,0.5,\"lr drop, \"\"warm\"\"\nrestart\"\n");
    free(text);
    cr_assert_eq(fcl_csvlog_close(&log, &e), FCL_OK);

    /* Resume: append keeps the rows, no second header. */
    cr_assert_eq(fcl_csvlog_open(&log, path, cols, 4, FCL_CSVLOG_APPEND, &e), FCL_OK, "%s", e.msg);
    const double r3[4] = {3, 1.0 / 3, 1e-7, -INFINITY};
    cr_assert_eq(fcl_csvlog_write_numbers(&log, r3, &e), FCL_OK);
    cr_assert_eq(fcl_csvlog_close(&log, &e), FCL_OK);

    fcl_csv_table t;
    cr_assert_eq(fcl_csv_read(path, &t, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(t.n_cols, 4);
    cr_assert_eq(t.n_rows, 3);
    cr_expect_eq(t.torn_tail, 0);
    cr_expect_eq(fcl_csv_column(&t, "val acc"), 2);
    cr_expect_eq(fcl_csv_column(&t, "nope"), -1);
    cr_expect_str_eq(fcl_csv_cell(&t, 1, 3), r2[3]);
    cr_expect_str_eq(fcl_csv_cell(&t, 2, 1), "0.3333333333");
    cr_expect_str_eq(fcl_csv_cell(&t, 2, 2), "1e-07");
    cr_expect_str_eq(fcl_csv_cell(&t, 2, 3), "-inf");
    cr_expect_eq(t.lines[2], 5, "row 3 starts on line %zu (the quoted newline counts)", t.lines[2]);
    cr_expect_null(fcl_csv_cell(&t, 3, 0));
    fcl_csv_free(&t);

    /* A different header cannot be appended to. */
    const char *other[2] = {"epoch", "acc"};
    expect_error(fcl_csvlog_open(&log, path, other, 2, FCL_CSVLOG_APPEND, &e), FCL_ERR_FORMAT, &e,
                 "[epoch,loss,val acc,note] but this run writes [epoch,acc]");
    cr_expect_null(log.f);

    /* Truncate for a resume after epoch 2. */
    size_t kept = 0;
    cr_assert_eq(fcl_csvlog_truncate(path, "epoch", 2, &kept, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(kept, 2);
    cr_assert_eq(fcl_csv_read(path, &t, &e), FCL_OK);
    cr_expect_eq(t.n_rows, 2);
    cr_expect_str_eq(fcl_csv_cell(&t, 1, 3), r2[3]);
    fcl_csv_free(&t);
    expect_error(fcl_csvlog_truncate(path, "nope", 2, NULL, &e), FCL_ERR_FORMAT, &e, "no column named 'nope'");
    expect_error(fcl_csvlog_truncate(path, "note", 2, NULL, &e), FCL_ERR_FORMAT, &e, "is not a number");
    cr_assert(fcl_test_rm_rf(dir));
}

Test(csvlog, torn_tail_and_crash)
{
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/log.csv", dir);
    const char *cols[2] = {"epoch", "loss"};
    fcl_error e = {0};

    /* A process that dies without closing its log has still written every row. */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        fcl_csvlog l;
        fcl_error ce = {0};
        if (fcl_csvlog_open(&l, path, cols, 2, 0, &ce)) _exit(2);
        const double v[2] = {1, 0.5};
        if (fcl_csvlog_write_numbers(&l, v, &ce)) _exit(3);
        abort(); /* no close, no exit handlers */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "child should have aborted (status %d)", status);
    char *text = fcl_test_slurp_n(path, NULL);
    cr_expect_str_eq(text, "epoch,loss\n1,0.5\n");
    free(text);

    /* A torn last row (crash inside a write) is ignored by the reader and cut by append. */
    write_text(path, "2,0.2", "ab");
    fcl_csv_table t;
    cr_assert_eq(fcl_csv_read(path, &t, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(t.n_rows, 1);
    cr_expect_eq(t.torn_tail, 1);
    cr_expect_eq(t.valid_len, strlen("epoch,loss\n1,0.5\n"));
    fcl_csv_free(&t);
    fcl_csvlog log;
    cr_assert_eq(fcl_csvlog_open(&log, path, cols, 2, FCL_CSVLOG_APPEND, &e), FCL_OK, "%s", e.msg);
    const double v2[2] = {2, 0.25};
    cr_assert_eq(fcl_csvlog_write_numbers(&log, v2, &e), FCL_OK);
    cr_assert_eq(fcl_csvlog_close(&log, &e), FCL_OK);
    text = fcl_test_slurp_n(path, NULL);
    cr_expect_str_eq(text, "epoch,loss\n1,0.5\n2,0.25\n");
    free(text);

    /* An open quote at the end is torn too; truncate drops it. */
    write_text(path, "3,\"unfinished\n", "ab");
    size_t kept;
    cr_assert_eq(fcl_csvlog_truncate(path, "epoch", 100, &kept, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(kept, 2);
    text = fcl_test_slurp_n(path, NULL);
    cr_expect_str_eq(text, "epoch,loss\n1,0.5\n2,0.25\n");
    free(text);

    /* Append to a missing file, or one holding only a torn header, starts fresh. */
    write_text(path, "epo", "wb");
    cr_assert_eq(fcl_csvlog_open(&log, path, cols, 2, FCL_CSVLOG_APPEND, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_csvlog_close(&log, &e), FCL_OK);
    text = fcl_test_slurp_n(path, NULL);
    cr_expect_str_eq(text, "epoch,loss\n");
    free(text);
    cr_assert(fcl_test_rm_rf(dir));
}

Test(csvlog, parser_errors)
{
    fcl_csv_table t;
    fcl_error e = {0};
    const char *ok = "a,b\r\n1,\"x\"\"y\"\r\n\r\n2,\n";
    cr_assert_eq(fcl_csv_parse(ok, strlen(ok), "ok.csv", &t, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(t.n_rows, 2);
    cr_expect_str_eq(fcl_csv_cell(&t, 0, 1), "x\"y");
    cr_expect_str_eq(fcl_csv_cell(&t, 1, 1), "");
    cr_expect_eq(t.lines[1], 4);
    fcl_csv_free(&t);

    const char *wrong = "a,b\n1,2\n3,4,5\n";
    expect_error(fcl_csv_parse(wrong, strlen(wrong), "w.csv", &t, &e), FCL_ERR_FORMAT, &e,
                 "w.csv:3: row has 3 fields, the header has 2");
    cr_expect_null(t.header);
    const char *junk = "a,b\n\"1\"x,2\n";
    expect_error(fcl_csv_parse(junk, strlen(junk), "j.csv", &t, &e), FCL_ERR_FORMAT, &e,
                 "j.csv:2: unexpected character after a closing quote");
    const char nul[] = "a,b\n1,\0\n";
    expect_error(fcl_csv_parse(nul, sizeof nul - 1, "n.csv", &t, &e), FCL_ERR_FORMAT, &e, "NUL byte at offset 6");
    expect_error(fcl_csv_parse("", 0, "e.csv", &t, &e), FCL_ERR_FORMAT, &e, "no complete header row");
    expect_error(fcl_csv_read("/nonexistent/x.csv", &t, &e), FCL_ERR_IO, &e, "/nonexistent/x.csv");

    /* A one-column log with an empty field reads back as a row, not as a blank line. */
    char dir[64], path[128];
    fcl_test_tmpdir(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/one.csv", dir);
    const char *col[1] = {"note"};
    const char *row[1] = {""};
    fcl_csvlog log;
    cr_assert_eq(fcl_csvlog_open(&log, path, col, 1, 0, &e), FCL_OK);
    cr_assert_eq(fcl_csvlog_write(&log, row, &e), FCL_OK);
    cr_assert_eq(fcl_csvlog_close(&log, &e), FCL_OK);
    cr_assert_eq(fcl_csv_read(path, &t, &e), FCL_OK);
    cr_expect_eq(t.n_rows, 1);
    fcl_csv_free(&t);
    cr_assert(fcl_test_rm_rf(dir));
}

/* ---- plots -------------------------------------------------------------------------------- */

/* Rows of column x whose pixel is close to colour rgb; returns their mean row (or -1). */
static double colour_rows(const fcl_image *img, int x, uint32_t rgb, int *count)
{
    size_t plane = (size_t)img->h * (size_t)img->w;
    double sum = 0;
    int n = 0;
    for (int y = 0; y < img->h; y++) {
        int d = 0;
        for (int k = 0; k < 3; k++) {
            int want = (int)((rgb >> (16 - 8 * k)) & 0xff);
            int got = (int)lrintf(img->data[(size_t)k * plane + (size_t)y * (size_t)img->w + (size_t)x] * 255);
            d += abs(want - got);
        }
        if (d <= 24) {
            sum += y;
            n++;
        }
    }
    if (count) *count = n;
    return n ? sum / n : -1;
}

Test(plot, png_smoke_and_determinism)
{
    char dir[64], p1[128], p2[128];
    fcl_test_tmpdir(dir, sizeof dir, "metrics");
    snprintf(p1, sizeof p1, "%s/loss.png", dir);
    snprintf(p2, sizeof p2, "%s/loss2.png", dir);
    double ep[12], tr[12], va[12];
    for (int i = 0; i < 12; i++) {
        ep[i] = i + 1;
        tr[i] = 3.0 / (i + 1);
        va[i] = 3.5 / (i + 1) + 0.2;
    }
    fcl_plot_series s[2] = {{.label = "train", .x = ep, .y = tr, .n = 12},
                            {.label = "val", .x = ep, .y = va, .n = 12, .dashed = 1, .markers = 1}};
    fcl_plot_opts o = {.width = 640, .height = 400, .x_integer_ticks = 1};
    fcl_error e = {0};
    cr_assert_eq(fcl_plot_lines(p1, "Loss", "epoch", "loss", s, 2, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_plot_lines(p2, "Loss", "epoch", "loss", s, 2, &o, &e), FCL_OK, "%s", e.msg);
    size_t l1, l2;
    char *b1 = fcl_test_slurp_n(p1, &l1), *b2 = fcl_test_slurp_n(p2, &l2);
    cr_expect(l1 == l2 && memcmp(b1, b2, l1) == 0, "two renders differ");
    cr_expect(l1 > 8 && memcmp(b1, "\x89PNG\r\n\x1a\n", 8) == 0, "not a PNG signature");
    free(b1);
    free(b2);

    fcl_image img;
    cr_assert_eq(fcl_image_decode_file(p1, 3, &img, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(img.w, 640);
    cr_expect_eq(img.h, 400);
    size_t plane = (size_t)img.w * (size_t)img.h, ink = 0, blue = 0, orange = 0;
    for (size_t i = 0; i < plane; i++) {
        float r = img.data[i], g = img.data[plane + i], b = img.data[2 * plane + i];
        if (r < 0.98f || g < 0.98f || b < 0.98f) ink++;
        if (fabsf(r - 0x1f / 255.f) < 0.05f && fabsf(g - 0x77 / 255.f) < 0.05f && fabsf(b - 0xb4 / 255.f) < 0.05f) blue++;
        if (fabsf(r - 1.0f) < 0.05f && fabsf(g - 0x7f / 255.f) < 0.05f && fabsf(b - 0x0e / 255.f) < 0.05f) orange++;
    }
    cr_expect(ink > plane / 100, "only %zu non-background pixels", ink);
    cr_expect(blue > 300 && orange > 200, "series colours: %zu blue, %zu orange pixels", blue, orange);
    fcl_image_free(&img);
    cr_assert(fcl_test_rm_rf(dir));
}

/* Up is up: of two horizontal lines the larger y is drawn higher, both inside the image. */
Test(plot, orientation)
{
    double x[2] = {0, 1}, lo[2] = {0.2, 0.2}, hi[2] = {0.8, 0.8};
    fcl_plot_series s[2] = {{.x = x, .y = lo, .n = 2, .color = FCL_PLOT_RGB(255, 0, 0)},
                            {.x = x, .y = hi, .n = 2, .color = FCL_PLOT_RGB(0, 0, 255)}};
    fcl_plot_opts o = {.x_fixed = 1, .x_min = 0, .x_max = 1, .y_fixed = 1, .y_min = 0, .y_max = 1};
    fcl_image img;
    fcl_error e = {0};
    cr_assert_eq(fcl_plot_render(NULL, NULL, NULL, s, 2, &o, &img, &e), FCL_OK, "%s", e.msg);
    int nr, nb;
    double yr = colour_rows(&img, img.w / 2, 0xff0000, &nr), yb = colour_rows(&img, img.w / 2, 0x0000ff, &nb);
    cr_expect(nr >= 1 && nr <= 4 && nb >= 1 && nb <= 4, "line thickness: %d red, %d blue rows", nr, nb);
    cr_expect(yb < yr, "y = 0.8 (row %.1f) should be above y = 0.2 (row %.1f)", yb, yr);
    /* 0.2 and 0.8 are symmetric about the middle of the plot area. */
    double mid = (yr + yb) / 2;
    cr_expect(mid > img.h * 0.35 && mid < img.h * 0.65, "middle row %.1f of %d", mid, img.h);
    fcl_image_free(&img);
}

Test(plot, roc_log_axis)
{
    /* A ROC with FAR = 0 points: they sit on the left edge of the log axis. */
    double far[5] = {0, 0, 0.001, 0.1, 1}, tar[5] = {0, 0.6, 0.8, 0.95, 1};
    fcl_plot_series s = {.label = "model", .x = far, .y = tar, .n = 5};
    fcl_plot_opts o = {.log_x = 1, .y_fixed = 1, .y_min = 0, .y_max = 1, .diagonal = 1};
    fcl_image img, img2;
    fcl_error e = {0};
    cr_assert_eq(fcl_plot_render("ROC", "FAR", "TAR", &s, 1, &o, &img, &e), FCL_OK, "%s", e.msg);
    cr_expect_eq(img.w, 900);
    cr_expect_eq(img.h, 600);
    o.diagonal = 0;
    cr_assert_eq(fcl_plot_render("ROC", "FAR", "TAR", &s, 1, &o, &img2, &e), FCL_OK, "%s", e.msg);
    size_t plane = (size_t)img.w * (size_t)img.h, diff = 0;
    for (size_t i = 0; i < 3 * plane; i++) diff += img.data[i] != img2.data[i];
    cr_expect(diff > 200, "the diagonal changed only %zu values", diff);
    fcl_image_free(&img);
    fcl_image_free(&img2);
}

Test(plot, errors)
{
    double x[3] = {NAN, NAN, NAN}, y[3] = {1, 2, 3};
    fcl_plot_series s = {.x = x, .y = y, .n = 3};
    fcl_image img;
    fcl_error e = {0};
    expect_error(fcl_plot_render(NULL, NULL, NULL, &s, 1, NULL, &img, &e), FCL_ERR_INVALID_ARG, &e,
                 "no finite x to plot");
    x[0] = -1;
    x[1] = 0;
    fcl_plot_opts lg = {.log_x = 1};
    expect_error(fcl_plot_render(NULL, NULL, NULL, &s, 1, &lg, &img, &e), FCL_ERR_INVALID_ARG, &e,
                 "values > 0");
    fcl_plot_opts fx = {.log_x = 1, .x_fixed = 1, .x_min = 0, .x_max = 1};
    expect_error(fcl_plot_render(NULL, NULL, NULL, &s, 1, &fx, &img, &e), FCL_ERR_INVALID_ARG, &e,
                 "range above 0");
    fcl_plot_opts tiny = {.width = 50, .height = 50};
    expect_error(fcl_plot_render(NULL, NULL, NULL, &s, 1, &tiny, &img, &e), FCL_ERR_INVALID_ARG, &e, "50x50");
    fcl_plot_series bad = {.label = "b", .x = NULL, .y = y, .n = 3};
    expect_error(fcl_plot_render(NULL, NULL, NULL, &bad, 1, NULL, &img, &e), FCL_ERR_INVALID_ARG, &e, "NULL x or y");
    expect_error(fcl_plot_lines("/nonexistent-dir/p.png", NULL, NULL, NULL, &s, 1, NULL, &e), FCL_ERR_IO,
                 &e, "plot /nonexistent-dir/p.png");
}

/* The vector formats, chosen by the extension: an SVG (deterministic) and a PDF with the plot's
 * text, written atomically (a failed write names the path and leaves nothing behind). */
Test(plot, svg_and_pdf)
{
    char dir[64], p1[128], p2[128], p3[128], bad[160];
    fcl_test_tmpdir(dir, sizeof dir, "metrics");
    snprintf(p1, sizeof p1, "%s/roc.svg", dir);
    snprintf(p2, sizeof p2, "%s/roc2.SVG", dir);
    snprintf(p3, sizeof p3, "%s/roc.pdf", dir);
    double far[5] = {0, 0, 0.001, 0.1, 1}, tar[5] = {0, 0.6, 0.8, 0.95, 1};
    fcl_plot_series s = {.label = "model", .x = far, .y = tar, .n = 5, .markers = 1};
    fcl_plot_opts o = {.width = 500, .height = 400, .log_x = 1, .y_fixed = 1, .y_min = 0, .y_max = 1, .diagonal = 1};
    fcl_error e = {0};
    cr_assert_eq(fcl_plot_lines(p1, "ROC", "FAR", "TAR", &s, 1, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_plot_lines(p2, "ROC", "FAR", "TAR", &s, 1, &o, &e), FCL_OK, "%s", e.msg);
    cr_assert_eq(fcl_plot_lines(p3, "ROC", "FAR", "TAR", &s, 1, &o, &e), FCL_OK, "%s", e.msg);
    size_t l1, l2, l3;
    char *b1 = fcl_test_slurp_n(p1, &l1), *b2 = fcl_test_slurp_n(p2, &l2), *b3 = fcl_test_slurp_n(p3, &l3);
    /* the same bytes but for Cairo's per-process surface number, id="surfaceN" */
    for (char *b = b1; (b = strstr(b, "id=\"surface")); b++) memset(b + 11, '#', strcspn(b + 11, "\""));
    for (char *b = b2; (b = strstr(b, "id=\"surface")); b++) memset(b + 11, '#', strcspn(b + 11, "\""));
    cr_expect(l1 == l2 && memcmp(b1, b2, l1) == 0, "two SVG renders differ");
    cr_expect(strstr(b1, "<svg") && strstr(b1, "width=\"500") && strstr(b1, "height=\"400"), "not a 500x400 SVG: %.300s", b1);
    /* the series colour (Tableau blue) and the grey dashed diagonal are strokes */
    cr_expect(strstr(b1, "stroke:rgb(12.156863%,46.666667%,70.588235%)"), "no series stroke in the SVG");
    cr_expect(strstr(b1, "stroke-dasharray"), "no dashed line in the SVG");
    cr_expect(l3 > 8 && memcmp(b3, "%PDF-", 5) == 0, "not a PDF");
    cr_expect(memmem(b3, l3, "MediaBox [ 0 0 500 400 ]", 24) != NULL, "PDF page is not 500 x 400 pt");
    free(b1);
    free(b2);
    free(b3);
    snprintf(bad, sizeof bad, "%s/no-such-dir/roc.pdf", dir);
    expect_error(fcl_plot_lines(bad, NULL, NULL, NULL, &s, 1, &o, &e), FCL_ERR_IO, &e, "plot ");
    cr_expect(strstr(e.msg, "no-such-dir/roc.pdf") && strstr(e.msg, "ENOENT"), "%s", e.msg);
    cr_assert(fcl_test_rm_rf(dir));
}
