/* facecl/metrics.h: verification metrics (ROC, AUC, EER, TAR@FAR, k-fold accuracy) and classification metrics (top-k, per-class report). */
#ifndef FACECL_METRICS_H
#define FACECL_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================
 * Verification: a list of pairs, each with a similarity score (higher = more alike, e.g. the
 * cosine similarity of two embeddings) and a label (1 = same person / genuine, 0 = different /
 * impostor). A pair is accepted at threshold t when score >= t.
 *
 * Input rules shared by every function below: scores must be finite (a NaN or infinite score
 * is an error naming its index), labels must be 0 or 1 (anything else is an error naming its
 * index). The ROC-based metrics need both classes; a list with only one is an error saying
 * which class is missing. Everything is O(n log n) (one sort).
 * ========================================================================================== */

/* The ROC curve, point for point what sklearn.metrics.roc_curve(labels, scores,
 * drop_intermediate=False) returns: one point per distinct score value, plus the starting
 * point (0, 0). Point i accepts every pair with score >= thresholds[i]; tied scores are never
 * split (all pairs of one score value enter the curve in one step).
 *   thresholds[0] = +INFINITY (accepts nothing; sklearn >= 1.3 also uses inf, older versions
 *   max(score) + 1), then the distinct scores in decreasing order.
 *   fpr = FAR = fp / n_neg, tpr = TAR = 1 - FRR = tp / n_pos, both non-decreasing from 0 to 1. */
typedef struct fcl_roc {
    size_t n_points;       /* number of distinct scores + 1 */
    size_t n_pos, n_neg;   /* pairs labelled 1 / 0 */
    double *thresholds;    /* [n_points] */
    double *fpr, *tpr;     /* [n_points] */
    size_t *tp, *fp;       /* [n_points] the counts behind tpr / fpr */
} fcl_roc;

/* Computes the ROC of n pairs into *out (caller frees with fcl_roc_free; *out is zeroed on
 * error). n must be in [2, 2^31). */
fcl_status fcl_roc_compute(const double *scores, const int *labels, size_t n, fcl_roc *out,
                           fcl_error *err);
void fcl_roc_free(fcl_roc *roc);

/* Area under the ROC by the trapezoid rule over all points; equals
 * sklearn.metrics.roc_auc_score, ties included (a tie between a positive and a negative counts
 * one half). Computed from the integer counts, so it is exact up to one final rounding. */
double fcl_roc_auc(const fcl_roc *roc);

/* Equal error rate: the point where FAR == FRR (fpr == 1 - tpr).
 * Interpolation: along the ROC polyline. With g_i = fpr_i + tpr_i - 1 (non-decreasing, -1 at the
 * first point, +1 at the last), take the first point i with g_i >= 0. If g_i == 0 the EER is
 * fpr_i and the threshold thresholds[i]. Otherwise the crossing lies inside the segment from
 * point i-1 to point i at t = -g_{i-1} / (g_i - g_{i-1}); the EER is fpr_{i-1} + t (fpr_i -
 * fpr_{i-1}) (which equals 1 - tpr at the same t) and the threshold is interpolated with the
 * same t, thresholds[i-1] + t (thresholds[i] - thresholds[i-1]), except when point i-1 is the
 * starting point (threshold +inf), where it is thresholds[i]. This is the same number as the
 * common brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1) recipe, without the root
 * finder. `threshold` may be NULL. */
void fcl_roc_eer(const fcl_roc *roc, double *eer, double *threshold);

/* TAR at a FAR target: the largest tpr over the ROC points with fpr <= far (compared as the
 * double fp / n_neg <= far, as numpy would), and the threshold of that point. No
 * interpolation: the rate is one that a real threshold achieves on these pairs. When even the
 * highest score's step exceeds the target, the answer is the starting point: TAR 0 at threshold
 * +inf. far must be in [0, 1]. `threshold` may be NULL. */
fcl_status fcl_roc_tar_at_far(const fcl_roc *roc, double far, double *tar, double *threshold,
                              fcl_error *err);

