"""Residual blocks of the ResNet family: mmdet's / mmpretrain's blocks, with three ways to add attention.

Without attention a block is the same module as mmdet 3.3's and mmpretrain 1.2's ``BasicBlock`` /
``Bottleneck``: the same submodule names (norms named by ``build_norm_layer``: ``bn1`` for BN, ``gn1``
for GN, ...), ``style`` ('pytorch': the 3x3 conv strides; 'caffe': the first 1x1 conv strides),
``dilation``, ``dcn`` (mmcv's deformable conv in place of the 3x3 conv), ``expansion``, ``drop_path_rate``
(stochastic depth before the shortcut add) and ``with_cp``. Attention goes in three ways:

- ``mixer``: a module that REPLACES the block's spatial 3x3 convolution (``conv2`` of a Bottleneck,
  ``conv1`` of a BasicBlock) and carries its stride, e.g. ``MixtureAttention`` (EMANet) or
  ``PyramidSplitAttention`` (EPSANet). Built as ``MODELS.build(dict(mixer, in_channels=, out_channels=, stride=))``.
- ``attention``: a channel gate (``SEGate``, ``ECAGate``, ``SRMGate``, ``FcaGate``, ``EMCA``, ...) applied
  to the residual branch after its last norm, before the shortcut add (attribute ``attn``).
  An ``EMCA`` gate that fuses earlier maps gets their descriptors from its backbone (see ``emca_resnet.py``).
- ``plugins``: mmdet's vocabulary, ``dict(cfg=..., position='after_conv1'|'after_conv2'|'after_conv3')``
  (``after_conv3`` only in Bottleneck), on BOTH block types.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer, build_plugin_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ..layers import EMCA, ChannelGate
from .errors import PeerAssertionError

STYLES = ('pytorch', 'caffe')


def known_types(slot: str) -> list:
    """The registered modules that declare ``slot = 'attention'`` (a gate) or ``'mixer'`` (in place of the
    3x3 conv): this package's attention modules, read off mmengine's root registry."""
    return sorted(name for name, cls in MODELS.module_dict.items() if getattr(cls, 'slot', None) == slot)


def check_registered(cfg: dict, slot: str) -> None:
    """Raise KeyError naming ``cfg['type']`` and the known types of ``slot`` when it is not registered."""
    name = cfg.get('type')
    if isinstance(name, str) and MODELS.get(name) is None:
        raise KeyError(f'unknown {slot} type {name!r}; known {slot} types: {known_types(slot)} '
                       "(or any module registered in mmengine's MODELS)")


class _ResidualBlock(BaseModule):
    """What BasicBlock and Bottleneck share: the spatial conv (3x3, deformable or mixer), plugins, the
    gate, stochastic depth, the shortcut and checkpointing.

    Subclasses define ``default_expansion``, ``plugin_positions`` and ``last_norm_name``, build their
    convs and norms, then call ``_build_tail()``, and implement ``_residual(x) -> Tensor`` (the residual
    branch up to, not including, the gate).
    """

    default_expansion = 1
    plugin_positions: Tuple[str, ...] = ()

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 stride: int = 1,
                 dilation: int = 1,
                 expansion: Optional[int] = None,
                 style: str = 'pytorch',
                 downsample: Optional[nn.Module] = None,
                 attention: Optional[dict] = None,
                 dcn: Optional[dict] = None,
                 plugins: Optional[Sequence[dict]] = None,
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if style not in STYLES:
            raise PeerAssertionError(f'style={style!r}; valid styles are {list(STYLES)}')
        self.expansion = self.default_expansion if expansion is None else expansion
        self.in_channels = in_channels
        self.planes = planes
        self.out_channels = planes * self.expansion
        self.stride = stride
        self.dilation = dilation
        self.style = style
        self.dcn = dcn
        self.with_cp = with_cp
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self._tail = (downsample, attention, plugins, drop_path_rate)
        # set by a backbone that routes this block's maps to other blocks (EMCAResNet; see forward)
        self.tap = None
        self.checkpoint_context_fn = cp.noop_context_fn

    def _build_tail(self) -> None:
        """After the subclass's convs and norms (so the state dict lists them first, as mmdet's and
        mmpretrain's blocks do): ReLU, shortcut, stochastic depth, gate and plugins."""
        downsample, attention, plugins, drop_path_rate = self._tail
        del self._tail
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        # mmpretrain's rule: no DropPath module below 1e-5 (so the state dict and the forward are the same)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 1e-5 else nn.Identity()
        self.attn = None
        if attention is not None:
            check_registered(attention, 'attention')
            self.attn = MODELS.build(dict(attention, in_channels=self.out_channels))
        self.plugin_names = {p: [] for p in self.plugin_positions}
        # grouped by position in block order (as mmdet builds them, so the state dicts agree)
        order = {p: i for i, p in enumerate(self.plugin_positions)}
        for plugin in sorted(plugins or (), key=lambda p: order.get(p.get('position'), -1)):
            self._add_plugin(plugin)

    def _add_norm(self, channels: int, postfix: int) -> str:
        """Add the norm ``build_norm_layer`` names (``bn1``, ``gn1``, ...) and return that name."""
        name, norm = build_norm_layer(self.norm_cfg, channels, postfix=postfix)
        self.add_module(name, norm)
        return name

    @property
    def last_norm(self) -> nn.Module:
        """The norm before the gate (zero-initialised by ``zero_init_residual``)."""
        return getattr(self, self.last_norm_name)

    def _spatial_conv(self, mixer: Optional[dict], in_channels: int, out_channels: int,
                      stride: int) -> nn.Module:
        """The block's 3x3 convolution (dilated, or mmcv's deformable one with ``dcn``), or the ``mixer``
        module that replaces it."""
        dilation, dcn = self.dilation, self.dcn
        if mixer is not None:
            check_registered(mixer, 'mixer')
            if dcn is not None:
                raise ValueError(f"dcn={dcn} cannot combine with mixer type {mixer.get('type')!r} (the mixer "
                                 'replaces the 3x3 conv that dcn would deform); set stage_with_dcn False for '
                                 'the stages that have a mixer')
            if dilation != 1:
                raise ValueError(f"dilation={dilation} is not supported by mixer type {mixer.get('type')!r} (its "
                                 'branch kernels are the published, undilated ones); use dilation 1 on the '
                                 'stages that have a mixer')
            return MODELS.build(dict(mixer, in_channels=in_channels, out_channels=out_channels,
                                     stride=stride))
        conv_cfg = self.conv_cfg
        if dcn is not None:
            dcn = dict(dcn)
            if not dcn.pop('fallback_on_stride', False):  # mmdet: fall back to a plain conv ...
                if self.conv_cfg is not None:
                    raise PeerAssertionError(f'conv_cfg={self.conv_cfg} cannot combine with dcn={dcn}; '
                                             'set conv_cfg=None (mmdet requires it for DCN)')
                conv_cfg = dcn
        return build_conv_layer(conv_cfg, in_channels, out_channels, 3, stride=stride,
                                padding=dilation, dilation=dilation, bias=False)

    def _plugin_in_channels(self, position: str) -> int:
        raise NotImplementedError

    def _add_plugin(self, plugin: dict) -> None:
        plugin = dict(plugin)
        position = plugin.pop('position', None)
        if position not in self.plugin_positions:
            raise PeerAssertionError(f'{type(self).__name__} got plugin position {position!r}; '
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
            raise PeerAssertionError(f'duplicate plugin name {name!r} in {type(self).__name__}; '
                                     "give each a different 'postfix'")
        self.add_module(name, layer)
        self.plugin_names[position].append(name)

    def _plugins(self, x: torch.Tensor, position: str) -> torch.Tensor:
        for name in self.plugin_names.get(position, ()):
            x = getattr(self, name)(x)
        return x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _gate(self, branch: torch.Tensor) -> torch.Tensor:
        """The attention on the residual branch. The gates of this package may overwrite the branch (this
        block's own temporary) when autograd is not recording (``inplace=True``)."""
        if isinstance(self.attn, (ChannelGate, EMCA)):
            return self.attn(branch, inplace=True)
        return self.attn(branch)  # any other registered module

    def _inner_forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        branch = self._residual(x)
        if self.attn is not None:
            branch = self._gate(branch)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.drop_path(branch) + identity), branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, in_channels, H, W] -> [B, out_channels, H/stride, W/stride].

        A backbone that routes this block's maps sets ``tap``, called once per forward with the output and
        the residual branch (after the gate), and ``checkpoint_context_fn``, the ``context_fn`` under which
        ``with_cp`` recomputes the block in backward (EMCAResNet's: its descriptors of that forward).
        """
        if self.with_cp and x.requires_grad:
            out, branch = cp.checkpoint(self._inner_forward, x, use_reentrant=False,
                                        context_fn=self.checkpoint_context_fn)
        else:
            out, branch = self._inner_forward(x)
        if self.tap is not None:
            self.tap(out, branch)
        return out


class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions (the first strides and dilates); a ``mixer`` (e.g. MixtureAttention) or
    ``dcn`` replaces the first one. ``expansion`` must be 1.

    Shapes: [B, in_channels, H, W] -> [B, planes, H/stride, W/stride].
    """

    default_expansion = 1
    plugin_positions = ('after_conv1', 'after_conv2')
    last_norm_name = property(lambda self: self.norm2_name)

    def __init__(self, in_channels, planes, stride=1, mixer=None, **kwargs):
        super().__init__(in_channels, planes, stride, **kwargs)
        if self.expansion != 1:
            raise PeerAssertionError(f'expansion={self.expansion} is not supported by BasicBlock (depth 18/34); '
                                     'use expansion=None or 1')
        self.conv1 = self._spatial_conv(mixer, in_channels, planes, stride)
        self.norm1_name = self._add_norm(planes, 1)
        self.conv2 = build_conv_layer(self.conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.norm2_name = self._add_norm(planes, 2)
        self._build_tail()

    norm1 = property(lambda self: getattr(self, self.norm1_name))
    norm2 = property(lambda self: getattr(self, self.norm2_name))

    def _plugin_in_channels(self, position):
        return self.planes

    def _residual(self, x):
        out = self.relu(self.norm1(self.conv1(x)))
        out = self._plugins(out, 'after_conv1')
        out = self.norm2(self.conv2(out))
        return self._plugins(out, 'after_conv2')


class Bottleneck(_ResidualBlock):
    """1x1 -> 3x3 (dilated; mixer or dcn in its place) -> 1x1 to ``expansion * planes`` (default 4).
    ``style='pytorch'`` strides in the 3x3 (or the mixer), ``'caffe'`` in the first 1x1.

    Shapes: [B, in_channels, H, W] -> [B, expansion * planes, H/stride, W/stride].
    """

    default_expansion = 4
    plugin_positions = ('after_conv1', 'after_conv2', 'after_conv3')
    last_norm_name = property(lambda self: self.norm3_name)

    def __init__(self, in_channels, planes, stride=1, mixer=None, **kwargs):
        super().__init__(in_channels, planes, stride, **kwargs)
        conv1_stride, conv2_stride = (1, stride) if self.style == 'pytorch' else (stride, 1)
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, planes, 1, stride=conv1_stride,
                                      bias=False)
        self.norm1_name = self._add_norm(planes, 1)
        self.conv2 = self._spatial_conv(mixer, planes, planes, conv2_stride)
        self.norm2_name = self._add_norm(planes, 2)
        self.conv3 = build_conv_layer(self.conv_cfg, planes, self.out_channels, 1, bias=False)
        self.norm3_name = self._add_norm(self.out_channels, 3)
        self._build_tail()

    norm1 = property(lambda self: getattr(self, self.norm1_name))
    norm2 = property(lambda self: getattr(self, self.norm2_name))
    norm3 = property(lambda self: getattr(self, self.norm3_name))

    def _plugin_in_channels(self, position):
        return self.out_channels if position == 'after_conv3' else self.planes

    def _residual(self, x):
        out = self.relu(self.norm1(self.conv1(x)))
        out = self._plugins(out, 'after_conv1')
        out = self.relu(self.norm2(self.conv2(out)))
        out = self._plugins(out, 'after_conv2')
        out = self.norm3(self.conv3(out))
        return self._plugins(out, 'after_conv3')
