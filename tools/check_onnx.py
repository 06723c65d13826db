#!/usr/bin/env python3
"""tools/check_onnx.py: checks `facecl export` against onnxruntime for every shipped architecture.

For each architecture (models/*.model, plus tests/fixtures/onnx_*.model: small networks holding
every layer kind and pooling/conv setting the exporter maps) this script
  1. trains it the way a user's checkpoint is made, scaled down: the trainer's usual schedule
     (cosine per iteration after a one-epoch linear warmup, SGD momentum 0.9) for 3 epochs of 24
     steps of 8 images at lr 0.01 on a tiny synthetic set, at a small input size, with a non-default
     --norm. The weights move, and as the rate decays to 0 they settle while the BN running
     statistics (momentum 0.1) catch up with them, so eval-mode outputs have the magnitudes of a
     trained network's. (A constant rate stopped after 24 steps leaves the
     running statistics describing older weights; the mismatch compounds through deep networks:
     ResNet-101's eval-mode logits then reached 16,000, which no float32 computation can give to an
     absolute 1e-4.)
  2. exports it twice (--embedding and --logits) with `facecl export`, which also runs facecl's own
     network on a fixed random batch of [0, 1] images (--ref-input / --ref-output: the same
     loader, eval pipeline and forward as `facecl embed` / `facecl eval`, on PoCL by default);
  3. checks each model with onnx.checker (full_check: shape inference over the whole graph), runs
     it in onnxruntime on the CPU and compares: max |onnx - facecl| must be <= --tol (1e-4),
     absolute, for the embedding and for the logits.
It prints one row per architecture and output (max |facecl|, max abs diff, and that divided by
max |facecl|) and exits non-zero when any comparison fails or any architecture does not export.

Not run by the tests or CI (they check the writer and every mapping without Python:
tests/test_onnx_*.c). It needs numpy, onnx and onnxruntime from PyPI, e.g. in a virtual environment:

    python3 -m venv /tmp/onnxenv && /tmp/onnxenv/bin/pip install onnx onnxruntime numpy
    /tmp/onnxenv/bin/python tools/check_onnx.py --facecl build/facecl [--device pocl] [--only resnet18,small]
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # pragma: no cover
    sys.exit("check_onnx.py needs numpy, onnx and onnxruntime: pip install onnx onnxruntime numpy (%s)" % e)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Input size per architecture: as small as the architecture allows (AlexNet's features need 64 px).
SIZES = {"alexnet": 64}
DEFAULT_SIZE = 32


def fixture_size(path):
    """The input size a test network's `option size = N` line sets."""
    for line in open(path):
        w = line.split()
        if w[:3] == ["option", "size", "="]:
            return int(w[3])
    raise RuntimeError("%s: no `option size = N` line" % path)


