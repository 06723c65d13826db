#!/usr/bin/python3
"""tools/make_optim_fixtures.py: PyTorch reference values for facecl's optimizers, LR schedules and safetensors tests.

Writes
  tests/fixtures/optim_torch.bin         torch.optim SGD / AdamW steps, clip_grad_norm_, lr_scheduler values
  tests/fixtures/st_python.safetensors   a small file written by the Python safetensors package
and, with --check-st FILE, loads a facecl-written safetensors file with the Python package and
checks the values tests/test_safetensors.c puts in it (exit 1 on mismatch).

Needs Debian's python3-torch (run with /usr/bin/python3, or a venv made with
--system-site-packages) and, for the .safetensors parts, `pip install safetensors`.
Regenerating gives identical files (fixed seeds, CPU).

optim_torch.bin format (all little-endian):
  8 bytes  magic "FCLFIX01"
  then records until the end of the file:
    u32 name length, the name (ASCII, no terminator)
    u32 count, then count IEEE-754 float64 values
Records (N = optim.n; groups are [offset, count] pairs into the flat parameter vector; matrices
are row-major, one row per step):
  optim.n [1], optim.groups [4], optim.p0 [N], optim.grads [5*N]
  sgd.hp, sgd_nesterov.hp: [lr0, wd0, lr1, wd1, momentum, dampening, nesterov]
  sgd.p, sgd_nesterov.p, adamw.p: [5*N] parameters after each step
  adamw.hp: [lr0, wd0, lr1, wd1, beta1, beta2, eps]
  clip.g [N], clip.cfg [max_norm], clip.norm [1], clip.out [N]   (and clip2.* without clipping)
  sched.<name>.cfg, sched.<name>.lr [(steps+1)*2] (get_last_lr for 2 groups after construction
  and after each step), sched.onecycle*.mom likewise (SGD momentum), sched.plateau*.metrics:
    step:       [base0, base1, step_size, gamma, steps]
    multistep:  [base0, base1, gamma, steps, milestones...]
    cosine*:    [base0, base1, warmup, start_factor, total, eta_min, steps]
    onecycle*:  [max0, max1, total_steps, pct_start, div, final_div, three_phase, linear,
                 base_momentum, max_momentum]            (steps = total_steps)
    plateau*:   [base0, base1, mode_max, factor, patience, threshold, threshold_abs, cooldown,
                 min_lr, eps, steps]
"""
import math
import os
import struct
import sys
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "tests", "fixtures")
STEPS = 5


class Writer:
    def __init__(self):
        self.parts = [b"FCLFIX01"]

    def rec(self, name, values):
        vals = [float(v) for v in values]
        nb = name.encode("ascii")
        self.parts.append(struct.pack("<I", len(nb)) + nb + struct.pack("<I", len(vals)))
        self.parts.append(struct.pack("<%dd" % len(vals), *vals))

    def bytes(self):
        return b"".join(self.parts)


def flat(t):
    return t.detach().double().reshape(-1).tolist()


# ---- optimizers -------------------------------------------------------------------------------

N0, N1 = 23, 14          # two parameter groups, odd sizes
N = N0 + N1


def run_optim(make, p0, grads):
    a = torch.nn.Parameter(p0[:N0].clone())
    b = torch.nn.Parameter(p0[N0:].clone())
    opt = make([a, b])
    out = []
    for s in range(STEPS):
        a.grad = grads[s, :N0].clone()
        b.grad = grads[s, N0:].clone()
        opt.step()
        out += flat(torch.cat([a, b]))
    return out


