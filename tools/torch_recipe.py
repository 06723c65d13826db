#!/usr/bin/env python3
"""tools/torch_recipe.py: facecl's default training recipe re-done in PyTorch, to hold `facecl train` to.

Same network (models/small.model with torchvision-style state_dict names, checked against
`facecl model show small --names`), same data handling, same augmentation, same optimizer and
schedule, same losses and the same metrics as `facecl train` (host/nn/trainer.c), so that the
two frameworks' accuracy / AUC / EER can be compared run against run:

  data      ImageFolder (class index = position in the sorted folder names); images decoded to
            gray [0, 1] (PIL "L": ITU-R 601 luma for colour files), at their stored size.
  augment   facecl's --augment steps, in order, at the stored size: flip[=P] (horizontal, p 0.5),
            crop=PAD[:zero|reflect] (torchvision RandomCrop(size, padding=PAD): pad, then a
            window at top/left uniform in [0, 2 PAD]); then norm (x - mean) / std; then the
            resize to the model's input (PIL-style antialiased bilinear, which torch's
            interpolate(antialias=True) and facecl's fcl_image_resize both implement). Evaluation:
            norm + resize only.
  model     small.model: conv3x3(16)-bn-relu (stem face; imagenet: stride 2 + maxpool 3/2),
            conv3x3/2(32)-bn-relu, basic block(32), conv3x3/2(64)-bn-relu, basic block(64), gap,
            embedding.0 linear(64->E, no bias), embedding.1 BatchNorm1d(E) = the embedding,
            fc linear(E->K) (left out for margin heads: facecl builds classes=0).
            Init as facecl's fcl_net_init: conv kaiming_normal(fan_out, relu), linear U(+-1/sqrt(in))
            (torch's default), BN weight 1, bias 0.
  optim     SGD momentum 0.9 (Nesterov off), weight decay on conv/linear weights only (0 on BN
            and biases), batch B with drop_last, shuffled each epoch.
  schedule  per iteration: linear warmup from 0.01 lr over --warmup epochs (of iterations), then
            cosine to 0 over the rest (SequentialLR(LinearLR, CosineAnnealingLR) closed forms);
            step k uses lr(k), lr(0) = 0.01 lr (--warmup-start).
  losses    ce (label smoothing); arcface (s 30, m 0.5, insightface's form with th/mm, head W
            [K, E] ~ N(0, 0.01), its own SGD with the same lr schedule, momentum and weight decay);
            cosface (s 30, m 0.35); ce+L*center (centre loss 0.5 * mean_i ||x_i - c_yi||^2 on the
            embedding, centres zero-initialised, not trained by SGD but by Wen's update
            c_j -= alpha * sum_{y_i=j} (c_j - x_i) / (1 + n_j) with alpha 0.5 after the step,
            using the batch's (pre-step) embeddings).
  metrics   each epoch: val top-1 (ce: argmax of the logits; margin heads: argmax of the plain
            cosines to the head's weights), verification on a `path1 path2 label` pair list:
            cosine of the L2-normalised embeddings (eval mode), ROC AUC (sklearn) and EER
            interpolated along the ROC polyline (as facecl's fcl_roc_eer).

--model NAME trains a network of tools/ref_models.py instead (ce loss; timm networks need
PYTHONPATH=/opt/timm), initialised as facecl does (--init facecl) or as its reference does
(--init reference), to hold `facecl train --model NAME` to the same recipe:

    PYTHONPATH=/opt/timm /usr/bin/python3 tools/torch_recipe.py --train S/train --val S/val --channels 3 \\
        --model resnest50d --init reference --width 0.25 --size 32 --stem face --epochs 6 --batch 16 --lr 0.005

Writes a JSON file with the per-epoch history and the final numbers (and, with --log, a CSV like
facecl's log.csv). Runs on the CPU with --threads threads (default 2).

    /usr/bin/python3 tools/torch_recipe.py --train DEMO/train --val DEMO/val --pairs DEMO/pairs.txt \\
        --size 48 --epochs 20 --loss ce --seed 1 --json /tmp/run.json --facecl build/facecl

--eval-checkpoint CKPT evaluates a facecl checkpoint (safetensors) with this script's evaluation
instead of training (to separate training differences from evaluation differences).
"""
import argparse
import csv
import json
import math
import os
import re
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_models import BasicBlock  # noqa: E402  (torchvision's basic block)

IMAGE_EXT = (".png", ".pgm", ".jpg", ".jpeg", ".bmp", ".ppm")


# ---- data ----------------------------------------------------------------------------------------

