"""tools/ref_models.py: PyTorch definitions of the networks issue 12 added, as the references facecl's model files are checked against.

Used by tools/check_model_names.py (names, shapes, order, parameter counts) and
tools/torch_parity.py (narrow versions: logits, loss, gradients, SGD steps). Each builder takes
facecl's run-time options (width, stem, channels, size, classes) and returns a torch.nn.Module
whose state_dict matches the model file built with the same options:

  mobilenet_v1     written here from the paper (no torchvision/timm model): BN after every conv
  iresnet50/100    insightface arcface_torch backbones/iresnet.py, written out here (channels,
                   width, stem and a size-dependent fc added; at their defaults identical)
  mobilefacenet    insightface arcface_torch backbones/mobilefacenet.py ("mbf"), written out here
  regnet_x_400mf,  torchvision.models.RegNet with the stage table of the model file
  regnet_y_400mf
  efficientnet_b0  torchvision.models.EfficientNet (width_mult = width)
  convnext_tiny    torchvision.models.ConvNeXt (every dim round(d * width))
  resnest50d       timm 0.9.16's ResNet with ResNestBottleneck (stage widths scaled by width)
  nfnet_f0         timm 0.9.16's NormFreeNet with the nfnet_f0 config (width_factor = width, group
                   size round(128 * width))

Needs torch and torchvision (Debian: apt-get install python3-torch python3-torchvision).
"""
import torch
import torch.nn as nn
import torchvision
from torchvision.models import regnet as tv_regnet