def run(cmd, log):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n" + r.stdout + "\n")
    if r.returncode:
        raise RuntimeError("%s failed (exit %d):\n%s" % (" ".join(cmd[:2]), r.returncode, r.stdout[-2000:]))
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facecl", default=os.path.join(ROOT, "build", "facecl"))
    ap.add_argument("--device", default=None, help="facecl --device for training and the reference run")
    ap.add_argument("--only", default="", help="comma-separated architecture names (default: all)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one, removed)")
    ap.add_argument("--batch", type=int, default=6, help="images in the compared batch")
    ap.add_argument("--lr", default="0.01", help="facecl train --lr (default 0.01)")
    ap.add_argument("--sched", default="cosine", help="facecl train --sched (default cosine, one warmup epoch)")
    ap.add_argument("--epochs", default="3", help="facecl train --epochs (default 3: 72 steps)")
    ap.add_argument("--extra", default="", help="more facecl train options (space-separated)")
    args = ap.parse_args()

    models = sorted(glob.glob(os.path.join(ROOT, "models", "*.model")))
    models += sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "onnx_*.model")))
    only = [s for s in args.only.split(",") if s]
    if only:
        models = [m for m in models if os.path.basename(m)[:-6] in only]
    tmp = None
    work = args.work
    if not work:
        tmp = tempfile.TemporaryDirectory(prefix="facecl-onnx-")
        work = tmp.name
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "log.txt")
    dev = ["--device", args.device] if args.device else []
    fc = args.facecl

    data = os.path.join(work, "data")
    if not os.path.isdir(os.path.join(data, "train")):
        # 4 x 48 training images: one epoch is 24 steps of 8 (the warmup), two more decay the rate
        run([fc, "synth", "--ids", "4", "--per-id", "60", "--size", "64", "--unseen-ids", "2", "--pairs", "4",
             "--seed", "3", data], log)

    print("%-20s %-9s %6s  %12s  %12s  %12s  %s" % ("architecture", "output", "size", "max |facecl|", "max abs diff",
                                                   "relative", "result"))
    failures = 0
    rng = np.random.default_rng(12345)
    for path in models:
        name = os.path.basename(path)[:-6]
        size = SIZES.get(name, DEFAULT_SIZE)
        own_size = name.startswith("onnx_")  # the test networks: their own option lines (size, 3 channels)
        run_dir = os.path.join(work, "run-" + name)
        t0 = time.time()
        try:
            cmd = [fc, "train", "--train", os.path.join(data, "train"), "--model", path, "--channels", "3",
                   "--epochs", args.epochs, "--batch", "8", "--sched", args.sched, "--lr", args.lr, "--norm", "0.45:0.22",
                   "--augment", "none", "--workers", "1", "--out", run_dir] + dev + args.extra.split()
            if os.path.exists(run_dir):  # a kept --work folder: train refuses to overwrite unasked
                cmd.append("--overwrite")
            if not own_size:
                cmd += ["--size", str(size), "--embedding", "16"]
            run(cmd, log)
            if own_size:
                size = fixture_size(path)
            x = rng.random((args.batch, 3, size, size), dtype=np.float32)
            xin = os.path.join(work, name + "-x.npy")
            np.save(xin, x)
        except RuntimeError as e:
            print("%-20s %-9s %6d  %12s  %12s  %12s  FAIL (training: %s)" % (name, "-", size, "-", "-", "-",
                                                                           str(e).splitlines()[0]))
            failures += 1
            continue
        for out in ("embedding", "logits"):
            onnx_path = os.path.join(work, "%s-%s.onnx" % (name, out))
            ref = os.path.join(work, "%s-%s-facecl.npy" % (name, out))
            try:
                run([fc, "export", "--checkpoint", os.path.join(run_dir, "last.safetensors"), "--onnx", onnx_path,
                     "--" + out, "--ref-input", xin, "--ref-output", ref] + dev, log)
                onnx.checker.check_model(onnx_path, full_check=True)
                sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
                got = sess.run([out], {"input": x})[0]
                want = np.load(ref)
                if got.shape != want.shape:
                    raise RuntimeError("shape %s vs facecl's %s" % (got.shape, want.shape))
                diff = float(np.abs(got.astype(np.float64) - want).max())
                rel = diff / max(float(np.abs(want).max()), 1e-30)
                ok = diff <= args.tol and np.isfinite(got).all()
                failures += not ok
                print("%-20s %-9s %6d  %12.3g  %12.3g  %12.3g  %s" % (name, out, size, float(np.abs(want).max()), diff, rel,
                                                                     "ok" if ok else "FAIL"))
            except Exception as e:  # report and go on with the next architecture
                failures += 1
                print("%-20s %-9s %6d  %12s  %12s  %12s  FAIL (%s)" % (name, out, size, "-", "-", "-", str(e).splitlines()[0]))
            sys.stdout.flush()
        if tmp:  # checkpoints of the big networks take hundreds of MB
            for f in glob.glob(os.path.join(run_dir, "*.safetensors")) + glob.glob(os.path.join(work, name + "-*.onnx")):
                os.remove(f)
        print("%-20s (%.0f s)" % ("", time.time() - t0), file=sys.stderr)
    print("log of every command: %s" % (log if not tmp else "(temporary; pass --work DIR to keep it)"))
    if failures:
        print("%d comparison(s) failed" % failures)
        return 1
    print("all agree within %g (absolute)" % args.tol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
