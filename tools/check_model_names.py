#!/usr/bin/env python3
"""tools/check_model_names.py: compares facecl's state_dict (names, shapes, order, parameter count, MACs) with PyTorch's model of the same architecture.

The reference is torchvision's model (resnet*, resnext50_32x4d, mobilenet_v2, vgg*_bn,
densenet121, alexnet) or, for SE-ResNet (no torchvision model), timm's seresnet layout rebuilt
on torchvision's ResNet: an `se` module (fc1/fc2 1x1 convs with bias, reduced width
make_divisible(C/16, 8, round_limit=0)) after bn2 (basic) / bn3 (bottleneck), so timm
weights load by name. The networks of issue 12 come from tools/ref_models.py (torchvision's
RegNet, EfficientNet and ConvNeXt, timm 0.9.16's resnest50d and nfnet_f0, and MobileNetV1,
insightface's IResNet and MobileFaceNet written out there), each compared at its defaults
(the face networks at 112 px with --classes 0 and the face stem).

usage:
  tools/check_model_names.py --facecl build/facecl [ARCH ...]    run facecl for each ARCH
                                                                 (default: all) and compare
  tools/check_model_names.py ARCH NAMES_FILE                     compare saved output of
      facecl model show ARCH --names --classes 1000 --channels 3 --size 224 --stem imagenet
      (NAMES_FILE '-' reads stdin)

Needs torch and torchvision (Debian: apt-get install python3-torchvision); timm for resnest50d
and nfnet_f0 (see tools/ref_models.py). Exit status 0 when every architecture matches.
"""
import argparse
import re
import subprocess
import sys
import types

import torch
import torch.nn as nn
import torchvision

import ref_models

ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "se_resnet18",
         "se_resnet50", "mobilenet_v2", "vgg11_bn", "vgg16_bn", "densenet121", "alexnet"] + list(ref_models.DEFAULTS)


def defaults(arch):
    """The options an architecture is compared under (size, classes, stem)."""
    return ref_models.DEFAULTS.get(arch, dict(size=224, classes=1000, stem="imagenet"))


def options(arch):
    d = defaults(arch)
    return ["--classes", str(d["classes"]), "--channels", "3", "--size", str(d["size"]), "--stem", d["stem"],
            "--embedding", "0", "--width", "1"]


