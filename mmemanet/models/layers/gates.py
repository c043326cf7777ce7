"""The base shared by the channel gates (SE, ECA, SRM, FcaNet) and used by EMCA for its host."""
from abc import abstractmethod

from mmengine.model import BaseModule


class ChannelGate(BaseModule):
    """A channel gate split into squeeze and excitation: ``forward(x) = x * sigmoid(excite(squeeze(x)))``.

    - ``squeeze(x: [B, C, H, W]) -> descriptor``: global average pooling, ``[B, C]``, unless a gate
      overrides it (SRM: style statistics ``[B, C, 2]``, FcaNet: DCT projection ``[B, C]``).
    - ``excite(descriptor) -> logits [B, C]`` (abstract: each gate defines it).

    :class:`~mmemanet.models.layers.EMCA` drives the same two methods of its host gate, so every
    gate has one implementation, whether it is used alone (as an ``after_conv3`` plugin) or inside EMCA.
    Output: ``[B, C, H, W]``, the input scaled per channel.
    """

    def squeeze(self, x):
        """``x: [B, C, H, W] -> [B, C]``, the global average."""
        return x.mean((2, 3))

    @abstractmethod
    def excite(self, descriptor):
        """The gate's logits ``[B, C]`` for a descriptor as :meth:`squeeze` returns it."""

    def forward(self, x):
        return x * self.excite(self.squeeze(x)).sigmoid()[:, :, None, None]
