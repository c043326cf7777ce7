"""The base shared by the channel gates (SE, ECA, SRM, FcaNet) and used by EMCA for its host."""
from mmengine.model import BaseModule


class ChannelGate(BaseModule):
    """A channel gate split into squeeze and excitation: ``forward(x) = x * sigmoid(excite(squeeze(x)))``.

    - ``squeeze(x: [B, C, H, W]) -> descriptor``: global average pooling, ``[B, C]``, unless a gate
      overrides it (SRM: ``[B, C, 2]``, FcaNet: DCT projection).
    - ``excite(descriptor) -> logits [B, C]``.

    :class:`~mmemanet.models.layers.EMCA` drives the same two methods of its host gate, so every
    gate has one implementation, whether it is used alone (as an ``after_conv3`` plugin) or inside EMCA.
    Output: ``[B, C, H, W]``, the input scaled per channel.
    """

    def squeeze(self, x):
        return x.mean((2, 3))

    def excite(self, descriptor):
        raise NotImplementedError(f'{type(self).__name__} must implement excite()')

    def forward(self, x):
        return x * self.excite(self.squeeze(x)).sigmoid()[:, :, None, None]