def make_divisible(v, divisor=8, min_value=None, round_limit=0.9):
    """timm.layers.helpers.make_divisible."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


class SEModule(nn.Module):
    """timm.layers.squeeze_excite.SEModule with its defaults (bias, ReLU, sigmoid gate)."""

    def __init__(self, channels, rd_ratio=1.0 / 16, rd_divisor=8):
        super().__init__()
        rd = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
        self.fc1 = nn.Conv2d(channels, rd, kernel_size=1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, kernel_size=1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


def _se_basic_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.se(self.bn2(self.conv2(out)))
    identity = self.downsample(x) if self.downsample is not None else x
    return self.relu(out + identity)


def _se_bottleneck_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.se(self.bn3(self.conv3(out)))
    identity = self.downsample(x) if self.downsample is not None else x
    return self.relu(out + identity)


def se_resnet(depth):
    """timm's seresnet18 / seresnet50 layout on torchvision's ResNet."""
    m = getattr(torchvision.models, "resnet%d" % depth)()
    from torchvision.models.resnet import BasicBlock
    for stage in (m.layer1, m.layer2, m.layer3, m.layer4):
        for blk in stage:
            basic = isinstance(blk, BasicBlock)
            last_bn = "bn2" if basic else "bn3"
            se = SEModule(getattr(blk, last_bn).num_features)
            # insert `se` right after the last BN, where timm registers it (state_dict order)
            mods = list(blk._modules.items())
            blk._modules.clear()
            for k, v in mods:
                blk._modules[k] = v
                if k == last_bn:
                    blk._modules["se"] = se
            blk.forward = types.MethodType(_se_basic_forward if basic else _se_bottleneck_forward, blk)
    return m


def reference(arch):
    if arch in ref_models.DEFAULTS:
        return ref_models.build(arch, **defaults(arch))
    if arch == "se_resnet18":
        return se_resnet(18)
    if arch == "se_resnet50":
        return se_resnet(50)
    return getattr(torchvision.models, arch)()


def reference_macs(model, size=224):
    """Multiply-adds of conv and linear layers for one image (forward hooks)."""
    total = [0]

    def conv_hook(mod, inp, out):
        total[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]

    def linear_hook(mod, inp, out):
        total[0] += out.numel() * mod.in_features

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(2, 3, size, size))  # 2: BatchNorm1d refuses a batch of 1 only in training
    total[0] //= 2
    for h in hooks:
        h.remove()
    return total[0]


def parse_names(text):
    entries = []
    for ln, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        m = re.fullmatch(r"(\S+) \[([0-9,]*)\]", line)
        if not m:
            raise SystemExit("line %d of the names: expected `name [d0,d1,...]`, got %r" % (ln, line))
        shape = tuple(int(d) for d in m.group(2).split(",")) if m.group(2) else ()
        entries.append((m.group(1), shape))
    return entries


def compare(arch, entries, model, facecl_params=None, facecl_macs=None):
    """Returns a list of problems (empty: identical state_dict)."""
    problems = []
    ref = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    ref_names = [k for k, _ in ref]
    ours = dict(entries)
    theirs = dict(ref)
    for k in ref_names:
        if k not in ours:
            problems.append("missing in facecl: %s %s" % (k, list(theirs[k])))
        elif ours[k] != theirs[k]:
            problems.append("shape of %s: facecl %s, torch %s" % (k, list(ours[k]), list(theirs[k])))
    for k, _ in entries:
        if k not in theirs:
            problems.append("not in torch: %s" % k)
    if not problems and [k for k, _ in entries] != ref_names:
        first = next(i for i, (a, b) in enumerate(zip([k for k, _ in entries], ref_names)) if a != b)
        problems.append("same entries, different order (first difference at %d: %s vs %s)"
                        % (first, entries[first][0], ref_names[first]))
    n_params = sum(p.numel() for p in model.parameters())
    if facecl_params is not None and facecl_params != n_params:
        problems.append("parameter count: facecl %d, torch %d" % (facecl_params, n_params))
    if facecl_macs is not None:
        size = defaults(arch)["size"]
        ref_macs = reference_macs(model, size)
        if facecl_macs != ref_macs:
            problems.append("conv+linear multiply-adds at %d: facecl %d, torch %d" % (size, facecl_macs, ref_macs))
    return problems, n_params, len(ref)


def run_facecl(binary, arch):
    names = subprocess.run([binary, "model", "show", arch, "--names"] + options(arch), check=True,
                           capture_output=True, text=True).stdout
    show = subprocess.run([binary, "model", "show", arch] + options(arch), check=True,
                          capture_output=True, text=True).stdout
    params = int(re.search(r"trainable parameters\s+([0-9,]+)", show).group(1).replace(",", ""))
    macs = int(re.search(r"conv\+linear ([0-9,]+)", show).group(1).replace(",", ""))
    return parse_names(names), params, macs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--facecl", help="the facecl binary: run it for each ARCH")
    ap.add_argument("args", nargs="*", help="ARCH ... (with --facecl) or ARCH NAMES_FILE")
    a = ap.parse_args()
    torch.manual_seed(0)
    jobs = []
    if a.facecl:
        for arch in a.args or ARCHS:
            if arch not in ARCHS:
                raise SystemExit("unknown architecture %r (known: %s)" % (arch, " ".join(ARCHS)))
            entries, params, macs = run_facecl(a.facecl, arch)
            jobs.append((arch, entries, params, macs))
    else:
        if len(a.args) != 2:
            ap.error("give ARCH NAMES_FILE, or --facecl BINARY [ARCH ...]")
        arch, path = a.args
        if arch not in ARCHS:
            raise SystemExit("unknown architecture %r (known: %s)" % (arch, " ".join(ARCHS)))
        text = sys.stdin.read() if path == "-" else open(path).read()
        jobs.append((arch, parse_names(text), None, None))
    bad = 0
    print("%-18s %8s %14s %14s  %s" % ("architecture", "entries", "facecl params", "torch params", "result"))
    for arch, entries, params, macs in jobs:
        problems, n_ref, n_entries = compare(arch, entries, reference(arch), params, macs)
        print("%-18s %8d %14s %14d  %s" % (arch, n_entries, "-" if params is None else params, n_ref,
                                           "ok" if not problems else "MISMATCH"))
        for p in problems[:20]:
            print("    " + p)
        if len(problems) > 20:
            print("    ... %d more" % (len(problems) - 20))
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
