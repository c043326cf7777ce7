"""The multi-branch pieces that EPSANet's PSA module and EMANet's MixtureAttention share: the branch
settings check, the branch convolutions, the SE shared by the branches and the softmax across branches."""
import math

from mmengine.model import BaseModule
from torch import nn

from .precision import autocast_off, cast_to, spatial_mean


def check_branches(owner, in_channels, out_channels, kernels, groups, se_ratio):
    """Raise ValueError, naming the numbers, unless the multi-branch settings are consistent."""
    kernels, groups = tuple(kernels), tuple(groups)
    if not kernels or len(kernels) != len(groups):
        raise ValueError(f'{owner}: kernels={kernels} and groups={groups} must be non-empty and of the same '
                         f'length (one kernel size and one group count per branch), got {len(kernels)} and '
                         f'{len(groups)}')
    bad = [k for k in kernels if k < 1 or k % 2 == 0]
    if bad:
        raise ValueError(f'{owner}: kernels={kernels} contains {bad}; every branch kernel must be odd '
                         f'(padding k // 2 keeps the spatial size), e.g. (3, 5, 7, 9)')
    if min(groups) < 1:
        raise ValueError(f'{owner}: groups={groups} must all be positive')
    n, lcm = len(kernels), math.lcm(*groups)
    if in_channels % lcm or out_channels % (n * lcm):
        raise ValueError(f'{owner}: in_channels={in_channels}, out_channels={out_channels} do not fit '
                         f'groups={groups}: each of the {n} branches convolves in_channels -> out_channels / {n} '
                         f'= {out_channels / n:g} channels and every group count must divide both, so '
                         f'in_channels must be a multiple of {lcm} and out_channels a multiple of {n * lcm} '
                         f'(out_channels defaults to in_channels)')
    if out_channels // n < se_ratio:
        raise ValueError(f'{owner}: out_channels={out_channels} gives {out_channels // n} channels per branch, '
                         f'fewer than se_ratio={se_ratio}; the shared SE needs out_channels >= {n * se_ratio}')


def branch_convs(in_channels, out_channels, stride, kernels, groups, bias=False):
    """One ``Conv2d(in_channels -> out_channels / n, k_i, stride, padding k_i // 2, groups g_i)`` per branch."""
    c = out_channels // len(kernels)
    return nn.ModuleList(
        nn.Conv2d(in_channels, c, k, stride=stride, padding=k // 2, groups=g, bias=bias)
        for k, g in zip(kernels, groups))


class BranchSE(BaseModule):
    """The SE shared by the branches of PSA and MA (EPSANet's ``SEWeightModule``).

    ``[N, c, H, W] -> [N, c, 1, 1]``: ``sigmoid(Conv1x1(ReLU(Conv1x1(GAP(x)))))``, ``c -> c // ratio -> c``,
    both convolutions with bias (keys ``fc.0``, ``fc.2`` as in the EMANet reference). For a half-precision
    ``x`` (autocast) the weights are computed and returned in float32: they feed the softmax across branches.
    """

    def __init__(self, channels, ratio=16, init_cfg=None):
        super().__init__(init_cfg)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, channels // ratio, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // ratio, channels, 1))

    def forward(self, x):
        with autocast_off(x):
            return self.fc(spatial_mean(x, keepdim=True)).sigmoid()


def branch_weights(feats, se, num_branches):
    """Softmax-across-branches attention weights.

    ``feats: [B, n * c, H, W]`` holds the n branch outputs as consecutive channel blocks (in any block
    order). The shared ``se`` runs once on the pooled ``[B * n, c, 1, 1]`` view; the softmax runs over
    the branch axis. Returns ``[B, n * c, 1, 1]`` in the block order of ``feats``; for every sample and
    channel position the n weights sum to 1. Pooling, SE and softmax run in float32 for a half-precision
    ``feats`` (autocast); the weights are returned in ``feats``' dtype.
    """
    b, p = feats.shape[:2]
    w = se(spatial_mean(feats).view(b * num_branches, p // num_branches, 1, 1))
    w = w.view(b, num_branches, p // num_branches).softmax(dim=1).view(b, p, 1, 1)
    return cast_to(w, feats.dtype)
