#!/usr/bin/python3
"""tools/make_metric_fixtures.py: writes tests/fixtures/metrics_sklearn.txt, the verification-metric
values that tests/test_metrics.c checks facecl against, computed independently with scikit-learn
and numpy.

Run with Debian's Python (apt-get install python3-sklearn), from the repository root:
    /usr/bin/python3 tools/make_metric_fixtures.py
The output is deterministic for a given numpy (fixed seeds); the versions used are recorded in the
file's header. Re-run it only when a case is added.

Conventions (the same as include/facecl/metrics.h documents for the C side):
  * a pair is accepted at threshold t when score >= t; label 1 = same, 0 = different;
  * ROC = sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False), with the first
    threshold written as inf (sklearn 1.2 writes max(score) + 1 there, >= 1.3 writes inf);
  * AUC = sklearn.metrics.roc_auc_score (cross-checked against the Mann-Whitney count);
  * EER: with g = fpr + tpr - 1 along the ROC, the first point i with g_i >= 0; if g_i == 0 the
    EER is fpr_i at thresholds_i, else linear interpolation inside segment (i-1, i) at
    t = -g_{i-1} / (g_i - g_{i-1}): EER = fpr_{i-1} + t (fpr_i - fpr_{i-1}), threshold
    thr_{i-1} + t (thr_i - thr_{i-1}), or thr_i when point i-1 is the starting point (thr inf).
    Cross-checked against the usual brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1);
  * TAR@FAR: the largest tpr among ROC points with fpr <= FAR, and that point's threshold;
  * best accuracy: max over ROC points of (tp + (N - fp)) / n, ties to the first (highest)
    threshold (np.argmax); cross-checked by brute force over all candidate thresholds. The
    threshold reported is the middle of the score gap below that point, 0.5 s_i + 0.5 s_{i+1}
    (s_i itself if rounding leaves the gap), s_last for the last point, inf for the first;
  * k-fold accuracy (LFW protocol): for fold f, the best-accuracy threshold of the other folds'
    pairs, evaluated on fold f; mean and np.std (population, ddof = 0) of the fold accuracies.
    Contiguous folds are sklearn.model_selection.KFold(k, shuffle=False).

Scores are written with repr() (shortest round-trip) and every value is computed from the
parsed-back doubles, so C's strtod sees exactly the numbers this script used.
"""
import math
import os
import sys

import numpy as np
import scipy
import sklearn
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import KFold

FARS = (1e-1, 1e-2, 1e-3)
ROC_POINTS_MAX = 250  # write the whole curve only for cases with at most this many points
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "metrics_sklearn.txt")


def fnum(x):
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def quantize(values, decimals):
    """Rounds to `decimals` and returns the doubles a decimal parser reads back."""
    return np.array([float(f"{v:.{decimals}f}") for v in values])


def sweep(s, y):
    """Threshold sweep in counts: thresholds (inf first), tp and fp at each distinct score."""
    order = np.argsort(-s, kind="mergesort")
    ss, ys = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(ss))[0], len(ss) - 1]
    tps = np.cumsum(ys)[last]
    fps = last + 1 - tps
    return np.r_[np.inf, ss[last]], np.r_[0, tps], np.r_[0, fps]


def gap_middle(a, b):
    m = 0.5 * a + 0.5 * b
    return m if b < m <= a else a


def best_accuracy(s, y):
    thr, tps, fps = sweep(s, y)
    neg = int(np.sum(y == 0))
    correct = tps + (neg - fps)
    i = int(np.argmax(correct))
    th = thr[i] if i == 0 or i == len(thr) - 1 else gap_middle(thr[i], thr[i + 1])
    # Any threshold in the gap accepts the same pairs as point i.
    assert np.array_equal(s >= th, s >= thr[i])
    return correct[i] / len(s), th


def best_accuracy_brute(s, y):
    best, best_t = -1.0, None
    for t in np.r_[np.inf, np.unique(s)[::-1]]:
        acc = np.mean((s >= t) == (y == 1))
        if acc > best:
            best, best_t = acc, t
    return best, best_t  # the ROC point's own threshold (not the gap middle)


def eer(fpr, tpr, thr):
    g = fpr + tpr - 1.0
    i = int(np.argmax(g >= 0))
    if g[i] == 0:
        return fpr[i], thr[i]
    t = -g[i - 1] / (g[i] - g[i - 1])
    e = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    th = thr[i] if i - 1 == 0 else thr[i - 1] + t * (thr[i] - thr[i - 1])
    return e, th


def kfold(s, y, folds, k):
    accs, ths, sizes = [], [], []
    for f in range(k):
        train, test = folds != f, folds == f
        _, th = best_accuracy(s[train], y[train])
        accs.append(np.mean((s[test] >= th) == (y[test] == 1)))
        ths.append(th)
        sizes.append(int(np.sum(test)))
    accs = np.array(accs)
    return float(np.mean(accs)), float(np.std(accs)), accs, ths, sizes


def contiguous_folds(n, k):
    folds = np.empty(n, dtype=int)
    for f, (_, test) in enumerate(KFold(n_splits=k, shuffle=False).split(np.zeros(n))):
        folds[test] = f
    return folds


