"""SRM channel gate: style pooling (mean, std), channel-wise FC, BatchNorm."""
import torch
from mmengine.registry import MODELS
from torch import nn
from torch.autograd.function import once_differentiable

from .gates import ChannelGate
from .precision import cast_to, spatial_mean, statistics_dtype
from .tracing import tracing

#: on CPU, the squared deviations are formed in slices of about this many bytes (see :class:`_StylePool`)
_CPU_SLICE_BYTES = 4 << 20


def _mean_and_squared_deviations(x):
    """``(mean, ((x - mean) ** 2).sum((2, 3)))`` for ``x: [B, C, H, W]``, two-pass, ``mean: [B, C, 1, 1]``;
    both in float32 for a half-precision ``x`` (a float16 sum of squares overflows above 65504).

    On CPU both passes run a few samples at a time through one small buffer: the second pass then reads the
    slice from cache, and no temporary the size of ``x`` is made (glibc hands blocks over 32 MiB out as new
    pages, and faulting those in costs more than the subtraction itself).
    """
    if x.device.type != 'cpu' or x.numel() == 0 or tracing():
        mean = spatial_mean(x, keepdim=True)
        return mean, (x - mean).square_().sum((2, 3))
    dtype = statistics_dtype(x)
    step = max(1, _CPU_SLICE_BYTES // max(x[0].numel() * dtype.itemsize, 1))
    buffer = torch.empty_like(x[:step], dtype=dtype, memory_format=torch.contiguous_format)
    means, sums = [], []
    for rows in x.split(step):
        mean = spatial_mean(rows, keepdim=True)
        deviations = torch.sub(rows, mean, out=buffer[:rows.shape[0]])
        means.append(mean)
        sums.append(deviations.square_().sum((2, 3)))
    return torch.cat(means), torch.cat(sums)


def _mean_and_std(x):
    """``(mean [B, C, 1, 1], sqrt(unbiased var + 1e-5) [B, C])`` of ``x: [B, C, H, W]``."""
    mean, squared_deviations = _mean_and_squared_deviations(x)
    return mean, (squared_deviations / (x.shape[2] * x.shape[3] - 1) + 1e-5).sqrt()


class _StylePool(torch.autograd.Function):
    """SRM's style pooling ``x: [B, C, H, W] -> [B, C, 2]`` = per-channel ``[mean, sqrt(var + 1e-5)]``,
    ``var`` unbiased, computed two-pass (``sum((x - mean)^2) / (HW - 1)``, as accurate as ``torch.var``),
    in float32 for a half-precision ``x``.

    Plain autograd would keep the full-size ``x - mean`` of every pooled map for backward; this keeps
    only ``x`` (alive anyway) and the ``[B, C]`` statistics, and the backward is the closed form
    ``dx = g_mean / HW + g_std / std * (x - mean) / (HW - 1)``.
    """

    @staticmethod
    def forward(ctx, x):
        mean, std = _mean_and_std(x)
        ctx.save_for_backward(x, mean, std)
        return torch.stack((mean.flatten(1), std), dim=2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, mean, std = ctx.saved_tensors
        n = x.shape[2] * x.shape[3]
        grad_mean = (grad[..., 0] / n)[..., None, None]
        grad_std = (grad[..., 1] / (std * (n - 1)))[..., None, None]
        return cast_to((x - mean).mul_(grad_std).add_(grad_mean), x.dtype)


def style_pool(x):
    """``x: [B, C, H, W] -> [B, C, 2]``: per-channel mean and ``sqrt(unbiased var + 1e-5)`` (H * W > 1), in
    float32 for a half-precision ``x``. While tracing (export, FLOP counting) the same with plain ops."""
    if tracing():
        mean, std = _mean_and_std(x)
        return torch.stack((mean.flatten(1), std), dim=2)
    return _StylePool.apply(x)


@MODELS.register_module()
class SRMGate(ChannelGate):
    """Style-based Recalibration Module (Lee et al., "SRM", ICCV 2019).

    ``x: [B, C, H, W] -> x * sigmoid(BN(cfc[:, 0] * mean + cfc[:, 1] * std))``, same shape.
    Descriptor (style pooling, :func:`style_pool`): ``[B, C, 2]`` = per-channel ``[mean, std]`` over
    H x W, with ``std = sqrt(unbiased var + 1e-5)`` as in the official code (so H * W must be > 1).
    Parameters: ``cfc [C, 2]`` (init 0) and the BatchNorm's 2C, 4C in all. thop-style counters see only
    the BatchNorm's 2C because ``cfc`` is a raw Parameter, not a layer. The SRM reference trains these
    parameters without weight decay.

    Args:
        in_channels (int): C.
    """
    _abbr_ = 'srm'

    def __init__(self, in_channels, init_cfg=None):
        super().__init__(init_cfg)
        self.cfc = nn.Parameter(torch.zeros(in_channels, 2))
        self.bn = nn.BatchNorm1d(in_channels)

    def squeeze(self, x):
        """``x: [B, C, H, W] -> [B, C, 2]``: per-channel mean and ``sqrt(unbiased var + 1e-5)``."""
        if x.shape[2] * x.shape[3] < 2:
            raise ValueError(f'SRMGate: style pooling needs at least 2 positions for the unbiased std, got a '
                             f'{x.shape[2]} x {x.shape[3]} map')
        return style_pool(x)

    def excite(self, descriptor):
        return self.bn((descriptor * self.cfc).sum(2))
