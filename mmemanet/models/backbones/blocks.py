"""Residual blocks of the ResNet family, with three ways to add attention.

- ``mixer``: a module that REPLACES the block's spatial 3x3 convolution (``conv2`` of a Bottleneck,
  ``conv1`` of a BasicBlock) and carries its stride, e.g. ``MixtureAttention`` (EMANet) or
  ``PSAModule`` (EPSANet). Built as ``MODELS.build(dict(mixer, in_channels=, out_channels=, stride=))``.
- ``attention``: a channel gate (``SEGate``, ``ECAGate``, ``SRMGate``, ``FcaGate``, ``EMCA``, ...) applied
  to the residual branch after its last norm, before the shortcut add (attribute ``attn``).
  An ``EMCA`` gate receives the earlier-map descriptors routed by the backbone (``taps``).
- ``plugins``: mmdet's vocabulary, ``dict(cfg=..., position='after_conv1'|'after_conv2'|'after_conv3')``
  (``after_conv3`` only in Bottleneck), on BOTH block types.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer, build_plugin_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ..layers import EMCA, ChannelGate


#: the attention modules of this package, by the slot they go in (listed when a type is unknown)
KNOWN_TYPES = {
    'attention': ('SEGate', 'ECAGate', 'SRMGate', 'FcaGate', 'EMCA'),
    'mixer': ('MixtureAttention', 'PSAModule'),
}


def check_registered(cfg: dict, slot: str) -> None:
    """Raise KeyError naming ``cfg['type']`` and the known types of ``slot`` when it is not registered."""
    name = cfg.get('type')
    if isinstance(name, str) and MODELS.get(name) is None:
        raise KeyError(f'unknown {slot} type {name!r}; known {slot} types: {list(KNOWN_TYPES[slot])} '
                       "(or any module registered in mmengine's MODELS)")


class _ResidualBlock(BaseModule):
    """What BasicBlock and Bottleneck share: plugins, the gate, the shortcut and checkpointing.

    Subclasses define ``plugin_positions``, build their convolutions and implement
    ``_residual(x) -> Tensor`` (the residual branch up to, not including, the gate).
    """

    expansion = 1
    plugin_positions: Tuple[str, ...] = ()

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 attention: Optional[dict] = None,
                 plugins: Optional[Sequence[dict]] = None,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.planes = planes
        self.out_channels = planes * self.expansion
        self.stride = stride
        self.downsample = downsample
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.relu = nn.ReLU(inplace=True)
        self.attn = None
        if attention is not None:
            check_registered(attention, 'attention')
            self.attn = MODELS.build(dict(attention, in_channels=self.out_channels))
        self.plugin_names = {p: [] for p in self.plugin_positions}
        for plugin in plugins or ():
            self._add_plugin(plugin)

    @property
    def takes_taps(self) -> bool:
        """Whether this block's gate is an EMCA module fed with earlier-map descriptors."""
        return isinstance(self.attn, EMCA) and len(self.attn.tap_channels) > 0

    def _spatial_conv(self, mixer: Optional[dict], in_channels: int, out_channels: int,
                      stride: int) -> nn.Module:
        """The block's 3x3 convolution, or the ``mixer`` module that replaces it."""
        if mixer is None:
            return build_conv_layer(self.conv_cfg, in_channels, out_channels, 3, stride=stride,
                                    padding=1, bias=False)
        check_registered(mixer, 'mixer')
        return MODELS.build(dict(mixer, in_channels=in_channels, out_channels=out_channels,
                                 stride=stride))

    def _plugin_in_channels(self, position: str) -> int:
        raise NotImplementedError

    def _add_plugin(self, plugin: dict) -> None:
        plugin = dict(plugin)
        position = plugin.pop('position', None)
        if position not in self.plugin_positions:
            raise ValueError(f'{type(self).__name__} got plugin position {position!r}; '
                             f'valid positions are {list(self.plugin_positions)}')
        cfg = dict(plugin.pop('cfg'))
        check_registered(cfg, 'attention')
        postfix = cfg.pop('postfix', '')
        plugin.pop('stages', None)
        if plugin:
            raise ValueError(f'unknown plugin keys {sorted(plugin)}; a plugin is '
                             "dict(cfg=..., position=..., stages=...)")
        name, layer = build_plugin_layer(
            cfg, in_channels=self._plugin_in_channels(position), postfix=postfix)
        if hasattr(self, name):
            raise ValueError(f'duplicate plugin name {name!r} in {type(self).__name__}; '
                             "give each a different 'postfix'")
        self.add_module(name, layer)
        self.plugin_names[position].append(name)

    def _plugins(self, x: torch.Tensor, position: str) -> torch.Tensor:
        for name in self.plugin_names.get(position, ()):
            x = getattr(self, name)(x)
        return x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _gate(self, branch: torch.Tensor, taps: Sequence[torch.Tensor]) -> torch.Tensor:
        """The attention on the residual branch. The gates of this package may overwrite the branch (this
        block's own temporary) when autograd is not recording (``inplace=True``)."""
        if isinstance(self.attn, EMCA):
            return self.attn(branch, taps, inplace=True)
        if isinstance(self.attn, ChannelGate):
            return self.attn(branch, inplace=True)
        return self.attn(branch)  # any other registered module

    def _inner_forward(self, x: torch.Tensor, *taps: torch.Tensor):
        branch = self._residual(x)
        if self.attn is not None:
            branch = self._gate(branch, taps)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(branch + identity), branch

    def forward(self, x: torch.Tensor, taps: Sequence[torch.Tensor] = (),
                return_branch: bool = False):
        """x: [B, in_channels, H, W] -> [B, out_channels, H/stride, W/stride].

        ``taps``: descriptors of earlier maps for an EMCA gate (see :class:`EMCA`).
        ``return_branch=True`` also returns the residual-branch output (after the gate).
        """
        if self.with_cp and x.requires_grad:
            out, branch = cp.checkpoint(self._inner_forward, x, *taps, use_reentrant=False)
        else:
            out, branch = self._inner_forward(x, *taps)
        return (out, branch) if return_branch else out


