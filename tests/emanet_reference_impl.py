"""The test reference of EMANet: an independent per-branch formulation in the reference implementation's
key layout (``ma-emanet.md``; ``conv_{i}`` Sequentials per branch), written with plain torch modules, and
the view of this package's fused tensors that holds each of its tensors (from the package's one table,
:func:`mmemanet.models.layers.mixture_attention.reference_pieces`)."""
import torch
import torch.nn.functional as F
from torch import nn

from mmemanet.models.layers.mixture_attention import reference_pieces


class RefSoftBAN(nn.BatchNorm2d):
    """SoftBAN as in the reference: BN without affine + weight/bias/weight_readjust/bias_readjust."""

    def __init__(self, c):
        super().__init__(c, affine=False)
        self.weight = nn.Parameter(torch.ones(1, c, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.weight_readjust = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.bias_readjust = nn.Parameter(-torch.ones(1, c, 1, 1))

    def forward(self, x):
        b, c = x.shape[:2]
        gate = torch.sigmoid(F.adaptive_avg_pool2d(x, 1) * self.weight_readjust + self.bias_readjust)
        scale = self.weight * torch.softmax(gate.view(b, c), dim=1).view(b, c, 1, 1)
        if self.training:  # a batch norm that keeps num_batches_tracked (ma-emanet.md)
            self.num_batches_tracked.add_(1)
        out = F.batch_norm(x, self.running_mean, self.running_var, None, None, self.training,
                           self.momentum, self.eps)
        return out * scale + self.bias


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


class RefSE(nn.Module):
    def __init__(self, c, r=16):
        super().__init__()
        self.fc = nn.Sequential(nn.Conv2d(c, c // r, 1), nn.ReLU(inplace=True), nn.Conv2d(c // r, c, 1),
                                nn.Sigmoid())

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(x, 1))


class RefMA(nn.Module):
    """PSA-style module with a ConvMixer unit per branch; output in REVERSED branch order.

    ``x: [B, in_channels, H, W] -> [B, planes, H / stride, W / stride]``.
    """

    def __init__(self, in_channels, planes, stride=1, kernels=(3, 5, 7, 9), groups=(1, 4, 8, 16)):
        super().__init__()
        self.n = n = len(kernels)
        self.c = c = planes // n
        for i, (k, g) in enumerate(zip(kernels, groups), 1):
            setattr(self, f'conv_{i}', nn.Sequential(
                nn.Conv2d(in_channels, c, k, stride, k // 2, groups=g, bias=False), nn.GELU(), nn.BatchNorm2d(c),
                nn.Sequential(
                    Residual(nn.Sequential(nn.Conv2d(c, c, 9, groups=c, padding=4), nn.GELU(),
                                           nn.BatchNorm2d(c))),
                    Residual(nn.Sequential(RefSoftBAN(c), nn.Conv2d(c, c, 1), nn.GELU(), nn.BatchNorm2d(c))))))
        self.se = RefSE(c)

    def forward(self, x):
        xs = [getattr(self, f'conv_{i}')(x) for i in range(1, self.n + 1)]
        b, _, h, w = xs[0].shape
        feats = torch.cat(xs, dim=1).view(b, self.n, self.c, h, w)
        attention = torch.cat([self.se(a) for a in xs], dim=1).view(b, self.n, self.c, 1, 1).softmax(dim=1)
        weighted = feats * attention
        return torch.cat([weighted[:, i] for i in reversed(range(self.n))], dim=1)


class RefBlock(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = RefMA(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class RefEMANet(nn.Module):
    """The reference EMANet-50 classifier (CIFAR stem): ``[B, 3, H, W] -> [B, num_classes]``."""

    def __init__(self, layers=(3, 4, 6, 3), num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        inplanes = 64
        for i, n in enumerate(layers):
            planes = 64 * 2**i
            blocks = []
            for j in range(n):
                blocks.append(RefBlock(inplanes, planes, (1 if i == 0 else 2) if j == 0 else 1))
                inplanes = planes * 4
            setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def ma_views(ma_tensors, num_branches=4):
    """Reference key (inside one MA) -> the view of ``ma_tensors`` (a MixtureAttention's name -> tensor,
    e.g. its state dict or its parameters' gradients) that holds it."""
    return {p.reference_key: p.view(ma_tensors[p.key]) for p in reference_pieces(ma_tensors, num_branches)}
