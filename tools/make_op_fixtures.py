#!/usr/bin/python3
"""tools/make_op_fixtures.py: writes tests/fixtures/ops_torch.bin, PyTorch outputs that pin op semantics.

Run once (the output is committed; tests never need torch):
    apt-get install -y python3-torch python3-numpy
    /usr/bin/python3 tools/make_op_fixtures.py            # writes tests/fixtures/ops_torch.bin

What it pins (tests/test_ops_torch.c checks facecl's OpenCL ops against it):
  conv_g   torch.nn.functional.conv2d: grouped (3), strided (2), dilated (2, 1), padded (2, 1),
           non-square (3x2) kernel, with bias; forward and the gradients to x, w, b
  conv_dw  depthwise (groups = channels) 3x3 stride-2 pad-1 conv without bias; fwd + grads
  bn       torch.nn.BatchNorm2d in training mode: forward, running-stat update (momentum 0.1,
           unbiased variance), and the gradients to x, gamma, beta
  maxpool_a / _b / _c   MaxPool2d(ceil_mode=True), with padding, incl. a size where the ceil-mode
           rule drops the last window (it would start in the right padding); forward, indices, dx
  avgpool_a / _b        AvgPool2d(ceil_mode=True, padding) with count_include_pad True / False;
           forward and dx
  xent_a / xent_b       CrossEntropyLoss(label_smoothing=0.1) (mean): loss and dlogits

Inputs are random float32 values (fixed seed). Everything is then computed in float64 from those
float32 inputs and stored rounded to float32, so the fixture carries torch's semantics without
torch's float32 rounding. Backward passes use a random upstream gradient `dy` (stored) and
`loss = sum(y * dy)`, so the stored gradients are d loss / d input.

File format (all little-endian):
  header   8 bytes   magic "FCLFIX1\\0"
           u32       format version (1)
           u32       number of records
           64 bytes  generator, NUL-padded ASCII ("torch 1.13.0 tools/make_op_fixtures.py")
  record   u32       name length L, then L bytes of ASCII name ("conv_g.x")
           u32       ndim (0..4), then ndim u32 extents (outermost first)
           f32       prod(extents) values, row-major (ndim 0: one value)
Per case, "<case>.params" is a 1-D f32 record of the op's integer/float parameters in the order
documented next to each case below (integers are exact in f32).
"""

import os
import struct
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "ops_torch.bin")

records = []   # (name, float64 tensor)


def put(name, t):
    records.append((name, t.detach().to(torch.float64).contiguous()))


def put_case(case, **tensors):
    """put(case + "." + key, tensor) for each keyword, in the order given."""
    for key, t in tensors.items():
        put(case + "." + key, t)


def rand(gen, *shape, lo=-1.0, hi=1.0):
    """float32-exact random values in [lo, hi) as a float64 tensor that requires grad."""
    t = torch.rand(*shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo
    return t.to(torch.float64).requires_grad_(True)


def conv_case(gen, name, n, cin, h, w, cout, kh, kw, stride, pad, dil, groups, bias):
    # params: n cin h w cout kh kw stride_h stride_w pad_h pad_w dil_h dil_w groups has_bias
    x = rand(gen, n, cin, h, w)
    wt = rand(gen, cout, cin // groups, kh, kw, lo=-0.5, hi=0.5)
    b = rand(gen, cout) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=pad, dilation=dil, groups=groups)
    dy = rand(gen, *y.shape).detach()
    (y * dy).sum().backward()
    put(name + ".params", torch.tensor([n, cin, h, w, cout, kh, kw, stride[0], stride[1], pad[0],
                                        pad[1], dil[0], dil[1], groups, 1 if bias else 0]))
    put(name + ".x", x)
    put(name + ".w", wt)
    if bias:
        put(name + ".b", b)
    put(name + ".y", y)
    put(name + ".dy", dy)
    put(name + ".dx", x.grad)
    put(name + ".dw", wt.grad)
    if bias:
        put(name + ".db", b.grad)


def bn_case(gen, name, n, c, h, w, eps, momentum):
    # params: n c h w eps momentum
    x = rand(gen, n, c, h, w, lo=-2.0, hi=3.0)
    gamma = rand(gen, c, lo=0.5, hi=1.5)
    beta = rand(gen, c)
    rm = rand(gen, c).detach()
    rv = rand(gen, c, lo=0.5, hi=2.0).detach()
    put(name + ".params", torch.tensor([n, c, h, w, eps, momentum]))
    put(name + ".x", x)
    put(name + ".gamma", gamma)
    put(name + ".beta", beta)
    put(name + ".running_mean_in", rm)
    put(name + ".running_var_in", rv)
    rm2, rv2 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm2, rv2, gamma, beta, training=True, momentum=momentum, eps=eps)
    dy = rand(gen, *y.shape).detach()
    (y * dy).sum().backward()
    put(name + ".y", y)
    put(name + ".running_mean_out", rm2)
    put(name + ".running_var_out", rv2)
    put(name + ".dy", dy)
    put(name + ".dx", x.grad)
    put(name + ".dgamma", gamma.grad)
    put(name + ".dbeta", beta.grad)


