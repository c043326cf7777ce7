"""FcaNet channel gate: SE with a fixed 2-D DCT squeeze ('top16' frequencies)."""
import math

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS

from .se import SEGate

# FcaNet's 'top16' frequencies (u along H, v along W) on a 7 x 7 grid.
TOP16_U = (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2)
TOP16_V = (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2)


def dct_basis(freq, size):
    """Orthonormal 1-D DCT-II basis vector of frequency ``freq`` over ``size`` positions."""
    scale = math.sqrt(2 / size) if freq else math.sqrt(1 / size)
    return torch.tensor([scale * math.cos(math.pi * freq * (pos + 0.5) / size) for pos in range(size)])


@MODELS.register_module()
class FcaGate(SEGate):
    """FcaNet's multi-spectral channel attention (Qin et al., "FcaNet", ICCV 2021), 'top16' variant.

    An :class:`SEGate` (bias-free, same parameters) whose squeeze is a fixed 2-D DCT projection:
    ``x: [B, C, H, W]`` is adaptively average-pooled to ``dct_size x dct_size`` when its size differs,
    the C channels are split into 16 consecutive groups, group i is projected on DCT frequency
    ``(u_i, v_i) * (dct_size // 7)``; descriptor ``[B, C]``. The basis is a non-persistent buffer.
    Output ``[B, C, H, W]``.

    Args:
        in_channels (int): C, a multiple of 16.
        dct_size (int): DCT grid size (FcaNet-ResNet: 56, 28, 14, 7 by stage), at least 7.
        ratio (int): SE reduction ratio.
    """
    _abbr_ = 'fca'

    def __init__(self, in_channels, dct_size=7, ratio=16, init_cfg=None):
        num_freqs = len(TOP16_U)
        if in_channels % num_freqs:
            raise ValueError(f'FcaGate: in_channels={in_channels} must be a multiple of {num_freqs} '
                             f'(one DCT frequency per group of channels)')
        if dct_size < 7:
            raise ValueError(f'FcaGate: dct_size={dct_size} must be at least 7 (the top16 frequencies '
                             f'are defined on a 7 x 7 grid)')
        super().__init__(in_channels, ratio=ratio, bias=False, init_cfg=init_cfg)
        self.dct_size = dct_size
        step = dct_size // 7
        basis = torch.stack([dct_basis(u * step, dct_size)[:, None] * dct_basis(v * step, dct_size)[None]
                             for u, v in zip(TOP16_U, TOP16_V)])
        self.register_buffer('dct_filter', basis.repeat_interleave(in_channels // num_freqs, dim=0),
                             persistent=False)

    def squeeze(self, x):
        if x.shape[-2:] != self.dct_filter.shape[-2:]:
            x = F.adaptive_avg_pool2d(x, self.dct_size)
        return (x * self.dct_filter).sum((2, 3))
