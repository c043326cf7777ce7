"""One ResNet-family backbone for MMPretrain and MMDetection, with pluggable attention.

``AttnResNet`` is the whole hierarchy; ``EMANet`` and ``EMCAResNet`` are thin configurations of it
(see ``emanet.py`` and ``emca_resnet.py``), and the dense SE / ECA / SRM / FcaNet / PSA baselines
of both papers are ``AttnResNet`` with ``attention=`` or ``mixer=`` set. Without attention it is the
same module as mmdet 3.3's ``ResNet`` / ``ResNetV1d`` and mmpretrain 1.2's ``ResNet`` / ``ResNetV1c`` /
``ResNetV1d`` / ``ResNet_CIFAR`` (same arguments, state-dict keys and function), so their configs take
it by changing ``type`` and their checkpoints (and torchvision's) load into it.
"""
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoints.pretrained_report import recorded_loads, report_pretrained_init
from ..layers import SoftBAN
from .blocks import BasicBlock, Bottleneck
from .errors import PeerAssertionError, PeerAttributeError, PeerKeyError

PerStage = Union[None, dict, Sequence[Optional[dict]]]

#: the two state-dict layouts of a deep stem / an avg_down shortcut (see ``key_layout``)
KEY_LAYOUTS = ('mmdet', 'mmpretrain')


def per_stage(value: PerStage, num_stages: int, name: str) -> List[Optional[dict]]:
    """Expand a config given once or once per stage into a list of ``num_stages`` entries."""
    if value is None or isinstance(value, dict):
        return [value] * num_stages
    value = list(value)
    if len(value) != num_stages:
        raise ValueError(f'{name} has {len(value)} entries; give one dict for all stages or '
                         f'exactly num_stages={num_stages}')
    return value


def reference_init(module: nn.Module) -> None:
    """The initialisation of the reference EMANet / EMCA / torchvision ResNets.

    Conv2d weights ~ N(0, sqrt(2 / (k_h * k_w * out_channels))) with biases left at the framework
    default; every batch norm (SoftBAN included) weight 1, bias 0; everything else untouched.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, (_BatchNorm, SoftBAN, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def pretrained_cfg_of(init_cfg) -> Optional[dict]:
    """The ``type='Pretrained'`` entry of an ``init_cfg`` given as a dict or a list, else None."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return next((c for c in cfgs if isinstance(c, dict) and c.get('type') == 'Pretrained'), None)


#: the defaults in which mmdet's and mmpretrain's ResNets differ, the key layout included (see ``key_layout``)
CODEBASE_DEFAULTS = {
    'mmdet': dict(out_indices=(0, 1, 2, 3), norm_eval=True, key_layout='mmdet'),
    'mmpretrain': dict(out_indices=(3, ), norm_eval=False, key_layout='mmpretrain'),
}


