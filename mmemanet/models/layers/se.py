"""SE channel gate (bias-free FCs by default, as counted in the EMANet and EMCA tables)."""
from mmengine.registry import MODELS
from torch import nn

from .gates import ChannelGate


@MODELS.register_module()
class SEGate(ChannelGate):
    """Squeeze-and-Excitation gate (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

    ``x: [B, C, H, W] -> x * sigmoid(W2 ReLU(W1 GAP(x)))``, same shape; descriptor ``GAP(x): [B, C]``.
    ``W1: C -> C // ratio``, ``W2: C // ratio -> C``, bias-free by default as counted in the EMANet and
    EMCA tables: ``2 * C * (C // ratio)`` parameters.

    Args:
        in_channels (int): C.
        ratio (int): reduction ratio r of the hidden layer.
        bias (bool): give the two fully connected layers biases.
    """
    _abbr_ = 'se'

    def __init__(self, in_channels, ratio=16, bias=False, init_cfg=None):
        super().__init__(init_cfg)
        hidden = in_channels // ratio
        if hidden < 1:
            raise ValueError(f'{type(self).__name__}: in_channels={in_channels} // ratio={ratio} leaves no '
                             f'hidden unit; use ratio <= {in_channels}')
        self.fc = nn.Sequential(
            nn.Linear(in_channels, hidden, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, in_channels, bias=bias))

    def excite(self, descriptor):
        return self.fc(descriptor)
