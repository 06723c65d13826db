#!/usr/bin/python3
"""tools/make_block_fixtures.py: writes tests/fixtures/blocks_torch.bin, PyTorch / timm semantics of
the ops the EfficientNet / ConvNeXt / ResNeSt / NFNet building blocks need.

Run once (the output is committed; tests never need torch):
    apt-get install -y python3-torch python3-torchvision python3-numpy
    /usr/bin/python3 tools/make_block_fixtures.py        # writes tests/fixtures/blocks_torch.bin

timm is not needed: the few timm functions used are copied below verbatim from timm 0.9.16
(`pip download --no-deps timm==0.9.16`: timm/layers/split_attn.py RadixSoftmax and SplitAttn's
radix sums, timm/layers/std_conv.py ScaledStdConv2d.forward's weight, timm/utils/agc.py).

What it pins (tests/test_blocks_torch.c checks facecl's OpenCL ops against it):
  gelu, gelu_tanh  F.gelu(x) / F.gelu(x, approximate='tanh'): y and dx
  ln2d       torchvision.models.convnext.LayerNorm2d(7, eps=1e-6) with random weight and bias:
             y, dx, dweight, dbias          params: [eps]
  wstd       timm ScaledStdConv2d weight: F.batch_norm(w.reshape(1, O, -1), None, None,
             weight=(gain * scale).view(-1), training=True, momentum=0, eps) with
             scale = gamma * fan_in ** -0.5: w_hat, dw, dgain      params: [gamma, eps, scale]
  rsoftmax_r2, rsoftmax_r1   RadixSoftmax(radix, cardinality) on [B, K]: y and dx
                             params: [radix, cardinality]
  rsum       SplitAttn's (x.reshape(B, R, C, H, W) * attn.reshape(B, R, C, 1, 1)).sum(1): y, dx,
             da; and x.reshape(B, R, C, H, W).sum(1) as rsum.gap   params: [radix]
  agc        timm's adaptive_clip_grad(clip_factor, eps) over a conv weight [6, 4, 3, 3] (rows of
             varied gradient size, some clipped), a bias [6] (one unit), a gain [6, 1, 1, 1]
             and a linear weight [5, 7]: agc.p<i>, agc.g<i> (in), agc.out<i>
             params: [clip_factor, eps, number of tensors]

Inputs are float32-exact random values (fixed seed); everything is computed in float64 and stored
rounded to float32. Backward passes use a stored random upstream gradient dy with
loss = sum(y * dy). File format: tools/make_op_fixtures.py (FCLFIX1).
"""
import os
import sys

import torch
import torch.nn.functional as F
from torchvision.models.convnext import LayerNorm2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_op_fixtures as mof  # noqa: E402  (put, rand, records, write_and_list)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "blocks_torch.bin")
put, rand = mof.put, mof.rand


# ---- timm 0.9.16, verbatim (timm/layers/split_attn.py) -------------------------------------------
class RadixSoftmax(torch.nn.Module):
    def __init__(self, radix, cardinality):
        super(RadixSoftmax, self).__init__()
        self.radix = radix
        self.cardinality = cardinality

    def forward(self, x):
        batch = x.size(0)
        if self.radix > 1:
            x = x.view(batch, self.cardinality, self.radix, -1).transpose(1, 2)
            x = F.softmax(x, dim=1)
            x = x.reshape(batch, -1)
        else:
            x = torch.sigmoid(x)
        return x


# ---- timm 0.9.16, verbatim (timm/utils/agc.py) ----------------------------------------------------
def unitwise_norm(x, norm_type=2.0):
    if x.ndim <= 1:
        return x.norm(norm_type)
    else:
        # works for nn.ConvNd and nn,Linear where output dim is first in the kernel/weight tensor
        # might need special cases for other weights (possibly MHA) where this may not be true
        return x.norm(norm_type, dim=tuple(range(1, x.ndim)), keepdim=True)


