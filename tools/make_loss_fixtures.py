#!/usr/bin/python3
"""tools/make_loss_fixtures.py: writes tests/fixtures/losses_torch.bin, PyTorch values of the face-verification losses.

Run once (the output is committed; tests never need torch):
    apt-get install -y python3-torch python3-numpy
    /usr/bin/python3 tools/make_loss_fixtures.py          # writes tests/fixtures/losses_torch.bin

Each loss is a straightforward PyTorch implementation written here from the papers / the common
reference code (not from facecl), evaluated in float64 on float32-exact inputs; the gradients
are torch.autograd's, of the loss itself (upstream gradient 1). tests/test_losses_torch.c checks
facecl's OpenCL ops against it (rel 1e-4 forward, 1e-3 backward).

Cases (N rows, D dims, K classes):
  arcface       insightface's ArcMarginProduct (s 32, m 0.5, th / mm handling), then
                F.cross_entropy; rows 1, 5, 9 point away from their class (cos < th branch)
  arcface_easy  the same with easy_margin (phi only where cos > 0)
  cosface       CosFace s 30, m 0.35, cross-entropy with label_smoothing 0.1
  sphereface    A-Softmax as sphereface_pytorch (AngleLinear + AngleLoss): Chebyshev cos(m theta),
                k from acos, psi = (-1)^k cos(m theta) - 2k, logits scaled by ||x||, target
                (lambda cos + psi) / (1 + lambda), m 4, lambda 5
  center        0.5 * mean_i ||x_i - c_{y_i}||^2, grads to x and the centres, plus Wen et al.'s
                centre update (alpha 0.5) as centers_updated
  triplet_bh    batch-hard mining (Hermans et al.), Euclidean distances, margin 0.3
  triplet_sh    semi-hard mining (FaceNet; fallback: the hardest negative), squared distances
                of unit embeddings, margin 0.2; all (anchor, positive) pairs
  contrastive   Hadsell-Chopra-LeCun on pairs, margin 1.25
  histogram     Ustinova & Lempitsky, 21 bins, linear interpolation into neighbouring bins
Records per case: <case>.params (see each function), .x, .labels, .loss [1], .dx, and per case
.w / .dw (margin heads), .centers / .dcenters / .centers_updated (center), .b / .db / .y
(contrastive). Mining and branch decisions are checked to be far from ties (a float32 device
must decide the same way).

File format: as tools/make_op_fixtures.py (magic "FCLFIX1\\0", u32 version 1, u32 record count,
64-byte generator string, then records: u32 name length, name, u32 ndim, ndim u32 extents,
prod(extents) float32 values).
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "losses_torch.bin")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_op_fixtures import put_case, write_and_list  # noqa: E402  (the FCLFIX1 records and writer)


def rand(gen, *shape, lo=-1.0, hi=1.0):
    """float32-exact random values in [lo, hi) as float64."""
    t = torch.rand(*shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo
    return t.to(torch.float64)


def f32(t):
    return t.to(torch.float32).to(torch.float64)


# ---- margin heads ------------------------------------------------------------------------------

def arc_logits(x, w, labels, s, m, easy):
    cos_m, sin_m = math.cos(m), math.sin(m)
    th, mm = math.cos(math.pi - m), math.sin(math.pi - m) * m
    cosine = F.linear(F.normalize(x), F.normalize(w))
    sine = torch.sqrt((1.0 - torch.pow(cosine, 2)).clamp(0, 1))
    phi = cosine * cos_m - sine * sin_m
    if easy:
        phi = torch.where(cosine > 0, phi, cosine)
    else:
        phi = torch.where(cosine > th, phi, cosine - mm)
    one_hot = torch.zeros_like(cosine).scatter_(1, labels.view(-1, 1), 1.0)
    return s * (one_hot * phi + (1.0 - one_hot) * cosine), cosine


def cos_logits(x, w, labels, s, m):
    cosine = F.linear(F.normalize(x), F.normalize(w))
    one_hot = torch.zeros_like(cosine).scatter_(1, labels.view(-1, 1), 1.0)
    return s * (cosine - one_hot * m), cosine


def sphere_logits(x, w, labels, m, lamb):
    # sphereface_pytorch's AngleLinear (phiflag=True) and AngleLoss with lamb fixed
    mlambda = [lambda c: c ** 0, lambda c: c, lambda c: 2 * c ** 2 - 1, lambda c: 4 * c ** 3 - 3 * c,
               lambda c: 8 * c ** 4 - 8 * c ** 2 + 1]
    xlen = x.pow(2).sum(1).pow(0.5)
    wn = F.normalize(w)
    cos_theta = (x @ wn.t()) / xlen.view(-1, 1)
    cos_theta = cos_theta.clamp(-1, 1)
    cos_m_theta = mlambda[m](cos_theta)
    theta = cos_theta.detach().acos()
    k = (m * theta / math.pi).floor().clamp(max=m - 1)   # theta = pi gives k = m - 1
    phi_theta = (-1.0) ** k * cos_m_theta - 2 * k
    one_hot = torch.zeros_like(cos_theta).scatter_(1, labels.view(-1, 1), 1.0)
    target = (lamb * cos_theta + phi_theta) / (1 + lamb)
    out = one_hot * target + (1.0 - one_hot) * cos_theta
    return out * xlen.view(-1, 1), cos_theta


def head_inputs(gen, n, d, k, away):
    x = rand(gen, n, d)
    w = rand(gen, k, d)
    labels = torch.randint(0, k, (n,), generator=gen)
    for i in away:   # point away from the own class: cos near -1
        x[i] = f32(-w[labels[i]] + 0.05 * x[i])
    return x, w, labels


def head_case(gen, name, kind, s, m, easy, lamb, smoothing, n=11, d=16, k=13):
    # params: kind (0 CosFace, 1 ArcFace, 2 SphereFace) s m easy_margin lambda label_smoothing
    x, w, labels = head_inputs(gen, n, d, k, [1, 5, 9])
    x.requires_grad_(True)
    w.requires_grad_(True)
    if kind == 0:
        logits, cosine = cos_logits(x, w, labels, s, m)
    elif kind == 1:
        logits, cosine = arc_logits(x, w, labels, s, m, easy)
        ct = cosine.detach().gather(1, labels.view(-1, 1)).view(-1)
        edge = 0.0 if easy else math.cos(math.pi - m)
        assert (ct - edge).abs().min() > 1e-3, "%s: a target cosine sits on the branch switch" % name
        assert (ct < edge).any() and (ct > edge).any(), "%s: need both branches" % name
    else:
        logits, cosine = sphere_logits(x, w, labels, int(m), lamb)
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    loss.backward()
    put_case(name, params=torch.tensor([kind, s, m, 1 if easy else 0, lamb, smoothing]), x=x, w=w,
             labels=labels.to(torch.float64), loss=loss.reshape(1), dx=x.grad, dw=w.grad)


# ---- center loss ----------------------------------------------------------------------------------

def center_case(gen, name, n, d, k, alpha):
    # params: alpha
    x = rand(gen, n, d).requires_grad_(True)
    c = rand(gen, k, d).requires_grad_(True)
    labels = torch.randint(0, k, (n,), generator=gen)
    loss = 0.5 * ((x - c[labels]) ** 2).sum(1).mean()
    loss.backward()
    # Wen et al.: delta c_j = sum_{y_i = j} (c_j - x_i) / (1 + n_j); c_j -= alpha delta c_j
    cu = c.detach().clone()
    for j in range(k):
        rows = (labels == j).nonzero().view(-1)
        if len(rows) == 0:
            continue
        delta = (c.detach()[j] - x.detach()[rows]).sum(0) / (1 + len(rows))
        cu[j] = c.detach()[j] - alpha * delta
    put_case(name, params=torch.tensor([alpha]), x=x, centers=c, labels=labels.to(torch.float64),
             loss=loss.reshape(1), dx=x.grad, dcenters=c.grad, centers_updated=cu)


# ---- triplet -----------------------------------------------------------------------------------------

def pdist(x, squared):
    diff = x.unsqueeze(1) - x.unsqueeze(0)
    d2 = (diff ** 2).sum(2)
    if squared:
        return d2
    # sqrt only off the diagonal (its derivative at 0 is undefined; the diagonal is never used)
    eye = torch.eye(len(x), dtype=torch.bool)
    return torch.where(eye, torch.zeros_like(d2), torch.sqrt(torch.where(eye, torch.ones_like(d2), d2)))


def mine(dist, labels, mining, margin):
    """(a, p, n) triplets, ties to the lowest index, from a plain float64 distance matrix."""
    n = len(labels)
    trips = []
    for a in range(n):
        negs = [j for j in range(n) if labels[j] != labels[a]]
        poss = [j for j in range(n) if j != a and labels[j] == labels[a]]
        if not negs or not poss:
            continue
        hn = min(negs, key=lambda j: (dist[a][j], j))
        if mining == 0:
            hp = max(poss, key=lambda j: (dist[a][j], -j))
            trips.append((a, hp, hn))
        else:
            for p in poss:
                dp = dist[a][p]
                semi = [j for j in negs if dp < dist[a][j] < dp + margin]
                sn = min(semi, key=lambda j: (dist[a][j], j)) if semi else hn
                trips.append((a, p, sn))
    return trips


def triplet_signature(x, labels, mining, margin, squared):
    dist = pdist(x, squared).tolist()
    trips = mine(dist, labels, mining, margin)
    return trips, [dist[a][p] - dist[a][q] + margin > 0 for a, p, q in trips]


def triplet_case(gen, name, mining, margin, squared, unit, ids, per_id, d, sigma):
    # params: mining (0 batch-hard, 1 semi-hard) margin squared
    labels = [i % ids for i in range(ids * per_id)]
    for attempt in range(100):
        cen = rand(gen, ids, d)
        x = cen[torch.tensor(labels)] + sigma * rand(gen, len(labels), d)
        if unit:
            x = F.normalize(x)
        x = f32(x)
        sig = triplet_signature(x, labels, mining, margin, squared)
        stable = True
        for sgn in (-1.0, 1.0):   # float32 rounding must not change any decision
            xp = x + sgn * 1e-5 * rand(gen, *x.shape)
            stable &= triplet_signature(xp, labels, mining, margin, squared) == sig
        if stable and any(sig[1]):
            break
    else:
        raise SystemExit("%s: no stable batch found" % name)
    trips = sig[0]
    x.requires_grad_(True)
    dist = pdist(x, squared)
    hinge = [F.relu(dist[a, p] - dist[a, q] + margin) for a, p, q in trips]
    loss = torch.stack(hinge).mean()
    loss.backward()
    print("  %s: %d triplets, %d active" % (name, len(trips), sum(sig[1])))
    put_case(name, params=torch.tensor([mining, margin, 1 if squared else 0]), x=x,
             labels=torch.tensor(labels, dtype=torch.float64), loss=loss.reshape(1), dx=x.grad)


# ---- contrastive ------------------------------------------------------------------------------------

def contrastive_case(gen, name, n, d, margin):
    # params: margin
    a = rand(gen, n, d).requires_grad_(True)
    b0 = rand(gen, n, d)
    b0[::3] = f32(a.detach()[::3] + 0.2 * b0[::3])   # some close pairs
    b = b0.clone().requires_grad_(True)
    y = torch.tensor([1.0 if i % 2 == 0 else 0.0 for i in range(n)], dtype=torch.float64)
    dd = torch.sqrt(((a - b) ** 2).sum(1))
    assert (dd - margin).abs().min() > 1e-3
    loss = (y * dd ** 2 + (1 - y) * F.relu(margin - dd) ** 2).sum() / (2 * n)
    loss.backward()
    put_case(name, params=torch.tensor([margin]), x=a, b=b, y=y, loss=loss.reshape(1), dx=a.grad,
             db=b.grad)


# ---- histogram --------------------------------------------------------------------------------------

def histogram_case(gen, name, ids, per_id, d, bins, sigma):
    # params: bins
    labels = torch.tensor([i % ids for i in range(ids * per_id)])
    delta = 2.0 / (bins - 1)
    iu = torch.triu_indices(len(labels), len(labels), 1)
    for attempt in range(100):
        x = f32(rand(gen, ids, d)[labels] + sigma * rand(gen, len(labels), d))
        s = (F.normalize(x) @ F.normalize(x).t())[iu[0], iu[1]]
        u = (s + 1) / delta
        if ((u - u.round()).abs() * delta).min() > 1e-5:   # no pair on a bin node
            break
    else:
        raise SystemExit("%s: no batch away from the bin nodes" % name)
    x.requires_grad_(True)
    xn = F.normalize(x)
    s = (xn @ xn.t())[iu[0], iu[1]]
    pos = labels[iu[0]] == labels[iu[1]]
    k = torch.floor((s.detach() + 1) / delta).clamp(0, bins - 2).long()
    frac = (s - (-1 + k.to(torch.float64) * delta)) / delta

    def hist(mask):
        h = torch.zeros(bins, dtype=torch.float64)
        h = h.index_add(0, k[mask], 1 - frac[mask])
        h = h.index_add(0, k[mask] + 1, frac[mask])
        return h / mask.sum()

    hp, hn = hist(pos), hist(~pos)
    loss = (hn * torch.cumsum(hp, 0)).sum()
    loss.backward()
    put_case(name, params=torch.tensor([bins]), x=x, labels=labels.to(torch.float64),
             loss=loss.reshape(1), dx=x.grad)


def main():
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(20240612)
    head_case(gen, "arcface", 1, 32.0, 0.5, False, 0.0, 0.0)
    head_case(gen, "arcface_easy", 1, 32.0, 0.5, True, 0.0, 0.0)
    head_case(gen, "cosface", 0, 30.0, 0.35, False, 0.0, 0.1)
    head_case(gen, "sphereface", 2, 0.0, 4.0, False, 5.0, 0.0)
    center_case(gen, "center", 11, 16, 5, 0.5)
    triplet_case(gen, "triplet_bh", 0, 0.3, False, False, 4, 3, 16, 1.0)
    triplet_case(gen, "triplet_sh", 1, 0.2, True, True, 4, 3, 16, 1.0)
    contrastive_case(gen, "contrastive", 9, 16, 1.25)
    histogram_case(gen, "histogram", 4, 3, 16, 21, 1.0)
    write_and_list(OUT, "tools/make_loss_fixtures.py",
                   lambda name, t: "  = %.9g" % t.item() if name.endswith(".loss") else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
