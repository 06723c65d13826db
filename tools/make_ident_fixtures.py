#!/usr/bin/python3
"""tools/make_ident_fixtures.py: writes tests/fixtures/ident_sklearn.txt, the 1:N identification values
(ranks, top-K, CMC, rank-1/5, DIR at FAR and its threshold, decision accuracy) that tests/test_identify.c
checks facecl against, computed independently with numpy and cross-checked with scikit-learn.

Run with Debian's Python (apt-get install python3-sklearn), from the repository root:
    /usr/bin/python3 tools/make_ident_fixtures.py
Deterministic (fixed seeds). Re-run it only when a case is added.

Conventions (the same as include/facecl/identify.h documents for the C side):
  * a probe's score for an identity is its score column (mean templates) or the largest of the
    identity's columns (--match max, one column per gallery image);
  * order: higher score first, equal scores to the lower identity index; rank = position of the
    true identity in that order (0-based); impostors (identity not in the gallery) have rank -1;
  * CMC[r] = genuine probes with rank <= r / genuine probes; rank-1 = CMC[0], rank-5 = CMC[min(4, G-1)];
  * accepted at threshold t when best >= t; FAR(t) = impostors accepted / impostors;
    DIR(t) = genuine probes with rank 0 and best >= t / genuine probes;
  * DIR at FAR x: the lowest threshold among +inf and the distinct best scores of all probes with
    FAR(t) <= x, and DIR / FAR there;
  * decision accuracy at T: (genuine with rank 0 and best >= T + impostors with best < T) / probes.
Rates over an empty set are written as nan. Scores are float32 values (written with repr of the
double they equal), so the C side reads exactly the numbers used here.
"""
import math
import os
import sys

import numpy as np
import sklearn
from sklearn.metrics import roc_curve, top_k_accuracy_score

FARS = (1e-1, 1e-2, 1e-3)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ident_sklearn.txt")