/* Best-threshold accuracy: the largest (tp + (n_neg - fp)) / n over the ROC points (ties go to
 * the first point, the highest threshold: np.argmax), and a threshold that achieves it. Every
 * threshold in (s_next, s_i] accepts the same pairs as point i (s_i its score, s_next the next
 * lower distinct score), so the one reported is the middle of that gap, 0.5 s_i + 0.5 s_next:
 * the choice farthest from the pairs on either side, which is what a threshold carried over to
 * new pairs (the k-fold protocol below) should be. The last point (accept all) reports the
 * lowest score, the first (reject all) +inf. `threshold` may be NULL. */
void fcl_roc_best_accuracy(const fcl_roc *roc, double *accuracy, double *threshold);

/* k-fold verification accuracy (the LFW protocol): for each fold f the threshold is the
 * best-accuracy threshold (exactly as fcl_roc_best_accuracy: ties to the higher threshold, the
 * middle of the score gap) of the pairs of all other folds, and the fold's accuracy is that
 * threshold's accuracy (accept score >= threshold) on the pairs of f.
 * The result is the mean of the k fold accuracies and their population standard deviation
 * (ddof = 0, np.std), which is what insightface's and facenet's LFW evaluation report.
 * O(n log n + k n): one sort, one scan per fold. */
typedef struct fcl_kfold {
    int k;
    double mean, std;      /* over the k fold accuracies; std with ddof = 0 */
    double *accuracy;      /* [k] accuracy on fold f */
    double *threshold;     /* [k] threshold chosen on the other folds (may be +inf) */
    size_t *size;          /* [k] pairs in fold f */
} fcl_kfold;

/* folds: per pair its fold in [0, k) (e.g. fcl_pair.fold of an LFW list), or NULL to assign
 * contiguous folds like sklearn's KFold(k, shuffle=False): the first n % k folds hold
 * n / k + 1 pairs, the others n / k, in list order (LFW's pairs.txt lists its folds in order,
 * so both give the same folds there). k must be in [2, n]; a fold without pairs is an error.
 * The other folds may hold a single class (accuracy is still defined). Free with
 * fcl_kfold_free; *out is zeroed on error. */
fcl_status fcl_kfold_accuracy(const double *scores, const int *labels, const int *folds,
                              size_t n, int k, fcl_kfold *out, fcl_error *err);
void fcl_kfold_free(fcl_kfold *kf);

/* Everything `facecl verify` reports, in one call. */
#define FCL_VERIFY_MAX_FARS 16

typedef struct fcl_verify_opts {
    const double *fars;    /* TAR@FAR targets; NULL: 1e-1, 1e-2, 1e-3 */
    int n_fars;            /* at most FCL_VERIFY_MAX_FARS */
    int k_folds;           /* 0: no k-fold accuracy; else k >= 2 */
    const int *folds;      /* per-pair fold ids in [0, k_folds), or NULL for contiguous folds */
} fcl_verify_opts;

typedef struct fcl_verify_result {
    size_t n, n_pos, n_neg;
    double auc;
    double eer, eer_threshold;
    int n_fars;
    double far[FCL_VERIFY_MAX_FARS], tar[FCL_VERIFY_MAX_FARS],
        tar_threshold[FCL_VERIFY_MAX_FARS];
    double best_accuracy, best_threshold;
    int has_kfold;
    fcl_kfold kfold;       /* when has_kfold */
    fcl_roc roc;           /* the whole curve, for plots */
} fcl_verify_result;

/* opts may be NULL (default FARs, no k-fold). Free with fcl_verify_result_free; *out is zeroed
 * on error. */
fcl_status fcl_verify_evaluate(const double *scores, const int *labels, size_t n,
                               const fcl_verify_opts *opts, fcl_verify_result *out,
                               fcl_error *err);
void fcl_verify_result_free(fcl_verify_result *r);

