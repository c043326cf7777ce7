"""EMCA: multi-scale aggregation of pooled descriptors in front of an SE / ECA / SRM host excitation."""
import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import nn

from .eca import ECAGate
from .gates import apply_scale
from .precision import autocast_off, cast_to
from .se import SEGate
from .srm import SRMGate


@MODELS.register_module()
class EMCA(BaseModule):
    """Efficient Multi-Scale Channel Attention (Bakr et al., "EMCA: Efficient Multi-Scale Channel
    Attention Module"), the published Algorithm 1 with an SE, ECA or SRM host gate.

    ``forward(x, taps=())``: ``x: [B, C, H, W]`` (the block's residual-branch output) ``-> [B, C, H, W]``::

        z_0 = squeeze(x);  z_r = tile(taps[r - 1]) to C channels (repeat, not interleave)
        m   = ReLU(sum_r w_r * z_r)                       # r = 0 .. R - 1, R = 1 + len(tap_channels)
        s   = sigmoid(host.excite(m))
        out = x * s  (scaling='mul')   or   x * (1 + s)  (scaling='one_plus')

    How the earlier maps arrive: ``taps`` are DESCRIPTORS, not maps. The caller (the backbone) pools
    each earlier map once with ``emca.squeeze(map)`` (the host's squeeze: GAP ``[B, C_r]``, or SRM style
    statistics ``[B, C_r, 2]``, whose mean and std rows get the same scalar weights) and hands the
    results over in the order of ``tap_channels``; a descriptor is reused by every EMCA that taps the same
    map, so aggregation costs no extra pass over any feature map. A module built with ``tap_channels=()``
    is explicitly the uni-scale R = 1 case (what ``build_plugin_layer(dict(type='EMCA'), in_channels=C)``
    gives, usable as an ``after_conv3`` plugin); a module built for R > 1 refuses a call with a different
    number of descriptors instead of silently running uni-scale.

    Parameters: the host's plus the R fusion weights ``w``. They are the weight of ``fusion``, a
    ``Conv1d(1, 1, kernel R, stride R, bias=False)``: the paper's aggregation, a strided convolution over
    the channel-interleaved sequence ``[z_0,c, ..., z_R-1,c]``, which is evaluated here as the equivalent
    weighted sum. As a Conv1d the weights are visible to thop, as in the published parameter counts
    (EMCA-SE R-18: 11.190 x 2^20 only with them). ``fusion_weight`` is the ``[R]`` view of them.

    Args:
        in_channels (int): C.
        host (str): ``'se'``, ``'eca'`` or ``'srm'`` (:class:`SEGate`, :class:`ECAGate`, :class:`SRMGate`).
        tap_channels (tuple[int]): channel counts of the earlier maps, each dividing C.
        scaling (str): how ``s`` scales ``x``: ``'mul'`` (``x * s``, published) or ``'one_plus'`` (the draft
            code's ``x * (1 + s)``). Default: 'mul'.
        fusion_init (str): ``'equal'``: all weights 1 / R; ``'default'``: U(-1/sqrt(R), 1/sqrt(R)), the
            default init of the equivalent ``Conv1d(1, 1, kernel R, stride R, bias=False)``.
        host_cfg (dict | None): extra arguments of the host gate (e.g. ``ratio``, ``kernel_size``).
    """
    _abbr_ = 'emca'
    slot = 'attention'  # where a residual block takes it (see backbones/blocks.py)
    HOSTS = {'se': SEGate, 'eca': ECAGate, 'srm': SRMGate}
    SCALINGS = ('mul', 'one_plus')
    FUSION_INITS = ('equal', 'default')

    def __init__(self, in_channels, host='se', tap_channels=(), scaling='mul', fusion_init='equal', host_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg)
        if host not in self.HOSTS:
            raise ValueError(f'EMCA: unknown host={host!r}; valid hosts are {tuple(self.HOSTS)}')
        if scaling not in self.SCALINGS:
            raise ValueError(f'EMCA: unknown scaling={scaling!r}; valid values are {self.SCALINGS}')
        if fusion_init not in self.FUSION_INITS:
            raise ValueError(f'EMCA: unknown fusion_init={fusion_init!r}; valid values are {self.FUSION_INITS}')
        tap_channels = tuple(tap_channels)
        untileable = [c for c in tap_channels if c < 1 or in_channels % c]
        if untileable:
            raise ValueError(f'EMCA: in_channels={in_channels} cannot be tiled from tap_channels {untileable} '
                             f'(of {tap_channels}): each earlier descriptor is repeated in_channels / C_r '
                             f'times, so every tap channel count must divide {in_channels}')
        self.host = self.HOSTS[host](in_channels, **(host_cfg or {}))
        self.in_channels = in_channels
        self.tap_channels = tap_channels
        self.scaling = scaling
        r = 1 + len(tap_channels)
        self.fusion = nn.Conv1d(1, 1, r, stride=r, bias=False)  # default init: U(-1/sqrt(R), 1/sqrt(R))
        if fusion_init == 'equal':
            nn.init.constant_(self.fusion.weight, 1.0 / r)

    @property
    def fusion_weight(self):
        """The R fusion weights, ``[R]`` (a view of ``fusion.weight``)."""
        return self.fusion.weight.view(-1)

    def squeeze(self, x):
        """The host's descriptor of ``x: [B, C_r, H, W]`` (any C_r); what ``taps`` must hold (float32 for a
        half-precision ``x``)."""
        return self.host.squeeze(x)

    def forward(self, x, taps=(), inplace=False):
        """``x * scale(x, taps)``; ``inplace=True`` lets it overwrite ``x`` when autograd is not recording."""
        return apply_scale(x, self.scale(x, taps), inplace)

    def scale(self, x, taps=()):
        """The per-channel factors ``[B, C, 1, 1]`` that ``forward`` applies: ``s``, or ``1 + s`` for
        ``scaling='one_plus'``, in ``x``'s dtype. Under autocast the descriptors (float32 from :meth:`squeeze`),
        the fusion and the excitation run in float32."""
        if len(taps) != len(self.tap_channels):
            raise ValueError(f'EMCA was built for {len(self.tap_channels)} earlier descriptors (tap_channels='
                             f'{self.tap_channels}) but got {len(taps)}')
        for z, c in zip(taps, self.tap_channels):
            if z.shape[1] != c:
                raise ValueError(f'EMCA: a tap descriptor has {z.shape[1]} channels where tap_channels '
                                 f'says {c}')
        with autocast_off(x):
            scales = [self.squeeze(x)]
            scales += [z.repeat(1, self.in_channels // c, *(1,) * (z.dim() - 2))
                       for z, c in zip(taps, self.tap_channels)]
            m = torch.relu(torch.stack(scales, dim=-1) @ self.fusion_weight)
            s = self.host.excite(m).sigmoid()[:, :, None, None]
            s = 1 + s if self.scaling == 'one_plus' else s
        return cast_to(s, x.dtype)
