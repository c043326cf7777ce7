"""SoftBAN, EMANet's normalisation (IEBN with a softmax over channels), as a registered norm layer."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import nn
from torch.nn.modules.instancenorm import _InstanceNorm

from .precision import cast_to, spatial_mean


def running_stats_momentum(bn):
    """Count one batch on ``bn`` as ``nn.BatchNorm`` does in training; return the momentum for ``F.batch_norm``.

    In eval mode nothing is counted (and the running statistics are used, so the momentum is irrelevant).
    """
    if not bn.training:
        return 0.0
    bn.num_batches_tracked.add_(1)
    if bn.momentum is None:  # cumulative moving average
        return 1.0 / float(bn.num_batches_tracked)
    return bn.momentum


def soft_ban(x, running_mean, running_var, weight, bias, weight_readjust, bias_readjust, *,
             training, momentum, eps, groups=1):
    """SoftBAN as a function of explicit tensors (:class:`SoftBAN` and MA's per-branch reference use it).

    ``x: [B, C, H, W]``; the four affine tensors are ``[1, C, 1, 1]``; the softmax runs over each of
    ``groups`` equal consecutive blocks of channels. For a half-precision ``x`` (autocast) the pooled gate and
    the softmax run in float32; the per-sample scale and the bias are cast to the normalised map's dtype.
    """
    b, c = x.shape[:2]
    gate = torch.sigmoid(spatial_mean(x, keepdim=True) * weight_readjust + bias_readjust)
    scale = weight * gate.view(b, groups, c // groups).softmax(dim=2).view(b, c, 1, 1)
    normed = F.batch_norm(x, running_mean, running_var, None, None, training, momentum, eps)
    return normed * cast_to(scale, normed.dtype) + cast_to(bias, normed.dtype)


@MODELS.register_module()
class SoftBAN(_InstanceNorm, BaseModule):
    """SoftBAN, the normalisation of EMANet's channel-mixing unit (Yang et al., "Multiscale Hybrid
    Convolutional Deep Neural Networks with Channel Attention", Entropy 2022): IEBN (Liang et al.,
    AAAI 2020) with a softmax over channels.

    ``x: [B, C, H, W] -> [B, C, H, W]``::

        gate  = sigmoid(GAP(x) * weight_readjust + bias_readjust)     # [B, C, 1, 1]
        scale = weight * softmax(gate over the channels)               # per sample
        out   = batch_norm(x, running stats, no affine) * scale + bias

    A batch norm without affine (``running_mean``, ``running_var``, ``num_batches_tracked``, used in eval
    mode) plus the Parameters ``weight`` (init 1), ``bias`` (0), ``weight_readjust`` (0), ``bias_readjust``
    (-1), each ``[1, C, 1, 1]``: 4C parameters that thop-style counters do not see. At initialisation
    ``out = BN(x) / (C / softmax_groups)``. Usable through ``mmcv.cnn.build_norm_layer(dict(type='SoftBAN'), C)``.

    It derives from torch's ``_InstanceNorm`` (a ``_NormBase``, as ``nn.BatchNorm2d``: the same buffers and
    state-dict handling), not from ``_BatchNorm``: mmengine's and torch's ``convert_sync_batchnorm``
    (``sync_bn``) convert ``_BatchNorm`` layers only, so they leave SoftBAN whole, with per-GPU statistics as
    in the paper, while mmengine's and mmcv's norm checks ``(_BatchNorm, _InstanceNorm, GroupNorm,
    LayerNorm)`` (the optimizer constructors' ``norm_decay_mult``, ``is_norm``) still count it as a norm.
    :class:`~mmemanet.models.backbones.AttnResNet`'s ``norm_eval`` freezes it with the batch norms.

    Args:
        num_features (int): C.
        eps (float), momentum (float | None): as ``nn.BatchNorm2d``.
        softmax_groups (int): G; the softmax runs within each of G equal consecutive blocks of C / G
            channels, so ``SoftBAN(C, softmax_groups=G)`` computes G independent ``SoftBAN(C / G)``
            side by side (MA's fused path). G = 1 is the published layer.
    """
    _abbr_ = 'softban'

    def __init__(self, num_features, eps=1e-5, momentum=0.1, softmax_groups=1):
        if softmax_groups < 1 or num_features % softmax_groups:
            raise ValueError(f'SoftBAN: softmax_groups={softmax_groups} must be a positive divisor of '
                             f'num_features={num_features}')
        super().__init__(num_features, eps=eps, momentum=momentum, affine=False, track_running_stats=True)
        self.softmax_groups = softmax_groups
        shape = (1, num_features, 1, 1)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.weight_readjust = nn.Parameter(torch.zeros(shape))
        self.bias_readjust = nn.Parameter(torch.full(shape, -1.0))

    def _check_input_dim(self, x):
        if x.dim() != 4:
            raise ValueError(f'SoftBAN: expected a 4D input [B, C, H, W], got {x.dim()}D')

    def forward(self, x):
        self._check_input_dim(x)
        momentum = running_stats_momentum(self)
        return soft_ban(x, self.running_mean, self.running_var, self.weight, self.bias, self.weight_readjust,
                        self.bias_readjust, training=self.training, momentum=momentum, eps=self.eps,
                        groups=self.softmax_groups)

    def extra_repr(self):
        return f'{super().extra_repr()}, softmax_groups={self.softmax_groups}'