def load_image(path, channels):
    img = Image.open(path)
    img = img.convert("L" if channels == 1 else "RGB")
    a = np.asarray(img, dtype=np.float32) / 255.0
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


def image_folder(root, channels, classes=None):
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if classes is None:
        classes = names
    index = {c: i for i, c in enumerate(classes)}
    imgs, labels = [], []
    for d in names:
        if d not in index:
            sys.exit(f"torch_recipe: {root}/{d} is not a training class")
        for f in sorted(os.listdir(os.path.join(root, d))):
            if f.lower().endswith(IMAGE_EXT):
                imgs.append(load_image(os.path.join(root, d, f), channels))
                labels.append(index[d])
    return imgs, torch.tensor(labels, dtype=torch.long), classes


def stack_same_size(imgs):
    """[N, C, H, W] when every image has one size, else None."""
    shapes = {tuple(t.shape) for t in imgs}
    return torch.stack(imgs) if len(shapes) == 1 else None


def parse_augment(spec):
    steps = []
    for tok in [t.strip() for t in spec.split(",") if t.strip() and t.strip() != "none"]:
        name, _, val = tok.partition("=")
        if name == "flip":
            steps.append(("flip", float(val) if val else 0.5))
        elif name == "crop":
            pad, _, mode = val.partition(":")
            if not pad:
                sys.exit("torch_recipe: crop needs =PAD")
            if mode not in ("", "zero", "reflect"):
                sys.exit(f"torch_recipe: crop mode '{mode}' (zero or reflect)")
            steps.append(("crop", int(pad), mode or "zero"))
        else:
            sys.exit(f"torch_recipe: augmentation '{tok}' is not implemented here (flip, crop)")
    return steps


def augment_batch(x, steps, gen):
    """x [N, C, H, W] in [0, 1] (a fresh copy); facecl's steps in order, per image."""
    n = x.shape[0]
    for st in steps:
        if st[0] == "flip":
            m = torch.rand(n, generator=gen) < st[1]
            x[m] = x[m].flip(-1)
        else:
            p, mode = st[1], st[2]
            if p == 0:
                continue
            H, W = x.shape[-2:]
            xp = F.pad(x, (p, p, p, p), mode="constant" if mode == "zero" else "reflect")
            tl = torch.randint(0, 2 * p + 1, (n, 2), generator=gen)
            x = torch.stack([xp[i, :, t:t + H, l:l + W] for i, (t, l) in enumerate(tl.tolist())])
    return x


def to_model_input(x, size, mean, std):
    """norm, then the resize to size x size (antialiased bilinear)."""
    x = (x - mean) / std
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()


def eval_tensor(imgs, size, mean, std):
    out = []
    for t in imgs:
        out.append(to_model_input(t[None], size, mean, std)[0])
    return torch.stack(out)


def load_pairs(path, root):
    pairs = []
    with open(path) as f:
        for line in f:
            t = line.split()
            if not t or t[0].startswith("#"):
                continue
            if len(t) != 3:
                sys.exit(f"torch_recipe: {path}: expected `path1 path2 label`: {line.strip()}")
            pairs.append((os.path.join(root, t[0]), os.path.join(root, t[1]), int(t[2])))
    return pairs


# ---- model (models/small.model) ----------------------------------------------------------------