def maxpool_case(gen, name, n, c, h, w, k, s, p):
    # params: kh kw sh sw ph pw ceil_mode (input shape from <case>.x)
    x = rand(gen, n, c, h, w)
    y, idx = F.max_pool2d(x, k, s, p, ceil_mode=True, return_indices=True)
    dy = rand(gen, *y.shape).detach()
    (y * dy).sum().backward()
    put(name + ".params", torch.tensor([k[0], k[1], s[0], s[1], p[0], p[1], 1]))
    put(name + ".x", x)
    put(name + ".y", y)
    put(name + ".idx", idx.to(torch.float64))
    put(name + ".dy", dy)
    put(name + ".dx", x.grad)


def avgpool_case(gen, name, n, c, h, w, k, s, p, count_include_pad):
    # params: kh kw sh sw ph pw ceil_mode count_include_pad
    x = rand(gen, n, c, h, w)
    y = F.avg_pool2d(x, k, s, p, ceil_mode=True, count_include_pad=count_include_pad)
    dy = rand(gen, *y.shape).detach()
    (y * dy).sum().backward()
    put(name + ".params", torch.tensor([k[0], k[1], s[0], s[1], p[0], p[1], 1,
                                        1 if count_include_pad else 0]))
    put(name + ".x", x)
    put(name + ".y", y)
    put(name + ".dy", dy)
    put(name + ".dx", x.grad)


def xent_case(gen, name, n, k, eps, lo, hi):
    # params: n k label_smoothing; the gradient is of the mean loss itself (upstream 1)
    z = rand(gen, n, k, lo=lo, hi=hi)
    labels = torch.randint(0, k, (n,), generator=gen)
    loss = F.cross_entropy(z, labels, label_smoothing=eps)
    loss.backward()
    put(name + ".params", torch.tensor([n, k, eps]))
    put(name + ".logits", z)
    put(name + ".labels", labels.to(torch.float64))
    put(name + ".loss", loss.reshape(1))
    put(name + ".dlogits", z.grad)


def write(path, tool="tools/make_op_fixtures.py"):
    gen_str = ("torch %s %s" % (torch.__version__, tool)).encode("ascii")[:63]
    with open(path + ".tmp", "wb") as f:
        f.write(b"FCLFIX1\0")
        f.write(struct.pack("<II", 1, len(records)))
        f.write(gen_str.ljust(64, b"\0"))
        for name, t in records:
            nb = name.encode("ascii")
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<I", t.dim()))
            f.write(struct.pack("<%dI" % t.dim(), *t.shape))
            vals = t.reshape(-1).to(torch.float32).tolist()
            f.write(struct.pack("<%df" % len(vals), *vals))
    os.replace(path + ".tmp", path)


def write_and_list(path, tool="tools/make_op_fixtures.py", note=lambda name, t: ""):
    """Writes the records to path (making its folder) and lists them: name, shape, note(name, t)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write(path, tool)
    print("wrote %s: %d records, %d bytes" % (os.path.normpath(path), len(records), os.path.getsize(path)))
    for name, t in records:
        print("  %-28s %s%s" % (name, list(t.shape), note(name, t)))


def main():
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(20240611)
    conv_case(gen, "conv_g", 2, 6, 11, 9, 9, 3, 2, (2, 2), (2, 1), (2, 1), 3, True)
    conv_case(gen, "conv_dw", 2, 5, 13, 13, 5, 3, 3, (2, 2), (1, 1), (1, 1), 5, False)
    bn_case(gen, "bn", 3, 5, 7, 6, 1e-5, 0.1)
    # 14 x 12, k 3, s 2, p 1: ceil gives 8 x 7 (floor would give 7 x 6)
    maxpool_case(gen, "maxpool_a", 2, 3, 14, 12, (3, 3), (2, 2), (1, 1))
    # 7 x 7, k 2, s 2, p 0: the last window hangs over the edge: 4 x 4
    maxpool_case(gen, "maxpool_b", 1, 2, 7, 7, (2, 2), (2, 2), (0, 0))
    # 5 x 6, k 2, s 2, p 1: rows: ceil would give 4 but that window starts in the right padding,
    # so PyTorch drops it (3); columns: 4
    maxpool_case(gen, "maxpool_c", 2, 3, 5, 6, (2, 2), (2, 2), (1, 1))
    avgpool_case(gen, "avgpool_a", 2, 3, 14, 12, (3, 3), (2, 2), (1, 1), True)
    avgpool_case(gen, "avgpool_b", 2, 3, 13, 10, (3, 2), (2, 2), (1, 1), False)
    xent_case(gen, "xent_a", 6, 11, 0.1, -3.0, 3.0)
    xent_case(gen, "xent_b", 4, 300, 0.1, -8.0, 8.0)
    write_and_list(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