def optim_records(w):
    g = torch.Generator().manual_seed(20240607)
    p0 = torch.randn(N, generator=g, dtype=torch.float32)
    grads = torch.randn(STEPS, N, generator=g, dtype=torch.float32) * 0.5
    w.rec("optim.n", [N])
    w.rec("optim.groups", [0, N0, N0, N1])
    w.rec("optim.p0", flat(p0))
    w.rec("optim.grads", flat(grads))

    for name, nesterov in (("sgd", False), ("sgd_nesterov", True)):
        lr0, wd0, lr1, wd1, mom = 0.1, 5e-4, 0.05, 0.0, 0.9
        w.rec(name + ".hp", [lr0, wd0, lr1, wd1, mom, 0.0, 1.0 if nesterov else 0.0])
        w.rec(name + ".p", run_optim(lambda ps: torch.optim.SGD(
            [{"params": [ps[0]], "lr": lr0, "weight_decay": wd0},
             {"params": [ps[1]], "lr": lr1, "weight_decay": wd1}],
            lr=lr0, momentum=mom, nesterov=nesterov), p0, grads))

    lr0, wd0, lr1, wd1, b1, b2, eps = 1e-2, 0.05, 5e-3, 0.0, 0.9, 0.999, 1e-8
    w.rec("adamw.hp", [lr0, wd0, lr1, wd1, b1, b2, eps])
    w.rec("adamw.p", run_optim(lambda ps: torch.optim.AdamW(
        [{"params": [ps[0]], "lr": lr0, "weight_decay": wd0},
         {"params": [ps[1]], "lr": lr1, "weight_decay": wd1}],
        lr=lr0, betas=(b1, b2), eps=eps), p0, grads))

    # clip_grad_norm_ over two parameters (the flat buffer holds both)
    for name, max_norm in (("clip", 1.0), ("clip2", 100.0)):
        gg = torch.randn(N, generator=g, dtype=torch.float32) * 0.7
        a = torch.nn.Parameter(torch.zeros(N0))
        b = torch.nn.Parameter(torch.zeros(N1))
        a.grad = gg[:N0].clone()
        b.grad = gg[N0:].clone()
        norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        w.rec(name + ".g", flat(gg))
        w.rec(name + ".cfg", [max_norm])
        w.rec(name + ".norm", [float(norm)])
        w.rec(name + ".out", flat(torch.cat([a.grad, b.grad])))


# ---- schedules ---------------------------------------------------------------------------------

BASE = (0.1, 0.02)


def sched_opt(momentum=0.0):
    ps = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    return torch.optim.SGD([{"params": [ps[0]], "lr": BASE[0]}, {"params": [ps[1]], "lr": BASE[1]}],
                           lr=BASE[0], momentum=momentum)


def trace(opt, sched, steps, metrics=None, mom=False):
    lrs = list(sched.get_last_lr()) if metrics is None else [gr["lr"] for gr in opt.param_groups]
    moms = [gr["momentum"] for gr in opt.param_groups]
    for s in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
            lrs += sched.get_last_lr()
        else:
            sched.step(metrics[s])
            lrs += [gr["lr"] for gr in opt.param_groups]
        moms += [gr["momentum"] for gr in opt.param_groups]
    return lrs, moms


def sched_records(w):
    L = torch.optim.lr_scheduler
    opt = sched_opt()
    step_size, gamma, steps = 3, 0.5, 14
    w.rec("sched.step.cfg", [BASE[0], BASE[1], step_size, gamma, steps])
    w.rec("sched.step.lr", trace(opt, L.StepLR(opt, step_size, gamma), steps)[0])

    opt = sched_opt()
    gamma, steps, ms = 0.1, 12, [2, 5, 5, 9]
    w.rec("sched.multistep.cfg", [BASE[0], BASE[1], gamma, steps] + ms)
    w.rec("sched.multistep.lr", trace(opt, L.MultiStepLR(opt, ms, gamma), steps)[0])

    for name, warmup, sf, total, eta_min, steps in (("cosine_warmup", 5, 0.1, 25, 1e-4, 31),
                                                     ("cosine", 0, 1.0, 20, 0.0, 20)):
        opt = sched_opt()
        if warmup:
            sch = L.SequentialLR(opt, [L.LinearLR(opt, start_factor=sf, end_factor=1.0,
                                                  total_iters=warmup),
                                       L.CosineAnnealingLR(opt, T_max=total - warmup,
                                                           eta_min=eta_min)],
                                 milestones=[warmup])
        else:
            sch = L.CosineAnnealingLR(opt, T_max=total, eta_min=eta_min)
        w.rec("sched.%s.cfg" % name, [BASE[0], BASE[1], warmup, sf, total, eta_min, steps])
        w.rec("sched.%s.lr" % name, trace(opt, sch, steps)[0])

    for name, total, pct, div, fdiv, three, linear in (("onecycle", 40, 0.3, 25.0, 1e4, 0, 0),
                                                       ("onecycle3", 37, 0.25, 10.0, 100.0, 1, 0),
                                                       ("onecycle_lin", 23, 0.4, 25.0, 1e4, 0, 1)):
        opt = sched_opt(momentum=0.9)
        sch = L.OneCycleLR(opt, max_lr=list(BASE), total_steps=total, pct_start=pct,
                           anneal_strategy="linear" if linear else "cos", div_factor=div,
                           final_div_factor=fdiv, three_phase=bool(three),
                           base_momentum=0.85, max_momentum=0.95)
        lrs, moms = trace(opt, sch, total, mom=True)
        w.rec("sched.%s.cfg" % name, [BASE[0], BASE[1], total, pct, div, fdiv, three, linear,
                                      0.85, 0.95])
        w.rec("sched.%s.lr" % name, lrs)
        w.rec("sched.%s.mom" % name, moms)

    # reduce-on-plateau: a loss that improves, stalls, wobbles below the threshold, improves
    loss = [1.0, 0.8, 0.7, 0.69, 0.695, 0.7, 0.71, 0.65, 0.6499, 0.6498, 0.66, 0.64, 0.63, 0.64,
            0.645, 0.65, 0.66, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, float("nan"), 0.4, 0.4, 0.4, 0.4]
    acc = [0.1, 0.2, 0.25, 0.26, 0.255, 0.3, 0.3, 0.301, 0.302, 0.35, 0.34, 0.33, 0.36, 0.36,
           0.36, 0.36, 0.365, 0.37, 0.37, 0.37, 0.37, 0.4]
    for name, metrics, mode_max, factor, patience, thr, thr_abs, cooldown, min_lr in (
            ("plateau", loss, 0, 0.5, 2, 1e-2, 0, 1, 4e-3),
            ("plateau_max", acc, 1, 0.3, 1, 5e-3, 1, 2, 0.0)):
        opt = sched_opt()
        sch = L.ReduceLROnPlateau(opt, mode="max" if mode_max else "min", factor=factor,
                                  patience=patience, threshold=thr,
                                  threshold_mode="abs" if thr_abs else "rel", cooldown=cooldown,
                                  min_lr=min_lr, eps=1e-8)
        w.rec("sched.%s.cfg" % name, [BASE[0], BASE[1], mode_max, factor, patience, thr, thr_abs,
                                      cooldown, min_lr, 1e-8, len(metrics)])
        w.rec("sched.%s.metrics" % name, metrics)
        w.rec("sched.%s.lr" % name, trace(opt, sch, len(metrics), metrics=metrics)[0])