class Small(nn.Module):
    def __init__(self, channels=1, classes=10, embedding=64, width=1.0, stem="face"):
        super().__init__()
        c1, c2, c3 = (int(round(c * width)) for c in (16, 32, 64))
        self.stem = stem
        self.conv1 = nn.Conv2d(channels, c1, 3, 1 if stem == "face" else 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.layer1 = nn.Sequential(BasicBlock(c2, c2))
        self.conv3 = nn.Conv2d(c2, c3, 3, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c3)
        self.layer2 = nn.Sequential(BasicBlock(c3, c3))
        feat = c3
        if embedding > 0:
            self.embedding = nn.Sequential(nn.Linear(c3, embedding, bias=False), nn.BatchNorm1d(embedding))
            feat = embedding
        else:
            self.embedding = None
        self.fc = nn.Linear(feat, classes) if classes > 0 else None
        for m in self.modules():   # facecl's fcl_net_init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.stem != "face":
            x = F.max_pool2d(x, 3, 2, 1)
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.layer2(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        emb = self.embedding(x) if self.embedding is not None else x
        return emb, (self.fc(emb) if self.fc is not None else None)


class RefNet(nn.Module):
    """A network of tools/ref_models.py (--model NAME) as (embedding, logits): the embedding is
    what its last nn.Linear (the classifier) reads. init "facecl" re-initialises it as
    fcl_net_init does (conv kaiming_normal fan_out relu with bias 0, linear torch's default, BN
    1/0); "reference" keeps the reference's own init (timm's zero_init_last, for instance)."""

    def __init__(self, name, channels, classes, width, stem, size, init):
        super().__init__()
        import ref_models   # tools/ref_models.py (timm networks need PYTHONPATH=/opt/timm)
        self.net = ref_models.build(name, width, stem, channels, size, classes)
        self.fc = [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1]
        self.fc.register_forward_hook(lambda mod, inp, out: setattr(self, "_emb", inp[0]))
        if init == "facecl":
            for m in self.net.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    m.reset_parameters()
                elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        logits = self.net(x)
        return torch.flatten(self._emb, 1), logits


def check_against_facecl(model, facecl, args, classes):
    """Names, shapes and order of the state_dict vs `facecl model show --names`; parameter counts."""
    cmd = [facecl, "model", "show", args.model, "--size", str(args.size), "--channels", str(args.channels),
           "--classes", str(classes), "--stem", args.stem, "--width", str(args.width)]
    if args.model == "small":
        cmd += ["--embedding", str(args.embedding)]
    else:
        model = model.net
    names = subprocess.run(cmd + ["--names"], capture_output=True, text=True, check=True).stdout.split("\n")
    want = []
    for line in names:
        m = re.match(r"^(\S+) \[([0-9,]*)\]$", line.strip())
        if m:
            want.append((m.group(1), [int(v) for v in m.group(2).split(",") if v]))
    have = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    if have != want:
        for a, b in zip(have + [None] * len(want), want + [None] * len(have)):
            if a != b:
                sys.exit(f"torch_recipe: state_dict differs from facecl's: torch {a} vs facecl {b}")
    show = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"trainable parameters\s+([0-9,]+)", show)
    n_facecl = int(m.group(1).replace(",", ""))
    n_torch = sum(p.numel() for p in model.parameters())
    if n_facecl != n_torch:
        sys.exit(f"torch_recipe: {n_torch} trainable parameters, facecl {n_facecl}")
    return {"state_dict_entries": len(have), "parameters": n_torch}


# ---- losses --------------------------------------------------------------------------------------

def parse_loss(text):
    terms = []
    for tok in text.split("+"):
        w, _, name = tok.strip().rpartition("*")
        terms.append((name.strip(), float(w) if w else 1.0))
    kinds = [k for k, _ in terms]
    for k in kinds:
        if k not in ("ce", "arcface", "cosface", "center"):
            sys.exit(f"torch_recipe: loss term '{k}' is not implemented here (ce, arcface, cosface, center)")
    if sum(k in ("ce", "arcface", "cosface") for k in kinds) != 1:
        sys.exit("torch_recipe: exactly one of ce, arcface, cosface")
    return terms


def margin_logits(emb, W, y, kind, s, m, easy):
    """(logits with the margin on the target class, plain cosines)."""
    cos = F.linear(F.normalize(emb, eps=1e-12), F.normalize(W, eps=1e-12))
    onehot = F.one_hot(y, W.shape[0]).bool()
    if kind == "cosface":
        f = cos - m
    else:
        sine = torch.sqrt(torch.clamp(1.0 - cos * cos, 1e-12, 1.0))
        phi = cos * math.cos(m) - sine * math.sin(m)
        if easy:
            f = torch.where(cos > 0, phi, cos)
        else:
            f = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)
    return s * torch.where(onehot, f, cos), cos


# ---- metrics -------------------------------------------------------------------------------------

def roc_auc_eer(scores, labels):
    from sklearn.metrics import roc_auc_score, roc_curve
    auc = float(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    g = fpr + tpr - 1.0
    i = int(np.argmax(g >= 0))
    if g[i] == 0 or i == 0:
        eer = float(fpr[i])
    else:
        t = -g[i - 1] / (g[i] - g[i - 1])
        eer = float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
    return auc, eer


@torch.no_grad()
def embed(model, x, batch):
    model.eval()
    out = [model(x[i:i + batch])[0] for i in range(0, x.shape[0], batch)]
    return torch.cat(out)


@torch.no_grad()
def evaluate(model, head_w, val, pairs, batch):
    r = {}
    if val is not None:
        vx, vy = val
        model.eval()
        hits = 0
        for i in range(0, vx.shape[0], batch):
            emb, logits = model(vx[i:i + batch])
            if logits is None:
                logits = F.linear(F.normalize(emb, eps=1e-12), F.normalize(head_w, eps=1e-12))
            hits += int((logits.argmax(1) == vy[i:i + batch]).sum())
        r["val_acc"] = hits / vx.shape[0]
    if pairs is not None:
        px, i1, i2, lab = pairs
        e = F.normalize(embed(model, px, batch), dim=1)
        sc = (e[i1] * e[i2]).sum(1).double().numpy()
        r["auc"], r["eer"] = roc_auc_eer(sc, lab)
    return r


# ---- schedule ------------------------------------------------------------------------------------

def lr_at(step, base, warmup, total, start=0.01):
    if step < warmup:
        return base * (start + (1.0 - start) * step / warmup)
    return base * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup))) / 2.0


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    dts = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "F16": np.float16}
    out = {}
    for name, info in header.items():
        if info["dtype"] not in dts:   # optimizer/trainer state (U8 blobs) is not needed here
            continue
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], dtype=dts[info["dtype"]])
                                     .reshape(info["shape"]).copy())
    return out


