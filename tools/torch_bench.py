#!/usr/bin/env python3
"""tools/torch_bench.py: PyTorch's speed on the same network, input and batch, for `facecl bench net --torch`.

Builds the torchvision model (resnet18/34/50/101, mobilenet_v2, vgg11_bn, vgg16_bn, densenet121,
resnext50_32x4d; and through tools/ref_models.py regnet_x/y_400mf, efficientnet_b0, mobilenet_v1,
iresnet50/100, mobilefacenet) with the given input channels, classes and size; with --stem face the first conv
becomes 3x3 stride 1 and the max pool is dropped (ResNets) or the first conv gets stride 1
(MobileNetV2), as facecl's face stem. Times a training step (forward, cross-entropy, backward, SGD
momentum step) and an inference forward on synthetic tensors, median of --reps after a warm-up,
and prints one line facecl parses:

    torch train_img_s=51.5 infer_img_s=187.0 threads=2 version=1.13.1

--device cuda times it on the GPU instead (ci/gpu-check.sh), synchronising before each clock read,
with cuDNN's autotuner on and TF32 off (true fp32, as facecl computes) unless --tf32; the line then
also says device=cuda:0 (name).

Needs Debian's python3-torch and python3-torchvision (never needed by tests or CI), or any PyTorch
with CUDA for --device cuda.
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torchvision

    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
    import ref_models
except ImportError as e:  # pragma: no cover
    print(f"torch unavailable: {e}", file=sys.stderr)
    sys.exit(3)


def build(name, channels, classes, stem, size):
    if name in ref_models.DEFAULTS:  # the issue-12 networks: the references of tools/ref_models.py
        return ref_models.build(name, 1.0, stem, channels, size, classes)
    m = getattr(torchvision.models, name)(num_classes=classes)
    if name.startswith(("resnet", "resnext")):
        if stem == "face":
            m.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
            m.maxpool = nn.Identity()
        elif channels != 3:
            m.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    elif name == "mobilenet_v2":
        c0 = m.features[0][0]
        m.features[0][0] = nn.Conv2d(channels, c0.out_channels, 3, 1 if stem == "face" else 2, 1, bias=False)
    elif channels != 3:
        raise SystemExit(f"torch_bench.py: {name} with {channels} channels is not supported here")
    return m


def median_time(fn, reps, sync):
    fn()  # warm-up (allocations, oneDNN primitive creation, cuDNN autotuning)
    fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--stem", default="imagenet")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 on the GPU (default: true fp32)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    where = ""
    sync = lambda: None  # noqa: E731
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            print("torch_bench.py: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
            sys.exit(4)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        sync = lambda: torch.cuda.synchronize(dev)  # noqa: E731
        where = f" device={dev} ({torch.cuda.get_device_name(dev)}) tf32={int(a.tf32)}"
    torch.manual_seed(0)
    m = build(a.model, a.channels, a.classes, a.stem, a.size).to(dev)
    x = torch.randn(a.batch, a.channels, a.size, a.size, device=dev)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step():
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            m(x)

    m.train()
    t_train = median_time(train_step, a.reps, sync)
    m.eval()
    t_infer = median_time(infer, a.reps, sync)
    print(f"torch train_img_s={a.batch / t_train:.2f} infer_img_s={a.batch / t_infer:.2f} "
          f"threads={torch.get_num_threads()} version={torch.__version__}{where}")


if __name__ == "__main__":
    main()