class AttnResNet(BaseModule):
    """ResNet (depth 18/34/50/101/152) with optional attention, for classification and detection.

    Takes every argument of mmdet 3.3's ``ResNet`` and mmpretrain 1.2's ``ResNet`` family with the same
    meaning, plus mmseg's ``contract_dilation`` and this package's ``stem``, ``mixer``, ``attention`` and
    ``key_layout``. Where the two codebases' defaults differ (``out_indices``, ``norm_eval``, ``key_layout``:
    :data:`CODEBASE_DEFAULTS`), None takes the class's :attr:`defaults`: mmpretrain's here (the root and
    mmpretrain registry entries), mmdet's in the classes that ``mmdet.registry.MODELS`` builds under the same
    names (``codebases.py``). The global default scope plays no part in construction.

    Args:
        depth (int): Depth of the network, one of 18, 34 (BasicBlock), 50, 101, 152 (Bottleneck).
        in_channels (int): Number of input image channels. Default: 3.
        stem_channels (int, optional): Number of output channels of the stem; None: ``base_channels``.
            Default: None.
        base_channels (int): Number of channels (``planes``) of the first stage's blocks, doubled at every
            stage; a block outputs ``planes * expansion``. Default: 64.
        expansion (int, optional): Ratio of a block's output channels to its ``planes``; None: the block's own
            (1 for BasicBlock, 4 for Bottleneck). Default: None.
        num_stages (int): Number of stages, 1 to 4. Default: 4.
        strides (Sequence[int]): Stride of the first block of each stage. Default: (1, 2, 2, 2).
        dilations (Sequence[int], optional): Dilation of each stage; None: 1 for every stage. Default: None.
        out_indices (Sequence[int], optional): Stages whose outputs ``forward`` returns; None: the class's
            :attr:`defaults` (``(3, )``; mmdet's registry entry ``(0, 1, 2, 3)``). Default: None.
        style (str): ``'pytorch'`` (the 3x3 conv of a Bottleneck strides) or ``'caffe'`` (its first 1x1 conv
            strides). Default: 'pytorch'.
        stem (str): ``'imagenet'`` (7x7/2 conv + 3x3/2 max-pool, or three 3x3 convs with ``deep_stem``) or
            ``'cifar'`` (3x3/1 conv, no pool: mmpretrain's ``ResNet_CIFAR``). Default: 'imagenet'.
        deep_stem (bool): Three 3x3 convs in place of the 7x7 stem conv (ResNetV1c / ResNetV1d).
            Default: False.
        avg_down (bool): Downsample a shortcut by an average pool before its 1x1 conv instead of a strided 1x1
            conv (ResNetV1d). Default: False.
        contract_dilation (bool): Halve the dilation of the first block of a dilated stage (mmseg).
            Default: False.
        frozen_stages (int): Freeze (eval mode, no gradients) the stem and the first ``frozen_stages`` stages;
            -1: nothing, 0: the stem only. Default: -1.
        mixer (dict | Sequence[dict | None], optional): Config of the module that replaces each block's 3x3
            conv and carries its stride (e.g. ``dict(type='MixtureAttention')``), one for all stages or one
            per stage (None: the 3x3 conv). Default: None.
        attention (dict | Sequence[dict | None], optional): Config of the channel gate after the last norm of
            each block (e.g. ``dict(type='SEGate')``), one for all stages or one per stage. Default: None.
        dcn (dict, optional): Config of the deformable conv that replaces the 3x3 conv in the stages that
            ``stage_with_dcn`` flags. Default: None.
        stage_with_dcn (Sequence[bool]): Which stages use ``dcn``, one flag per stage.
            Default: (False, False, False, False).
        plugins (Sequence[dict], optional): mmdet's block plugins, each ``dict(cfg=..., position=...,
            stages=...)``: ``position`` ``'after_conv1'`` | ``'after_conv2'`` | ``'after_conv3'`` (Bottleneck
            only), ``stages`` one flag per stage (absent: every stage). Default: None.
        conv_cfg (dict, optional): Config of the conv layers; None: ``nn.Conv2d``. Default: None.
        norm_cfg (dict): Config of the norm layers. Default: dict(type='BN', requires_grad=True).
        norm_eval (bool, optional): Keep the batch norms and SoftBANs in eval mode while training (their running
            statistics frozen); None: the class's :attr:`defaults` (False; mmdet's registry entry True).
            Default: None.
        with_cp (bool): Recompute each block in backward (activation checkpointing): less memory, slower
            training. Default: False.
        zero_init_residual (bool): Zero the weight of each block's last norm, so that every residual block
            starts as the identity (not after a pretrained start). Default: True.
        drop_path_rate (float): Stochastic depth rate of the last block, rising linearly from 0 over all the
            blocks (mmpretrain). Default: 0.0.
        key_layout (str, optional): ``'mmdet'`` | ``'mmpretrain'``: how the state dict names a deep stem
            (``stem.0`` / ``stem.0.conv``) and the ``avg_down`` shortcut of a stride-1 block; checkpoints of
            either layout load into either (keys translated on load). None: the class's :attr:`defaults`
            (``'mmpretrain'``; mmdet's registry entry ``'mmdet'``). Default: None.
        pretrained (str, optional): Deprecated: a checkpoint to start from, as
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``. Default: None.
        init_cfg (dict | list[dict], optional): Initialisation config (a ``Pretrained`` start logs one line on
            what it loaded); None: the papers' reference initialisation (:func:`reference_init`).
            Default: None.

    Shapes: [B, in_channels, H, W] -> tuple of [B, C_i, H / s_i, W / s_i] for i in ``out_indices``
    with C_i = base_channels * 2**i * expansion and s_i = 4 * 2**i (ImageNet stem) or 2**i (CIFAR
    stem) with the default strides.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }
    stems = ('imagenet', 'cifar')
    #: what ``out_indices`` / ``norm_eval`` / ``key_layout`` = None mean: mmpretrain's defaults (the documented
    #: choice of the root registry entry); the mmdet registry's classes set mmdet's
    defaults = CODEBASE_DEFAULTS['mmpretrain']

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 expansion: Optional[int] = None,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Optional[Sequence[int]] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 style: str = 'pytorch',
                 stem: str = 'imagenet',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 contract_dilation: bool = False,
                 frozen_stages: int = -1,
                 mixer: PerStage = None,
                 attention: PerStage = None,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[Sequence[dict]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: Optional[bool] = None,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 drop_path_rate: float = 0.0,
                 key_layout: Optional[str] = None,
                 pretrained: Optional[str] = None,
                 init_cfg=None):
        if pretrained is not None:
            if not isinstance(pretrained, str):
                raise TypeError(f'pretrained={pretrained!r} must be a checkpoint path/URL string or None')
            if init_cfg:
                raise PeerAssertionError(f'pretrained={pretrained!r} and init_cfg={init_cfg} were both given; '
                                         "give only init_cfg=dict(type='Pretrained', checkpoint=...)")
            warnings.warn('DeprecationWarning: pretrained is deprecated, please use "init_cfg" instead')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)
        out_indices = self.defaults['out_indices'] if out_indices is None else out_indices
        norm_eval = self.defaults['norm_eval'] if norm_eval is None else norm_eval
        dilations = (1, ) * num_stages if dilations is None else dilations  # (1, 1, 1, 1) for 4 stages
        self._check_options(depth, stem, style, num_stages, strides, dilations, out_indices,
                            frozen_stages, deep_stem, dcn, stage_with_dcn, key_layout)
        self.depth = depth
        self.stem_type = stem
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.style = style
        self.strides = tuple(strides)
        self.dilations = tuple(dilations)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.key_layout = key_layout or self.defaults['key_layout']
        self.block, arch_blocks = self.arch_settings[depth]
        self.stage_blocks = arch_blocks[:num_stages]
        self.expansion = self.block.default_expansion if expansion is None else expansion
        self.base_channels = base_channels
        self.stem_channels = base_channels if stem_channels is None else stem_channels
        mixers = per_stage(mixer, num_stages, 'mixer')
        attentions = per_stage(attention, num_stages, 'attention')
        # mmpretrain: stochastic depth rising linearly over the blocks of the whole architecture
        drop_path_rates = torch.linspace(0, drop_path_rate, sum(arch_blocks), device='cpu').tolist()

        self._make_stem(in_channels)
        self.res_layers = []
        self.feat_channels = []
        inplanes = self.stem_channels
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            out_channels = planes * self.expansion
            dilation = dilations[i]
            blocks = []
            for j in range(num_blocks):
                stride = strides[i] if j == 0 else 1
                block_dilation = dilation // 2 if contract_dilation and dilation > 1 and j == 0 else dilation
                blocks.append(self.block(
                    inplanes, planes, stride=stride, dilation=block_dilation, expansion=self.expansion,
                    style=style, downsample=self._make_downsample(inplanes, out_channels, stride),
                    mixer=mixers[i], attention=self._block_attention(attentions[i], i, j),
                    dcn=dcn if dcn is not None and stage_with_dcn[i] else None,
                    plugins=self._stage_plugins(plugins, i), drop_path_rate=drop_path_rates.pop(0),
                    with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg))
                inplanes = out_channels
            name = f'layer{i + 1}'
            self.add_module(name, nn.Sequential(*blocks))
            self.res_layers.append(name)
            self.feat_channels.append(out_channels)
        self.feat_dim = self.feat_channels[-1]
        self._layout_units = self._other_layout_units()
        self._register_load_state_dict_pre_hook(AttnResNet._translate_layout, with_module=True)
        self._freeze_stages()

    # ----------------------------------------------------------------- construction helpers
    def _check_options(self, depth, stem, style, num_stages, strides, dilations, out_indices,
                       frozen_stages, deep_stem, dcn, stage_with_dcn, key_layout):
        """One-line errors for settings that cannot work, before anything is built; each is also the exception
        type mmdet's and mmpretrain's ResNets raise for the same mistake, where they raise one (``errors.py``)."""
        if depth not in self.arch_settings:
            raise PeerKeyError(f'depth={depth} is not supported; valid depths are '
                               f'{sorted(self.arch_settings)}')
        if stem not in self.stems:
            raise ValueError(f'stem={stem!r}; valid stems are {list(self.stems)}')
        if style not in ('pytorch', 'caffe'):
            raise PeerAssertionError(f"style={style!r}; valid styles are ['pytorch', 'caffe']")
        if not 1 <= num_stages <= 4 or len(strides) != num_stages or len(dilations) != num_stages:
            raise PeerAssertionError(f'num_stages={num_stages} with strides={tuple(strides)} and dilations='
                                     f'{tuple(dilations)}: need 1 <= num_stages <= 4 and one stride and one '
                                     'dilation per stage')
        if any(not 0 <= i < num_stages for i in out_indices):
            raise PeerAssertionError(f'out_indices={tuple(out_indices)} must lie in [0, {num_stages})')
        if not -1 <= frozen_stages <= num_stages:
            raise PeerAttributeError(f'frozen_stages={frozen_stages} must lie in [-1, {num_stages}]')
        if deep_stem and stem == 'cifar':
            raise PeerAssertionError("deep_stem=True cannot combine with stem='cifar' (as in mmpretrain's "
                                     "ResNet_CIFAR); use stem='imagenet' for a deep stem")
        if dcn is not None and len(stage_with_dcn) != num_stages:
            raise PeerAssertionError(f'stage_with_dcn={tuple(stage_with_dcn)} needs one flag per stage '
                                     f'(num_stages={num_stages})')
        if key_layout not in (None, ) + KEY_LAYOUTS:
            raise ValueError(f'key_layout={key_layout!r}; valid values are {[None, *KEY_LAYOUTS]}')

    def _make_stem(self, in_channels):
        channels, conv_cfg, norm_cfg = self.stem_channels, self.conv_cfg, self.norm_cfg
        if self.deep_stem:
            specs = [(in_channels, channels // 2, 2), (channels // 2, channels // 2, 1),
                     (channels // 2, channels, 1)]
            if self.key_layout == 'mmpretrain':  # ConvModule: stem.0.conv, stem.0.bn, ...
                layers = [ConvModule(cin, cout, 3, stride=s, padding=1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, inplace=True) for cin, cout, s in specs]
            else:  # mmdet: stem.0 (conv), stem.1 (norm), stem.2 (ReLU), stem.3, ...
                layers = []
                for cin, cout, s in specs:
                    layers += [build_conv_layer(conv_cfg, cin, cout, 3, stride=s, padding=1, bias=False),
                               build_norm_layer(norm_cfg, cout)[1], nn.ReLU(inplace=True)]
            self.stem = nn.Sequential(*layers)
        else:
            kernel, stride = (7, 2) if self.stem_type == 'imagenet' else (3, 1)
            self.conv1 = build_conv_layer(conv_cfg, in_channels, channels, kernel, stride=stride,
                                          padding=kernel // 2, bias=False)
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if self.stem_type == 'imagenet' else nn.Identity()

    @property
    def norm1(self) -> nn.Module:
        """The stem's norm (``bn1`` for BN) when the stem is a single conv."""
        return getattr(self, self.norm1_name)

    def _make_downsample(self, in_channels, out_channels, stride) -> Optional[nn.Module]:
        """The projection shortcut: 1x1 conv + norm, after an average pool with ``avg_down``."""
        if stride == 1 and in_channels == out_channels:
            return None
        layers = []
        # mmdet puts the pool in even for stride 1 (a no-op that shifts the keys); mmpretrain does not
        if self.avg_down and (stride != 1 or self.key_layout == 'mmdet'):
            layers.append(nn.AvgPool2d(stride, stride=stride, ceil_mode=True, count_include_pad=False))
        conv_stride = 1 if self.avg_down else stride
        layers += [build_conv_layer(self.conv_cfg, in_channels, out_channels, 1, stride=conv_stride,
                                    bias=False),
                   build_norm_layer(self.norm_cfg, out_channels)[1]]
        return nn.Sequential(*layers)

    def _stage_plugins(self, plugins, stage_idx):
        """mmdet's ``make_stage_plugins``: the plugins whose ``stages`` flag this stage."""
        selected = []
        for plugin in plugins or ():
            stages = plugin.get('stages')
            if stages is not None and len(stages) != len(self.stage_blocks):
                raise PeerAssertionError(f'plugin stages={stages} must have one flag per stage '
                                         f'({len(self.stage_blocks)})')
            if stages is None or stages[stage_idx]:
                selected.append(plugin)
        return selected

    def _block_attention(self, attention: Optional[dict], stage_idx: int, block_idx: int):
        """The gate config of block ``block_idx`` of stage ``stage_idx`` (EMCAResNet routes its own)."""
        return attention

    # ----------------------------------------------------------------- the two key layouts
    def _other_layout_units(self) -> Dict[str, Dict[str, str]]:
        """Where the two layouts differ: unit prefix (the deep stem, a stride-1 ``avg_down`` shortcut)
        -> {the other codebase's module prefix: this model's}."""
        units = {}
        if self.deep_stem:
            # ConvModule names its norm by abbreviation ('bn', 'gn', ...)
            norm_abbr = build_norm_layer(self.norm_cfg, self.stem_channels // 2)[0]
            mmdet_names = [f'stem.{i}.' for k in range(3) for i in (3 * k, 3 * k + 1)]
            mmpretrain_names = [f'stem.{k}.{part}.' for k in range(3) for part in ('conv', norm_abbr)]
            other, own = ((mmpretrain_names, mmdet_names) if self.key_layout == 'mmdet'
                          else (mmdet_names, mmpretrain_names))
            units['stem.'] = dict(zip(other, own))
        if self.avg_down:
            for name in self.res_layers:
                for j, block in enumerate(getattr(self, name)):
                    if block.downsample is not None and block.stride == 1:
                        unit = f'{name}.{j}.downsample.'
                        mmdet_names, mmpretrain_names = (f'{unit}1.', f'{unit}2.'), (f'{unit}0.', f'{unit}1.')
                        other, own = ((mmpretrain_names, mmdet_names) if self.key_layout == 'mmdet'
                                      else (mmdet_names, mmpretrain_names))
                        units[unit] = dict(zip(other, own))
        return units

    def adapt_state_dict(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``state`` (this model's key names, no prefix) with the parts written in the other codebase's
        layout renamed to this model's. A part counts as the other layout when it holds a key this model
        does not have (the names alone are ambiguous: mmpretrain's ``downsample.1`` is a norm, mmdet's a
        conv)."""
        own = self.state_dict().keys()
        renames = {}
        for unit, aliases in self._layout_units.items():
            unit_keys = [k for k in state if k.startswith(unit)]
            if all(k in own for k in unit_keys):
                continue
            for key in unit_keys:
                other = next((o for o in aliases if key.startswith(o)), None)
                if other is not None:
                    renames[key] = aliases[other] + key[len(other):]
        if not renames:
            return state
        return {renames.get(k, k): v for k, v in state.items()}

    def _translate_layout(self, state_dict, prefix, *args):
        """Load-time pre-hook: rename the other layout's keys to this model's (see ``adapt_state_dict``)."""
        if not self._layout_units:
            return
        mine = {k[len(prefix):]: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(prefix)]}
        state_dict.update({prefix + k: v for k, v in self.adapt_state_dict(mine).items()})

    # ----------------------------------------------------------------- init / train mode
    def init_weights(self):
        pretrained = pretrained_cfg_of(self.init_cfg)
        if self.init_cfg is None:
            reference_init(self)
        first_init = not self.is_init
        with recorded_loads(self) as loads:  # as read, after the key-layout translation
            super().init_weights()
        if pretrained and loads:  # one log line: what the checkpoint filled, what it did not
            report_pretrained_init(self, pretrained, loads[0])
        if self.zero_init_residual and not pretrained and first_init:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_norm.weight)

    def _freeze_stages(self):
        modules = []
        if self.frozen_stages >= 0:
            modules += [self.stem] if self.deep_stem else [self.conv1, self.norm1]
        modules += [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
        for m in modules:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, (_BatchNorm, SoftBAN)):
                    m.eval()
        return self

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """x: [B, in_channels, H, W] -> the outputs of the stages in ``out_indices`` (see the class docstring)."""
        x = self.stem(x) if self.deep_stem else self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for name in self.res_layers:
            x = getattr(self, name)(x)
            outs.append(x)
        return tuple(outs[i] for i in self.out_indices)