# ---- the run -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--val")
    ap.add_argument("--pairs")
    ap.add_argument("--pairs-root", help="folder the pair paths are relative to (default: the list's folder)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--embedding", type=int, default=64)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--model", default="small",
                    help="small (this script's own), or a network of tools/ref_models.py (ce loss only)")
    ap.add_argument("--init", default="facecl", choices=("facecl", "reference"),
                    help="--model NAME: facecl's init (default) or the reference implementation's own")
    ap.add_argument("--stem", default="face", choices=("face", "imagenet"))
    ap.add_argument("--augment", default="flip")
    ap.add_argument("--norm", default="0.5:0.5")
    ap.add_argument("--loss", default="ce")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--margin-s", type=float, default=0.0)
    ap.add_argument("--margin-m", type=float, default=0.0)
    ap.add_argument("--easy-margin", action="store_true")
    ap.add_argument("--center-alpha", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=1.0, help="warmup epochs (default 1)")
    ap.add_argument("--warmup-start", type=float, default=0.01,
                    help="lr factor at the first warmup step (facecl's trainer default 0.01)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--log", help="write a per-epoch CSV here")
    ap.add_argument("--facecl", help="facecl binary: check names/shapes/parameter count against `facecl model show`")
    ap.add_argument("--eval-checkpoint", help="evaluate this facecl checkpoint instead of training")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1000003)
    mean, std = (float(v) for v in a.norm.split(":"))
    aug = parse_augment(a.augment)
    terms = parse_loss(a.loss)
    kinds = dict(terms)
    head_kind = "arcface" if "arcface" in kinds else "cosface" if "cosface" in kinds else None

    timgs, ty, classes = image_folder(a.train, a.channels)
    K = len(classes)
    tstack = stack_same_size(timgs)
    val = None
    if a.val:
        vimgs, vy, _ = image_folder(a.val, a.channels, classes)
        val = (eval_tensor(vimgs, a.size, mean, std), vy)
    pairs = None
    if a.pairs:
        root = a.pairs_root or os.path.dirname(os.path.abspath(a.pairs))
        pl = load_pairs(a.pairs, root)
        paths = sorted({p for q in pl for p in q[:2]})
        row = {p: i for i, p in enumerate(paths)}
        px = eval_tensor([load_image(p, a.channels) for p in paths], a.size, mean, std)
        pairs = (px, torch.tensor([row[q[0]] for q in pl]), torch.tensor([row[q[1]] for q in pl]),
                 np.array([q[2] for q in pl]))

    if a.model == "small":
        model = Small(a.channels, 0 if head_kind else K, a.embedding, a.width, a.stem)
    elif head_kind:
        sys.exit("torch_recipe: --model %s takes the ce loss only" % a.model)
    else:
        model = RefNet(a.model, a.channels, K, a.width, a.stem, a.size, a.init)
    info = {"classes": K, "train_images": len(timgs)}
    if a.facecl:
        info.update(check_against_facecl(model, a.facecl, a, 0 if head_kind else K))
    E = a.embedding if a.embedding > 0 else int(round(64 * a.width))
    head_w = None
    if head_kind:
        head_w = nn.Parameter(torch.randn(K, E, generator=torch.Generator().manual_seed(a.seed ^ 0x5EED)) * 0.01)
    centers = torch.zeros(K, E) if "center" in kinds else None

    if a.eval_checkpoint:
        sd = load_safetensors(a.eval_checkpoint)
        msd = model.state_dict()
        model.load_state_dict({k: sd[k].reshape(msd[k].shape).to(msd[k].dtype) for k in msd})
        if head_w is not None:
            head_w.data.copy_(sd["head.weight"])
        r = evaluate(model, head_w, val, pairs, a.batch)
        r["checkpoint"] = a.eval_checkpoint
        print(json.dumps(r))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(r, f, indent=1)
        return

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim > 1 else no_decay).append(p)   # conv/linear weights vs BN and biases
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=a.lr, momentum=a.momentum, nesterov=a.nesterov)
    head_opt = (torch.optim.SGD([head_w], lr=a.lr, momentum=a.momentum, nesterov=a.nesterov, weight_decay=a.wd)
                if head_w is not None else None)
    N, B = len(timgs), a.batch
    spe = N // B
    total = spe * a.epochs
    warmup = int(round(a.warmup * spe))
    if warmup >= total:
        warmup = total // 10
    s = a.margin_s if a.margin_s > 0 else 30.0
    m = a.margin_m if a.margin_m > 0 else (0.5 if head_kind == "arcface" else 0.35)

    hist, step, train_time = [], 0, 0.0
    for ep in range(a.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(N, generator=gen)
        loss_sum, hits, seen = 0.0, 0, 0
        for b in range(spe):
            idx = perm[b * B:(b + 1) * B]
            xb = tstack[idx].clone() if tstack is not None else None
            if xb is None:
                x = torch.stack([to_model_input(augment_batch(timgs[i][None].clone(), aug, gen), a.size, mean, std)[0]
                                 for i in idx.tolist()])
            else:
                x = to_model_input(augment_batch(xb, aug, gen), a.size, mean, std)
            y = ty[idx]
            lr = lr_at(step, a.lr, warmup, total, a.warmup_start)
            for g in opt.param_groups:
                g["lr"] = lr
            if head_opt:
                head_opt.param_groups[0]["lr"] = lr
            emb, logits = model(x)
            loss = 0.0
            for kind, w in terms:
                if kind == "ce":
                    loss = loss + w * F.cross_entropy(logits, y, label_smoothing=a.label_smoothing)
                    pred = logits
                elif kind in ("arcface", "cosface"):
                    ml, cos = margin_logits(emb, head_w, y, kind, s, m, a.easy_margin)
                    loss = loss + w * F.cross_entropy(ml, y, label_smoothing=a.label_smoothing)
                    pred = cos
                else:
                    loss = loss + w * 0.5 * ((emb - centers[y]) ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            if head_opt:
                head_opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if head_opt:
                head_opt.step()
            if centers is not None:
                with torch.no_grad():   # Wen's update with the batch's pre-step embeddings
                    e = emb.detach()
                    delta = torch.zeros_like(centers).index_add_(0, y, centers[y] - e)
                    cnt = torch.bincount(y, minlength=K).float()
                    centers -= a.center_alpha * delta / (1.0 + cnt)[:, None]
            step += 1
            loss_sum += float(loss) * len(idx)
            hits += int((pred.argmax(1) == y).sum())
            seen += len(idx)
        tt = time.time() - t0
        train_time += tt
        r = {"epoch": ep + 1, "train_loss": loss_sum / seen, "train_acc": hits / seen,
             "lr": lr_at(step, a.lr, warmup, total, a.warmup_start), "images_per_s": seen / tt}
        r.update(evaluate(model, head_w, val, pairs, B))
        r["seconds"] = time.time() - t0
        hist.append(r)
        if not a.quiet:
            print("epoch %d/%d: train loss %.4f  train acc %.2f%%%s%s  %.1f img/s  %.1f s" % (
                ep + 1, a.epochs, r["train_loss"], 100 * r["train_acc"],
                "  val acc %.2f%%" % (100 * r["val_acc"]) if "val_acc" in r else "",
                "  AUC %.4f  EER %.2f%%" % (r["auc"], 100 * r["eer"]) if "auc" in r else "",
                r["images_per_s"], r["seconds"]), flush=True)
    res = {"framework": "pytorch " + torch.__version__, "args": vars(a), **info, "steps_per_epoch": spe,
           "warmup_steps": warmup, "total_steps": total, "final": hist[-1], "history": hist,
           "train_images_per_s": spe * B * a.epochs / train_time, "wall_s": time.time() - t_start}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.log:
        cols = ["epoch", "train_loss", "train_acc", "val_acc", "auc", "eer", "lr", "images_per_s", "seconds"]
        with open(a.log, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in hist:
                w.writerow([r.get(c, "") for c in cols])
    print(json.dumps({k: res["final"].get(k) for k in ("val_acc", "auc", "eer")} |
                     {"wall_s": round(res["wall_s"], 1), "train_images_per_s": round(res["train_images_per_s"], 1)}))


if __name__ == "__main__":
    main()