# ---- safetensors ---------------------------------------------------------------------------------

def st_fixture(path):
    from safetensors.torch import save_file
    tensors = {
        "conv.weight": (torch.arange(12, dtype=torch.float32) * 0.25 - 1.0).reshape(2, 3, 1, 2),
        "bn.num_batches_tracked": torch.tensor(12345678901, dtype=torch.int64),
        "fc.bias": torch.tensor([1.5, -2.25, 1e-300], dtype=torch.float64),
        "mask": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
        "half": torch.tensor([1.0, -2.5, 2.0 ** -24, 65504.0], dtype=torch.float16),
        "bf": torch.tensor([1.0, -3.140625], dtype=torch.bfloat16),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    save_file(tensors, path, metadata={"format": "pt", "note": "fixture \u00fc \"quoted\""})


def check_st(path):
    """Checks the file tests/test_safetensors.c writes for Python (see py_roundtrip there)."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    t = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    want = {
        "w": (torch.arange(12, dtype=torch.float32) * 0.5 - 2.0).reshape(3, 4),
        "steps": torch.tensor(42, dtype=torch.int64),
        "d": torch.tensor([0.1, -1e200], dtype=torch.float64),
        "u": torch.tensor([1, 2, 250], dtype=torch.uint8),
        "h": torch.tensor([1.0, -0.5], dtype=torch.float16),
        "z": torch.zeros(2, 0, dtype=torch.float32),
    }
    ok = set(t) == set(want)
    for k, v in want.items():
        if k in t and not (t[k].dtype == v.dtype and t[k].shape == v.shape and torch.equal(t[k], v)):
            print("mismatch in %s: got %s %s %s" % (k, t[k].dtype, tuple(t[k].shape), t[k]))
            ok = False
    if meta != {"epoch": "7", "model": "r\u00e9snet \"18\"\n"}:
        print("metadata mismatch: %r" % (meta,))
        ok = False
    print("%s: %d tensors, metadata %r: %s" % (path, len(t), meta, "OK" if ok else "MISMATCH"))
    return ok


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-st":
        sys.exit(0 if check_st(sys.argv[2]) else 1)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    w = Writer()
    optim_records(w)
    sched_records(w)
    out = os.path.join(FIX, "optim_torch.bin")
    with open(out, "wb") as f:
        f.write(w.bytes())
    print("wrote %s (%d bytes, torch %s)" % (out, os.path.getsize(out), torch.__version__))
    st = os.path.join(FIX, "st_python.safetensors")
    try:
        import safetensors
        st_fixture(st)
        print("wrote %s (%d bytes, safetensors %s)" % (st, os.path.getsize(st), safetensors.__version__))
    except ImportError:
        print("safetensors package not found: kept %s (pip install safetensors to regenerate)" % st)


if __name__ == "__main__":
    main()