def adaptive_clip_grad(parameters, clip_factor=0.01, eps=1e-3, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    for p in parameters:
        if p.grad is None:
            continue
        p_data = p.detach()
        g_data = p.grad.detach()
        max_norm = unitwise_norm(p_data, norm_type=norm_type).clamp_(min=eps).mul_(clip_factor)
        grad_norm = unitwise_norm(g_data, norm_type=norm_type)
        clipped_grad = g_data * (max_norm / grad_norm.clamp(min=1e-6))
        new_grads = torch.where(grad_norm < max_norm, g_data, clipped_grad)
        p.grad.detach().copy_(new_grads)


def backward_with(gen, name, y):
    dy = rand(gen, *y.shape).detach()
    (y * dy).sum().backward()
    put(name + ".y", y)
    put(name + ".dy", dy)


def gelu_case(gen, name, approximate):
    x = rand(gen, 2, 3, 5, 7, lo=-5.0, hi=5.0)
    backward_with(gen, name, F.gelu(x, approximate=approximate))
    put(name + ".x", x)
    put(name + ".dx", x.grad)


def ln2d_case(gen, name, n, c, h, w, eps):
    m = LayerNorm2d(c, eps=eps).to(torch.float64)
    with torch.no_grad():
        m.weight.copy_(rand(gen, c, lo=0.5, hi=1.5))
        m.bias.copy_(rand(gen, c))
    x = rand(gen, n, c, h, w, lo=-2.0, hi=3.0)
    backward_with(gen, name, m(x))
    put(name + ".params", torch.tensor([eps]))
    put(name + ".x", x)
    put(name + ".weight", m.weight)
    put(name + ".bias", m.bias)
    put(name + ".dx", x.grad)
    put(name + ".dweight", m.weight.grad)
    put(name + ".dbias", m.bias.grad)


def wstd_case(gen, name, o, i, kh, kw, gamma, eps):
    w = rand(gen, o, i, kh, kw, lo=-0.5, hi=0.7)
    gain = rand(gen, o, 1, 1, 1, lo=0.5, hi=2.0)
    scale = gamma * w[0].numel() ** -0.5
    # ScaledStdConv2d.forward's weight (timm 0.9.16 std_conv.py)
    weight = F.batch_norm(
        w.reshape(1, o, -1), None, None,
        weight=(gain * scale).view(-1),
        training=True, momentum=0., eps=eps).reshape_as(w)
    backward_with(gen, name, weight)
    put(name + ".params", torch.tensor([gamma, eps, scale]))
    put(name + ".w", w)
    put(name + ".gain", gain)
    put(name + ".dw", w.grad)
    put(name + ".dgain", gain.grad)


def rsoftmax_case(gen, name, b, radix, card, rest):
    x = rand(gen, b, radix * card * rest, lo=-4.0, hi=4.0)
    backward_with(gen, name, RadixSoftmax(radix, card)(x))
    put(name + ".params", torch.tensor([radix, card]))
    put(name + ".x", x)
    put(name + ".dx", x.grad)


def rsum_case(gen, name, b, radix, c, h, w):
    x = rand(gen, b, radix * c, h, w)
    attn = rand(gen, b, radix * c, lo=0.0, hi=1.0)
    # SplitAttn.forward (timm 0.9.16): x_gap and the attention-weighted output
    B, RC, H, W = x.shape
    xr = x.reshape((B, radix, RC // radix, H, W))
    put(name + ".gap", xr.sum(dim=1))
    out = (xr * attn.view(B, -1, 1, 1).reshape((B, radix, RC // radix, 1, 1))).sum(dim=1)
    backward_with(gen, name, out)
    put(name + ".params", torch.tensor([radix]))
    put(name + ".x", x)
    put(name + ".a", attn)
    put(name + ".dx", x.grad)
    put(name + ".da", attn.grad)


def agc_case(gen, name, clip, eps):
    shapes = [(6, 4, 3, 3), (6,), (6, 1, 1, 1), (5, 7)]
    ps = []
    for k, s in enumerate(shapes):
        p = rand(gen, *s, lo=-0.3, hi=0.3)
        # gradients of very different sizes per row, so some units clip and some do not
        rows = s[0]
        mag = torch.tensor([10.0 ** (-3 + (r % 4)) for r in range(rows)], dtype=torch.float64)
        g = rand(gen, *s).detach() * mag.view(-1, *([1] * (len(s) - 1)))
        g = g.to(torch.float32).to(torch.float64)
        p.grad = g.clone()
        put("%s.p%d" % (name, k), p)
        put("%s.g%d" % (name, k), g)
        ps.append(p)
    adaptive_clip_grad(ps, clip_factor=clip, eps=eps)
    for k, p in enumerate(ps):
        put("%s.out%d" % (name, k), p.grad)
    put(name + ".params", torch.tensor([clip, eps, len(shapes)]))


def main():
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(20261206)
    gelu_case(gen, "gelu", "none")
    gelu_case(gen, "gelu_tanh", "tanh")
    ln2d_case(gen, "ln2d", 2, 7, 5, 3, 1e-6)
    wstd_case(gen, "wstd", 6, 4, 3, 3, 1.7015043497085571, 1e-5)
    rsoftmax_case(gen, "rsoftmax_r2", 3, 2, 2, 5)
    rsoftmax_case(gen, "rsoftmax_r1", 2, 1, 1, 9)
    rsum_case(gen, "rsum", 2, 2, 5, 3, 3)
    agc_case(gen, "agc", 0.01, 1e-3)
    mof.write_and_list(OUT, "tools/make_block_fixtures.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