/* A human-readable summary (several lines, each ending in '\n'), malloc'd into *text:
 *   pairs        6000 (3000 same, 3000 different)
 *   ROC AUC      0.998712
 *   EER          1.2667 %  (threshold 0.312345)
 *   TAR@FAR=0.1  ...
 * The caller frees *text. */
fcl_status fcl_verify_result_format(const fcl_verify_result *r, char **text, fcl_error *err);

/* ============================================================================================
 * Classification: logits [n, c] row-major (float, as downloaded from the device) and integer
 * labels in [0, c). A NaN logit is an error naming its row and column; a label out of range is
 * an error naming its index.
 * ========================================================================================== */

/* Counts, for each ks[j], the rows whose label is among the ks[j] largest logits. Ranking: the
 * label's rank is the number of classes with a larger logit plus the number of classes with an
 * equal logit and a smaller index (ties broken towards the lower class index, like np.argmax
 * and a stable sort); a row is correct at k when rank < k. k >= c counts every row (as sklearn's
 * top_k_accuracy_score does). ks[j] >= 1. correct[j] receives the count for ks[j]. Counts (not
 * rates) so that batches can be summed. */
fcl_status fcl_topk_correct(const float *logits, const int *labels, size_t n, int c,
                            const int *ks, int n_ks, size_t *correct, fcl_error *err);

/* correct / n for one k. */
fcl_status fcl_topk_accuracy(const float *logits, const int *labels, size_t n, int c, int k,
                             double *accuracy, fcl_error *err);

/* pred[i] = argmax of row i (first maximum: the lowest class index among ties). */
fcl_status fcl_argmax_rows(const float *logits, size_t n, int c, int *pred, fcl_error *err);

/* Confusion counts: m[t * c + p] += 1 for each sample with true label t predicted as p. m has
 * c * c entries and is zeroed first (it is the caller's: c * c can be large for many classes,
 * which is why the per-class report below does not need it). */
fcl_status fcl_confusion_counts(const int *pred, const int *labels, size_t n, int c,
                                size_t *m, fcl_error *err);

/* Per-class precision / recall / F1 / support, as sklearn's classification_report.
 * precision = tp / predicted, recall = tp / support, F1 their harmonic mean; a 0/0 is 0 (as
 * sklearn with zero_division=0). A class is "present" when it has support or predictions; the
 * macro averages are over present classes (sklearn's classes inferred from labels and
 * predictions), the weighted averages weigh each class by its support. */
typedef struct fcl_class_report {
    int n_classes;
    size_t n;                       /* samples */
    size_t *tp;                     /* [n_classes] correctly predicted samples of the class */
    size_t *support;                /* [n_classes] samples whose label is the class */
    size_t *predicted;              /* [n_classes] samples predicted as the class */
    double *precision, *recall, *f1;/* [n_classes] */
    double accuracy;                /* sum tp / n */
    int n_present;
    double macro_precision, macro_recall, macro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
} fcl_class_report;

fcl_status fcl_class_report_compute(const int *pred, const int *labels, size_t n, int c,
                                    fcl_class_report *out, fcl_error *err);
void fcl_class_report_free(fcl_class_report *r);

/* The report as a text table (malloc'd into *text, caller frees): one row per present class
 * with its name (names[i], or "class i" when names is NULL; names longer than 40 bytes are cut
 * with "..."), precision, recall, F1 (4 decimals) and support, then accuracy and the macro /
 * weighted averages, and a line counting the classes left out for having neither support nor
 * predictions. */
fcl_status fcl_class_report_format(const fcl_class_report *r, const char *const *names,
                                   char **text, fcl_error *err);

/* Writes predictions as CSV with the header `id,label`: one row per sample, ids[i] and the
 * class name names[pred[i]] (or the class index when names is NULL), fields quoted as
 * RFC 4180 requires. Written atomically (temp file + rename). pred values must be in [0, c). */
fcl_status fcl_predictions_write_csv(const char *path, const char *const *ids, const int *pred,
                                     size_t n, int c, const char *const *names,
                                     fcl_error *err);

#ifdef __cplusplus
}
#endif
#endif