class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions; a ``mixer`` (e.g. MixtureAttention) replaces the first one.

    Shapes: [B, in_channels, H, W] -> [B, planes, H/stride, W/stride].
    """

    expansion = 1
    plugin_positions = ('after_conv1', 'after_conv2')

    def __init__(self, in_channels, planes, stride=1, mixer=None, **kwargs):
        super().__init__(in_channels, planes, stride, **kwargs)
        self.conv1 = self._spatial_conv(mixer, in_channels, planes, stride)
        self.bn1 = build_norm_layer(self.norm_cfg, planes)[1]
        self.conv2 = build_conv_layer(self.conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.bn2 = build_norm_layer(self.norm_cfg, planes)[1]

    @property
    def last_norm(self) -> nn.Module:
        return self.bn2

    def _plugin_in_channels(self, position):
        return self.planes

    def _residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self._plugins(out, 'after_conv1')
        out = self.bn2(self.conv2(out))
        return self._plugins(out, 'after_conv2')


class Bottleneck(_ResidualBlock):
    """1x1 -> 3x3 (stride) -> 1x1 with expansion 4; a ``mixer`` replaces the 3x3 (``conv2``).

    Shapes: [B, in_channels, H, W] -> [B, 4 * planes, H/stride, W/stride].
    """

    expansion = 4
    plugin_positions = ('after_conv1', 'after_conv2', 'after_conv3')

    def __init__(self, in_channels, planes, stride=1, mixer=None, **kwargs):
        super().__init__(in_channels, planes, stride, **kwargs)
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, planes, 1, bias=False)
        self.bn1 = build_norm_layer(self.norm_cfg, planes)[1]
        self.conv2 = self._spatial_conv(mixer, planes, planes, stride)
        self.bn2 = build_norm_layer(self.norm_cfg, planes)[1]
        self.conv3 = build_conv_layer(self.conv_cfg, planes, self.out_channels, 1, bias=False)
        self.bn3 = build_norm_layer(self.norm_cfg, self.out_channels)[1]

    @property
    def last_norm(self) -> nn.Module:
        return self.bn3

    def _plugin_in_channels(self, position):
        return self.out_channels if position == 'after_conv3' else self.planes

    def _residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self._plugins(out, 'after_conv1')
        out = self.relu(self.bn2(self.conv2(out)))
        out = self._plugins(out, 'after_conv2')
        out = self.bn3(self.conv3(out))
        return self._plugins(out, 'after_conv3')
