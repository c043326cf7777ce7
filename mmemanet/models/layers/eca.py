"""ECA channel gate: a 1-D convolution across the channel descriptor, adaptive or fixed kernel."""
import math

from mmengine.registry import MODELS
from torch import nn

from .gates import ChannelGate


@MODELS.register_module()
class ECAGate(ChannelGate):
    """Efficient Channel Attention gate (Wang et al., "ECA-Net", CVPR 2020).

    ``x: [B, C, H, W] -> x * sigmoid(Conv1d_k(GAP(x)))``, same shape; the 1-D convolution (1 in / 1 out
    channel, padding ``(k - 1) // 2``, no bias) runs along the channel axis of the descriptor ``[B, C]``.
    ``k`` parameters.

    Args:
        in_channels (int): C.
        kernel_size (int | None): odd k; None picks the adaptive rule :meth:`adaptive_kernel_size`
            (3, 5, 5, 5, 7 for C = 64, 256, 512, 1024, 2048). The published ECA-ResNet-50 passes
            3, 5, 5, 7 for its four stages explicitly.
    """
    _abbr_ = 'eca'

    def __init__(self, in_channels, kernel_size=None, init_cfg=None):
        super().__init__(init_cfg)
        adaptive = self.adaptive_kernel_size(in_channels)
        if kernel_size is None:
            kernel_size = adaptive
        elif kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'ECAGate: kernel_size={kernel_size} must be a positive odd number (3, 5, 7, ...: '
                             f'the padding (k - 1) // 2 keeps all {in_channels} channels), or None for the '
                             f'adaptive rule (k={adaptive} for in_channels={in_channels})')
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    @staticmethod
    def adaptive_kernel_size(channels, gamma=2, b=1):
        """ECA's rule: ``t = int(|(log2(C) + b) / gamma|)``, ``k = t`` if t is odd else ``t + 1``."""
        t = int(abs((math.log2(channels) + b) / gamma))
        return t if t % 2 else t + 1

    def excite(self, descriptor):
        return self.conv(descriptor.unsqueeze(1)).squeeze(1)
