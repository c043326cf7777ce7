"""The base shared by the channel gates (SE, ECA, SRM, FcaNet) and used by EMCA for its host."""
from abc import abstractmethod

import torch
from mmengine.model import BaseModule

from .precision import autocast_off, cast_to, spatial_mean


def apply_scale(x, factors, inplace=False):
    """``x * factors``; with ``inplace=True``, ``x.mul_(factors)`` unless autograd is recording (inference
    then makes no new tensor of ``x``'s size)."""
    recording = torch.is_grad_enabled() and (x.requires_grad or factors.requires_grad)
    return x.mul_(factors) if inplace and not recording else x * factors


class ChannelGate(BaseModule):
    """A channel gate split into squeeze and excitation: ``forward(x) = x * scale(x)``,
    ``scale(x) = sigmoid(excite(squeeze(x)))``.

    - ``squeeze(x: [B, C, H, W]) -> descriptor``: global average pooling, ``[B, C]``, unless a gate
      overrides it (SRM: style statistics ``[B, C, 2]``, FcaNet: DCT projection ``[B, C]``).
    - ``excite(descriptor) -> logits [B, C]`` (abstract: each gate defines it).

    :class:`~mmemanet.models.layers.EMCA` drives the same two methods of its host gate, so every
    gate has one implementation, whether it is used alone (as an ``after_conv3`` plugin) or inside EMCA.
    Output: ``[B, C, H, W]``, the input scaled per channel. Under autocast the descriptor and the excitation
    run in float32 and only the factors are cast back to ``x``'s dtype (see :mod:`.precision`).
    """
    slot = 'attention'  # where a residual block takes it (see backbones/blocks.py)

    def squeeze(self, x):
        """``x: [B, C, H, W] -> [B, C]``, the global average (float32 for a half-precision ``x``)."""
        return spatial_mean(x)

    @abstractmethod
    def excite(self, descriptor):
        """The gate's logits ``[B, C]`` for a descriptor as :meth:`squeeze` returns it."""

    def scale(self, x):
        """The per-channel factors ``sigmoid(excite(squeeze(x))): [B, C, 1, 1]`` that ``forward`` applies, in
        ``x``'s dtype (computed in float32 under autocast)."""
        with autocast_off(x):
            factors = self.excite(self.squeeze(x)).sigmoid()
        return cast_to(factors, x.dtype)[:, :, None, None]

    def forward(self, x, inplace=False):
        """``x * scale(x)``; ``inplace=True`` lets it overwrite ``x`` when autograd is not recording."""
        return apply_scale(x, self.scale(x), inplace)