def tv_make_divisible(v, divisor, min_value=None):
    """torchvision's _make_divisible (facecl's make_divisible(v, divisor))."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def check_stem(stem):
    if stem not in ("imagenet", "face"):
        raise ValueError("stem must be imagenet or face, not %r" % stem)


# ---- MobileNetV1 -------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (conv-bn-relu-conv-bn, 1x1 projection when the shape changes):
    torch_parity.py's ResNet-18 and torch_recipe.py's small.model are made of it."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (self.downsample(x) if self.downsample is not None else x))


class MobileNetV1(nn.Module):
    """Howard et al. 2017, 1.0/224: features.0 = conv3x3/2 + BN + ReLU; features.1..13 =
    depthwise 3x3 + BN + ReLU (indices 0, 1, 2), pointwise 1x1 + BN + ReLU (3, 4, 5); fc."""

    CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
           (512, 1), (512, 1), (1024, 2), (1024, 1)]

    def __init__(self, width=1.0, stem="imagenet", channels=3, classes=1000):
        super().__init__()
        check_stem(stem)
        c0 = max(8, round(32 * width))
        layers = [nn.Sequential(nn.Conv2d(channels, c0, 3, 1 if stem == "face" else 2, 1, bias=False),
                                nn.BatchNorm2d(c0), nn.ReLU(inplace=True))]
        cin = c0
        for c, s in self.CFG:
            c = max(8, round(c * width))
            layers.append(nn.Sequential(
                nn.Conv2d(cin, cin, 3, s, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
            cin = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(torch.flatten(x.mean((2, 3)), 1))


# ---- insightface IResNet -----------------------------------------------------------------------

class IBasicBlock(nn.Module):
    """arcface_torch backbones/iresnet.py IBasicBlock."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    """arcface_torch backbones/iresnet.py IResNet (dropout 0, 512 features). Additions, all
    identity at the defaults: `channels` (insightface: 3), `width` (64 * width first-stage
    planes), `size` (the fc takes 512 * (size/16)^2 inputs; insightface fixes 7x7 = 112 px),
    `stem` imagenet (stride 2 first conv) and `classes` > 0 (a linear `classifier`)."""

    def __init__(self, layers, width=1.0, stem="face", channels=3, size=112, classes=0):
        super().__init__()
        check_stem(stem)
        base = round(64 * width)
        self.inplanes = base
        self.conv1 = nn.Conv2d(channels, base, 3, 1 if stem == "face" else 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(base, eps=1e-05)
        self.prelu = nn.PReLU(base)
        for i, n in enumerate(layers):
            setattr(self, "layer%d" % (i + 1), self._make_layer(base * 2 ** i, n, 2))
        self.bn2 = nn.BatchNorm2d(base * 8, eps=1e-05)
        self.dropout = nn.Dropout(p=0, inplace=True)
        hw = size // (2 if stem == "imagenet" else 1)
        for _ in range(4):
            hw = (hw - 1) // 2 + 1
        feat = round(512 * width)
        self.fc = nn.Linear(base * 8 * hw * hw, feat)
        self.features = nn.BatchNorm1d(feat, eps=1e-05)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        self.classifier = nn.Linear(feat, classes) if classes else None

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes, eps=1e-05))
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(IBasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        x = self.features(self.fc(x))
        return self.classifier(x) if self.classifier is not None else x


# ---- insightface MobileFaceNet -----------------------------------------------------------------

class ConvBlock(nn.Module):
    def __init__(self, in_c, out_c, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False),
                                    nn.BatchNorm2d(out_c), nn.PReLU(out_c))

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):
    def __init__(self, in_c, out_c, kernel=1, stride=1, padding=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False),
                                    nn.BatchNorm2d(out_c))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, in_c, out_c, residual=False, stride=2, groups=1):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(in_c, groups), ConvBlock(groups, groups, 3, stride, 1, groups=groups),
                                    LinearBlock(groups, out_c))

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


class Residual(nn.Module):
    def __init__(self, c, num_block, groups):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, 1, groups) for _ in range(num_block)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, embedding_size, k):
        super().__init__()
        self.layers = nn.Sequential(LinearBlock(embedding_size, embedding_size, k, groups=embedding_size), nn.Flatten(),
                                    nn.Linear(embedding_size, embedding_size, bias=False), nn.BatchNorm1d(embedding_size))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    """arcface_torch backbones/mobilefacenet.py get_mbf (blocks (1, 4, 6, 2), scale 2, 512
    features). Additions, identity at the defaults: `channels`, `width` (the scale's channel
    counts and the expansion widths make_divisible(c * width, 8)), the GDC kernel = the final
    feature map (7x7 at 112 px), `classes` > 0 (a linear `classifier`)."""

    def __init__(self, width=1.0, stem="face", channels=3, size=112, classes=0):
        super().__init__()
        check_stem(stem)
        c1, c2 = tv_make_divisible(128 * width, 8), tv_make_divisible(256 * width, 8)
        g1, g2, g3 = c1, c2, tv_make_divisible(512 * width, 8)
        self.layers = nn.ModuleList([
            ConvBlock(channels, c1, 3, 2, 1),
            ConvBlock(c1, c1, 3, 1, 1, groups=c1 // 2),
            DepthWise(c1, c1, False, 2, g1), Residual(c1, 4, g1),
            DepthWise(c1, c2, False, 2, g2), Residual(c2, 6, g2),
            DepthWise(c2, c2, False, 2, g3), Residual(c2, 2, g2)])
        feat = tv_make_divisible(512 * width, 8)
        self.conv_sep = ConvBlock(c2, feat)
        hw = size
        for _ in range(4):
            hw = (hw - 1) // 2 + 1
        self.features = GDC(feat, hw)
        self.classifier = nn.Linear(feat, classes) if classes else None

    def forward(self, x):
        for f in self.layers:
            x = f(x)
        x = self.features(self.conv_sep(x))
        return self.classifier(x) if self.classifier is not None else x


# ---- torchvision RegNet with the model files' stage tables -------------------------------------

REGNET = {  # depths, widths, group width, SE ratio (torchvision's derived values)
    "regnet_x_400mf": ([1, 2, 7, 12], [32, 64, 160, 400], 16, None),
    "regnet_y_400mf": ([1, 3, 6, 6], [48, 104, 208, 440], 8, 0.25),
}


def regnet(name, width=1.0, stem="imagenet", channels=3, classes=1000):
    check_stem(stem)
    depths, widths, gw, se = REGNET[name]
    widths = [tv_make_divisible(w * width, gw) for w in widths]
    bp = tv_regnet.BlockParams(depths, widths, [gw] * 4, [1.0] * 4, [2] * 4, se)
    m = tv_regnet.RegNet(bp, num_classes=classes, stem_width=tv_make_divisible(32 * width, 8))
    m.stem[0] = nn.Conv2d(channels, m.stem[0].out_channels, 3, 1 if stem == "face" else 2, 1, bias=False)
    if width == 1.0 and channels == 3 and stem == "imagenet":  # the table is torchvision's
        ref = getattr(torchvision.models, name)(num_classes=classes)
        assert [(k, v.shape) for k, v in ref.state_dict().items()] == [(k, v.shape) for k, v in m.state_dict().items()]
    return m


# ---- torchvision EfficientNet-B0 with a width multiplier and the face stem -----------------------

def efficientnet_b0(width=1.0, stem="imagenet", channels=3, classes=1000, stochastic_depth=0.2):
    check_stem(stem)
    from torchvision.models import efficientnet as tv_eff
    setting, last = tv_eff._efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=1.0)
    m = tv_eff.EfficientNet(setting, 0.2, stochastic_depth, num_classes=classes, last_channel=last)
    c0 = m.features[0][0]
    m.features[0][0] = nn.Conv2d(channels, c0.out_channels, 3, 1 if stem == "face" else 2, 1, bias=False)
    return m


# ---- torchvision ConvNeXt-Tiny with a width multiplier and the face stem ------------------------

def convnext_tiny(width=1.0, stem="imagenet", channels=3, classes=1000, stochastic_depth=0.1):
    check_stem(stem)
    from torchvision.models import convnext as tv_cnx
    d = [round(c * width) for c in (96, 192, 384, 768)]
    setting = [tv_cnx.CNBlockConfig(d[0], d[1], 3), tv_cnx.CNBlockConfig(d[1], d[2], 3),
               tv_cnx.CNBlockConfig(d[2], d[3], 9), tv_cnx.CNBlockConfig(d[3], None, 3)]
    m = tv_cnx.ConvNeXt(setting, stochastic_depth_prob=stochastic_depth, num_classes=classes)
    c0 = m.features[0][0]
    m.features[0][0] = nn.Conv2d(channels, c0.out_channels, 4, 2 if stem == "face" else 4, 1 if stem == "face" else 0)
    return m


# ---- timm 0.9.16 resnest50d with a width multiplier and the face stem --------------------------
# timm: pip install --no-deps --target /opt/timm timm==0.9.16, then PYTHONPATH=/opt/timm (works
# with Debian's torch 1.13).

def timm_module(name, arch):
    """timm.models.<name>, or exit saying how to get timm 0.9.16."""
    import importlib
    try:
        return importlib.import_module("timm.models." + name)
    except ImportError as e:
        raise SystemExit("%s needs timm 0.9.16: pip install --no-deps --target /opt/timm timm==0.9.16 "
                         "and PYTHONPATH=/opt/timm (%s)" % (arch, e))


def resnest50d(width=1.0, stem="imagenet", channels=3, classes=1000):
    check_stem(stem)
    tr, rs = timm_module("resnet", "resnest50d"), timm_module("resnest", "resnest50d")
    orig = tr.make_blocks

    def scaled(block_fn, chans, *a, **k):  # timm hard-codes the stage widths 64..512
        return orig(block_fn, [round(c * width) for c in chans], *a, **k)

    tr.make_blocks = scaled
    try:
        m = tr.ResNet(block=rs.ResNestBottleneck, layers=[3, 4, 6, 3], stem_type="deep", stem_width=round(32 * width),
                      avg_down=True, base_width=64, cardinality=1, block_args=dict(radix=2, avd=True, avd_first=False),
                      num_classes=classes, in_chans=channels)
    finally:
        tr.make_blocks = orig
    m.num_features = round(512 * width) * 4
    m.fc = nn.Linear(m.num_features, classes)  # timm sizes it for width 1
    if stem == "face":
        m.conv1[0].stride = (1, 1)
        m.maxpool = nn.Identity()
    return m


# ---- timm 0.9.16 nfnet_f0 with a width multiplier and the face stem ------------------------------

def nfnet_f0(width=1.0, stem="imagenet", channels=3, classes=1000):
    check_stem(stem)
    import dataclasses
    nf = timm_module("nfnet", "nfnet_f0")
    # timm's width_factor scales every channel count; the group width is scaled with it so a
    # narrow network keeps the number of groups (at width 1 this is timm's nfnet_f0 exactly)
    cfg = dataclasses.replace(nf.model_cfgs["nfnet_f0"], width_factor=width, group_size=round(128 * width))
    m = nf.NormFreeNet(cfg, num_classes=classes, in_chans=channels)
    if stem == "face":
        m.stem.conv1.stride = (1, 1)  # padding 1 either way (timm's get_padding(3, 2) is 1 too)
    return m


# ---- registry: name -> builder(width, stem, channels, size, classes) ----------------------------

def build(name, width=1.0, stem=None, channels=3, size=224, classes=1000):
    if name == "mobilenet_v1":
        return MobileNetV1(width, stem or "imagenet", channels, classes)
    if name in ("iresnet50", "iresnet100"):
        layers = [3, 4, 14, 3] if name == "iresnet50" else [3, 13, 30, 3]
        return IResNet(layers, width, stem or "face", channels, size, classes)
    if name == "mobilefacenet":
        return MobileFaceNet(width, stem or "face", channels, size, classes)
    if name in REGNET:
        return regnet(name, width, stem or "imagenet", channels, classes)
    if name == "efficientnet_b0":
        return efficientnet_b0(width, stem or "imagenet", channels, classes)
    if name == "convnext_tiny":
        return convnext_tiny(width, stem or "imagenet", channels, classes)
    if name == "resnest50d":
        return resnest50d(width, stem or "imagenet", channels, classes)
    if name == "nfnet_f0":
        return nfnet_f0(width, stem or "imagenet", channels, classes)
    raise KeyError(name)


# facecl model show options under which the model file equals the published network
DEFAULTS = {
    "mobilenet_v1": dict(size=224, classes=1000, stem="imagenet"),
    "iresnet50": dict(size=112, classes=0, stem="face"),
    "iresnet100": dict(size=112, classes=0, stem="face"),
    "mobilefacenet": dict(size=112, classes=0, stem="face"),
    "regnet_x_400mf": dict(size=224, classes=1000, stem="imagenet"),
    "regnet_y_400mf": dict(size=224, classes=1000, stem="imagenet"),
    "efficientnet_b0": dict(size=224, classes=1000, stem="imagenet"),
    "convnext_tiny": dict(size=224, classes=1000, stem="imagenet"),
    "resnest50d": dict(size=224, classes=1000, stem="imagenet"),
    "nfnet_f0": dict(size=224, classes=1000, stem="imagenet"),
}