def fnum(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def identity_scores(s, cols, n_ids):
    if cols is None:
        return s.astype(np.float64)
    v = np.full((s.shape[0], n_ids), -np.inf)
    for j, c in enumerate(cols):
        v[:, c] = np.maximum(v[:, c], s[:, j])
    return v


def order_of(v):
    # Stable sort of -score: ties keep the lower index first.
    return np.argsort(-v, axis=1, kind="stable")


def dir_at_far(best, rank, far):
    imp = rank < 0
    n_imp, n_gen = int(imp.sum()), int((rank >= 0).sum())
    if n_imp == 0:
        return math.nan, math.nan, math.nan
    cands = np.r_[np.inf, np.unique(best)[::-1]]
    chosen = None
    for t in cands:  # decreasing; keep the last (lowest) that still meets the target
        if np.sum(best[imp] >= t) / n_imp <= far:
            chosen = t
    acc = np.sum(best[imp] >= chosen)
    ident = np.sum((rank == 0) & (best >= chosen))
    d = ident / n_gen if n_gen else math.nan
    return d, chosen, acc / n_imp


def case_lines(name, s, true, n_ids, k, thr, cols=None):
    s = np.asarray(s, dtype=np.float32)
    true = np.asarray(true, dtype=int)
    P, C = s.shape
    v = identity_scores(s, cols, n_ids)
    order = order_of(v)
    kk = min(k, n_ids)
    top = order[:, :kk]
    rank = np.full(P, -1)
    for p in range(P):
        if true[p] >= 0:
            rank[p] = int(np.nonzero(order[p] == true[p])[0][0])
            # The same rank counted directly.
            t = true[p]
            assert rank[p] == np.sum(v[p] > v[p, t]) + np.sum(v[p, :t] == v[p, t])
    best = v[np.arange(P), order[:, 0]]
    gen = rank >= 0
    n_gen, n_imp = int(gen.sum()), int((~gen).sum())
    cmc = np.array([np.sum(rank[gen] <= r) / n_gen if n_gen else math.nan for r in range(n_ids)])
    rank1, rank5 = cmc[0], cmc[min(4, n_ids - 1)]

    # scikit-learn cross-checks, where their conventions agree with ours.
    if n_gen and cols is None and n_ids > 2:
        ties = any(len(np.unique(v[p])) < n_ids for p in np.nonzero(gen)[0])
        if not ties:
            for kx in (1, min(5, n_ids - 1)):
                sk = top_k_accuracy_score(true[gen], v[gen], k=kx, labels=np.arange(n_ids))
                assert abs(sk - cmc[kx - 1]) < 1e-12, (name, kx, sk, cmc[kx - 1])
    dirs = [dir_at_far(best, rank, f) for f in FARS]
    correct = gen & (rank == 0)
    if n_imp and correct.sum():
        # DIR from sklearn's ROC of "identified genuine" (1) against impostors (0): the largest
        # TPR at FPR <= x, rescaled from identified to all genuine probes.
        sel = correct | ~gen
        fpr, tpr, _ = roc_curve(correct[sel].astype(int), best[sel], drop_intermediate=False)
        for f, (d, _, _) in zip(FARS, dirs):
            sk = tpr[fpr <= f].max() * correct.sum() / n_gen
            assert abs(sk - d) < 1e-12, (name, f, sk, d)

    acc_cnt = {
        "gc": int(np.sum(gen & (best >= thr) & (rank == 0))),
        "gw": int(np.sum(gen & (best >= thr) & (rank > 0))),
        "gr": int(np.sum(gen & (best < thr))),
        "ir": int(np.sum(~gen & (best < thr))),
        "ia": int(np.sum(~gen & (best >= thr))),
    }
    accuracy = (acc_cnt["gc"] + acc_cnt["ir"]) / P

    lines = [f"case {name}", f"shape {P} {C} {n_ids} {k}", f"threshold {fnum(thr)}",
             "cols " + ("identity" if cols is None else " ".join(str(c) for c in cols)),
             "true " + " ".join(str(t) for t in true),
             "scores " + " ".join(fnum(x) for x in s.ravel()),
             "rank " + " ".join(str(r) for r in rank),
             "best " + " ".join(fnum(b) for b in best),
             "top " + " ".join(str(i) for i in top.ravel()),
             "cmc " + " ".join(fnum(c) for c in cmc),
             f"rank1 {fnum(rank1)} rank5 {fnum(rank5)}"]
    for f, (d, t, fa) in zip(FARS, dirs):
        lines.append(f"dir {fnum(f)} {fnum(d)} {fnum(t)} {fnum(fa)}")
    lines.append(f"accuracy {fnum(accuracy)} {acc_cnt['gc']} {acc_cnt['gw']} {acc_cnt['gr']} {acc_cnt['ir']} {acc_cnt['ia']}")
    lines.append("end")
    print(f"{name:14s} P={P:4d} cols={C:4d} ids={n_ids:3d} genuine={n_gen:4d} impostors={n_imp:4d} "
          f"rank1={rank1:.4f} dir@1e-2={dirs[1][0]:.4f} acc={accuracy:.4f}", file=sys.stderr)
    return lines


def probes(rng, P, n_ids, imp_frac, signal, grid=None, cols=None):
    """Cosine-like scores: each genuine probe leans towards its identity's columns."""
    true = np.where(rng.random(P) < imp_frac, -1, rng.integers(0, n_ids, P))
    C = n_ids if cols is None else len(cols)
    colid = np.arange(n_ids) if cols is None else np.asarray(cols)
    s = rng.normal(0.0, 0.2, (P, C))
    for p in range(P):
        if true[p] >= 0:
            s[p, colid == true[p]] += signal
    s = np.clip(s, -1, 1)
    if grid:
        s = np.round(s * grid) / grid
    return s.astype(np.float32), true


def main():
    rng = np.random.default_rng(20261206)
    out = [f"# tests/fixtures/ident_sklearn.txt: written by tools/make_ident_fixtures.py with "
           f"scikit-learn {sklearn.__version__}, numpy {np.__version__}.",
           "# Conventions: see the script's docstring. One block per case, `case` ... `end`."]

    # Hand-made: every tie rule at once (3 identities, scores on a 1/4 grid).
    s = np.array([[0.5, 0.5, 0.25],    # true 1: tied with 0 at the top -> rank 1
                  [0.75, 0.5, 0.75],   # true 2: tied with 0 -> rank 1; best 0.75
                  [0.25, 0.25, 0.25],  # true 0: all tied -> rank 0
                  [0.5, 0.25, 0.0],    # impostor, best 0.5
                  [0.75, 0.0, 0.0],    # impostor, best 0.75 (ties probe 1's best)
                  [0.0, 0.25, 0.5]],   # true 2 -> rank 0
                 dtype=np.float32)
    out += case_lines("hand", s, [1, 2, 0, -1, -1, 2], 3, 2, 0.5)

    # Heavy ties: scores on a 1/8 grid.
    s, t = probes(rng, 60, 8, 0.3, 0.5, grid=8)
    out += case_lines("ties", s, t, 8, 5, 0.5)

    # Realistic size, no ties expected (float32 noise): sklearn's top-k agrees.
    s, t = probes(rng, 200, 30, 0.33, 0.45)
    out += case_lines("random", s, t, 30, 10, 0.42)

    # Many impostors, so FAR 1e-3 means something.
    s, t = probes(rng, 1500, 10, 0.8, 0.6, grid=1024)
    out += case_lines("many_impostors", s, t, 10, 5, 0.55)

    # --match max: 6 identities with 1..4 images each (columns not grouped), 1/16 grid.
    cols = [0, 1, 1, 2, 3, 3, 3, 4, 5, 5, 2, 0, 4, 4, 3]
    s, t = probes(rng, 50, 6, 0.3, 0.4, grid=16, cols=cols)
    out += case_lines("max_mode", s, t, 6, 3, 0.375, cols=cols)

    # Edge cases: no impostors (DIR at FAR undefined), no genuine probes (ranks undefined),
    # a single identity, and a top K larger than the gallery.
    s, t = probes(rng, 30, 7, 0.0, 0.5, grid=64)
    out += case_lines("no_impostors", s, t, 7, 3, 0.5)
    s, t = probes(rng, 30, 7, 1.0, 0.5, grid=64)
    out += case_lines("no_genuine", s, t, 7, 3, 0.25)
    s, t = probes(rng, 12, 1, 0.5, 0.5, grid=32)
    out += case_lines("one_identity", s, t, 1, 5, 0.3)

    with open(OUT, "w") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