def case_lines(name, s, y, k, folds=None):
    y = np.asarray(y, dtype=int)
    s = np.asarray(s, dtype=float)
    n = len(s)
    pos, neg = int(y.sum()), int(n - y.sum())
    assert pos > 0 and neg > 0

    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    assert thr[0] == np.inf or thr[0] == s.max() + 1
    thr = thr.copy()
    thr[0] = np.inf
    # Our own sweep gives the same curve.
    t2, tps, fps = sweep(s, y)
    assert np.array_equal(t2, thr) and np.array_equal(fps / neg, fpr) and np.array_equal(tps / pos, tpr)

    auc = roc_auc_score(y, s)
    sp, sn = s[y == 1][:, None], s[y == 0][None, :]
    mw = (np.sum(sp > sn) + 0.5 * np.sum(sp == sn)) / (pos * neg)
    assert abs(auc - mw) < 1e-12, (auc, mw)

    e, e_th = eer(fpr, tpr, thr)
    e_brent = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
    assert abs(e - e_brent) < 1e-9, (name, e, e_brent)

    lines = [f"case {name}", f"n {n} pos {pos} neg {neg}",
             "scores " + " ".join(fnum(v) for v in s),
             "labels " + " ".join(str(v) for v in y)]
    if folds is None:
        fold_ids = contiguous_folds(n, k)
        lines.append(f"folds contiguous {k}")
    else:
        fold_ids = np.asarray(folds, dtype=int)
        lines.append(f"folds explicit {k} " + " ".join(str(v) for v in fold_ids))

    lines.append(f"auc {fnum(auc)}")
    lines.append(f"eer {fnum(e)} {fnum(e_th)}")
    for far in FARS:
        i = int(np.nonzero(fpr <= far)[0][-1])
        ok = (fpr <= far)
        assert tpr[i] == tpr[ok].max()
        lines.append(f"tar {fnum(far)} {fnum(tpr[i])} {fnum(thr[i])}")
    acc, acc_th = best_accuracy(s, y)
    b_acc, b_th = best_accuracy_brute(s, y)
    assert acc == b_acc and np.array_equal(s >= acc_th, s >= b_th), (name, acc, b_acc, acc_th, b_th)
    lines.append(f"best_acc {fnum(acc)} {fnum(acc_th)}")
    mean, std, accs, ths, sizes = kfold(s, y, fold_ids, k)
    lines.append(f"kfold {fnum(mean)} {fnum(std)}")
    for f in range(k):
        lines.append(f"kfold_fold {f} {fnum(accs[f])} {fnum(ths[f])} {sizes[f]}")
    lines.append(f"roc_points {len(thr)}")
    if len(thr) <= ROC_POINTS_MAX:
        for a, b, c in zip(thr, fpr, tpr):
            lines.append(f"roc {fnum(a)} {fnum(b)} {fnum(c)}")
    lines.append("end")
    print(f"{name:14s} n={n:5d} pos={pos:4d} neg={neg:4d} points={len(thr):5d} auc={auc:.6f} "
          f"eer={e:.6f} acc={acc:.4f} {k}-fold={mean:.4f}+-{std:.4f}", file=sys.stderr)
    return lines


def shuffled(rng, s, y):
    p = rng.permutation(len(s))
    return np.asarray(s)[p], np.asarray(y)[p]


def main():
    rng = np.random.default_rng(20240606)
    out = [f"# tests/fixtures/metrics_sklearn.txt: written by tools/make_metric_fixtures.py with "
           f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, scipy {scipy.__version__}.",
           "# Conventions: see the script's docstring. One block per case, `case` ... `end`."]

    # The example of sklearn's roc_auc_score docs.
    out += case_lines("sklearn_doc", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 2)

    # Heavy ties: scores on a 0.1 grid.
    n = 60
    y = rng.integers(0, 2, n)
    s = quantize(np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1), 1)
    out += case_lines("ties", s, y, 10)

    # Perfectly separated (AUC 1, EER 0).
    s = np.r_[rng.normal(0.75, 0.05, 40), rng.normal(0.15, 0.05, 40)]
    s, y = shuffled(rng, quantize(s, 4), np.r_[np.ones(40), np.zeros(40)].astype(int))
    out += case_lines("separated", s, y, 10)

    # Overlapping classes, random (non-contiguous) fold ids.
    s = np.r_[rng.normal(0.45, 0.15, 100), rng.normal(0.30, 0.15, 100)]
    s, y = shuffled(rng, quantize(s, 6), np.r_[np.ones(100), np.zeros(100)].astype(int))
    out += case_lines("overlapping", s, y, 5, folds=rng.permutation(200) % 5)

    # Imbalanced: many impostors, so FAR 1e-3 means something; 4 decimals make a few ties.
    s = np.r_[rng.normal(0.55, 0.15, 50), rng.normal(0.10, 0.12, 2000)]
    s, y = shuffled(rng, quantize(s, 4), np.r_[np.ones(50), np.zeros(2000)].astype(int))
    out += case_lines("imbalanced", s, y, 10)

    # LFW-like: 10 folds, each 30 same pairs then 30 different ones, cosine-like scores.
    s_all, y_all, f_all = [], [], []
    for f in range(10):
        s_all += list(np.clip(rng.normal(0.55, 0.12, 30), -1, 1))
        s_all += list(np.clip(rng.normal(0.12, 0.12, 30), -1, 1))
        y_all += [1] * 30 + [0] * 30
        f_all += [f] * 60
    out += case_lines("lfw_like", quantize(s_all, 6), y_all, 10, folds=f_all)

    # Every score equal: the ROC is one step from (0, 0) to (1, 1).
    out += case_lines("all_tied", [0.5] * 10, [1, 0] * 5, 5)

    # Negative scores (cosine similarity spans [-1, 1]), uneven contiguous folds (31 / 3).
    n = 31
    y = rng.integers(0, 2, n)
    s = quantize(np.clip(-0.2 + 0.6 * y + rng.normal(0, 0.35, n), -1, 1), 3)
    out += case_lines("negative", s, y, 3)

    with open(OUT, "w") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
