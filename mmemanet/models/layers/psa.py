"""EPSANet's PSA module (its branch pieces, shared with MixtureAttention, are in :mod:`.branches`)."""
import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from .branches import BranchSE, branch_convs, branch_weights, check_branches


@MODELS.register_module()
class PyramidSplitAttention(BaseModule):
    """Pyramid Split Attention (Zhang et al., "EPSANet", 2021), in place of a bottleneck's 3x3 conv.

    ``x: [B, in_channels, H, W] -> [B, out_channels, H / stride, W / stride]``. Branch i:
    ``Conv2d(in_channels -> out_channels / n, k_i, stride, groups g_i, no bias)``; one
    :class:`BranchSE` shared by the branches (with biases, ``c -> c // se_ratio -> c``); softmax
    across the branches; output = channel concatenation in REVERSED branch order ``[y_n, ..., y_1]``.
    ``branch_convs[i]`` is branch i (k = 3 first).

    Args:
        in_channels (int): input channels.
        out_channels (int | None): output channels, a multiple of n * lcm(groups); default in_channels.
        stride (int): stride of every branch conv.
        kernels, groups (tuple[int]): per-branch odd kernel size and group count, same length.
        se_ratio (int): reduction of the shared SE.
    """
    _abbr_ = 'psa'
    slot = 'mixer'  # where a residual block takes it (see backbones/blocks.py)

    def __init__(self, in_channels, out_channels=None, stride=1, kernels=(3, 5, 7, 9), groups=(1, 4, 8, 16),
                 se_ratio=16, init_cfg=None):
        super().__init__(init_cfg)
        out_channels = in_channels if out_channels is None else out_channels
        check_branches('PyramidSplitAttention', in_channels, out_channels, kernels, groups, se_ratio)
        self.num_branches = len(kernels)
        self.branch_convs = branch_convs(in_channels, out_channels, stride, kernels, groups)
        self.se = BranchSE(out_channels // self.num_branches, se_ratio)

    def forward(self, x):
        feats = torch.cat([conv(x) for conv in reversed(self.branch_convs)], dim=1)
        return feats * branch_weights(feats, self.se, self.num_branches)
