"""One ResNet-family backbone for MMPretrain and MMDetection, with pluggable attention.

``AttnResNet`` is the whole hierarchy; ``EMANet`` and ``EMCAResNet`` are thin configurations of it
(see ``emanet.py`` and ``emca_resnet.py``), and the dense SE / ECA / SRM / FcaNet / PSA baselines
of both papers are ``AttnResNet`` with ``attention=`` or ``mixer=`` set.
"""
import math
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...engine.checkpoint_compat import report_pretrained_init
from ...registry import register_backbone
from ..layers import EMCA
from .blocks import BasicBlock, Bottleneck

PerStage = Union[None, dict, Sequence[Optional[dict]]]


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
        elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@register_backbone
class AttnResNet(BaseModule):
    """ResNet (depth 18/34/50/101/152) with optional attention, for classification and detection.

    Args:
        depth: 18 or 34 (BasicBlock), 50, 101 or 152 (Bottleneck).
        stem: ``'imagenet'`` (7x7/2 conv + 3x3/2 max-pool) or ``'cifar'`` (3x3/1 conv, no pool).
        mixer: module that replaces each block's 3x3 conv (one dict, or one per stage).
        attention: channel gate after the last norm of every block (one dict, or one per stage).
        emca: EMCA settings (see :class:`EMCAResNet`); None for none.
        plugins: mmdet-style ``dict(cfg=..., stages=(bool,)*4, position=...)`` list, both blocks.
        out_indices, frozen_stages, norm_eval, norm_cfg, conv_cfg, with_cp, zero_init_residual,
        init_cfg: as in mmdet's / mmpretrain's ResNet. With ``init_cfg=None`` the reference
            initialisation (:func:`reference_init`) is used.

    Shapes: [B, in_channels, H, W] -> tuple of [B, C_i, H / s_i, W / s_i] for i in ``out_indices``
    with C_i = 64 * 2**i * expansion and s_i = 4 * 2**i (ImageNet stem) or 2**i (CIFAR stem).
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }
    stems = ('imagenet', 'cifar')

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem: str = 'imagenet',
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 mixer: PerStage = None,
                 attention: PerStage = None,
                 emca: Optional[dict] = None,
                 plugins: Optional[Sequence[dict]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f'depth={depth} is not supported; valid depths are '
                             f'{sorted(self.arch_settings)}')
        if stem not in self.stems:
            raise ValueError(f'stem={stem!r}; valid stems are {list(self.stems)}')
        if not 1 <= num_stages <= 4 or len(strides) != num_stages:
            raise ValueError(f'num_stages={num_stages} with strides={tuple(strides)}: need '
                             '1 <= num_stages <= 4 and one stride per stage')
        if any(not 0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices={tuple(out_indices)} must lie in [0, {num_stages})')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages={frozen_stages} must lie in [-1, {num_stages}]')
        self.depth = depth
        self.stem = stem
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        mixers = per_stage(mixer, num_stages, 'mixer')
        attentions = per_stage(attention, num_stages, 'attention')
        self.base_channels = base_channels
        self._parse_emca(emca)

        self._make_stem(in_channels, base_channels, conv_cfg, norm_cfg)
        self.res_layers = []
        self.feat_channels = []
        inplanes = base_channels
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            out_channels = planes * self.block.expansion
            stage_plugins = self._stage_plugins(plugins, i)
            blocks = []
            for j in range(num_blocks):
                stride = strides[i] if j == 0 else 1
                downsample = None
                if stride != 1 or inplanes != out_channels:
                    downsample = nn.Sequential(
                        build_conv_layer(conv_cfg, inplanes, out_channels, 1, stride=stride,
                                         bias=False),
                        build_norm_layer(norm_cfg, out_channels)[1])
                blocks.append(self.block(
                    inplanes, planes, stride=stride, downsample=downsample, mixer=mixers[i],
                    attention=self._block_attention(attentions[i], i, j), plugins=stage_plugins,
                    with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg))
                inplanes = out_channels
            name = f'layer{i + 1}'
            self.add_module(name, nn.Sequential(*blocks))
            self.res_layers.append(name)
            self.feat_channels.append(out_channels)
        # which block outputs are pooled for EMCA, and which of them each stage's gates receive
        self.stage_taps = [self.tap_sources(i) for i in range(num_stages)]
        self.tapped_blocks = {src for taps in self.stage_taps for src in taps}
        # the EMCA gate whose host squeeze pools the tapped blocks (all gates share a host), found once
        self._tap_gate = next((name for name, m in self.named_modules()
                               if isinstance(m, EMCA) and len(m.tap_channels) > 0), None)
        self._freeze_stages()

    # ----------------------------------------------------------------- construction helpers
    def _parse_emca(self, emca):
        """Split ``emca`` into the routing options (kept here) and the EMCA module options."""
        self.emca_cfg = None
        if emca is None:
            return
        emca = dict(emca)
        self.emca_where = emca.pop('where', 'first')
        self.emca_prev_stages = emca.pop('prev_stages', 1)
        self.emca_prev_blocks = emca.pop('prev_blocks', 'all')
        self.emca_tap = emca.pop('tap', 'output')
        options = dict(where=(self.emca_where, ('first', 'every')),
                       prev_stages=(self.emca_prev_stages, (0, 1, 'all')),
                       prev_blocks=(self.emca_prev_blocks, (0, 1, 'all')),
                       tap=(self.emca_tap, ('output', 'residual')))
        for key, (value, valid) in options.items():
            if value not in valid:
                raise ValueError(f'emca {key}={value!r}; valid values are {list(valid)}')
        self.emca_cfg = emca

    def _make_stem(self, in_channels, base_channels, conv_cfg, norm_cfg):
        if self.stem == 'imagenet':
            self.conv1 = build_conv_layer(conv_cfg, in_channels, base_channels, 7, stride=2,
                                          padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = build_conv_layer(conv_cfg, in_channels, base_channels, 3, stride=1,
                                          padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = build_norm_layer(norm_cfg, base_channels)[1]
        self.relu = nn.ReLU(inplace=True)

    def _stage_plugins(self, plugins, stage_idx):
        """mmdet's ``make_stage_plugins``: the plugins whose ``stages`` flag this stage."""
        selected = []
        for plugin in plugins or ():
            stages = plugin.get('stages')
            if stages is not None and len(stages) != len(self.stage_blocks):
                raise ValueError(f'plugin stages={stages} must have one flag per stage '
                                 f'({len(self.stage_blocks)})')
            if stages is None or stages[stage_idx]:
                selected.append(plugin)
        return selected

    def _block_attention(self, attention, stage_idx, block_idx):
        """The gate of block ``block_idx`` of stage ``stage_idx`` (dense gate, or EMCA)."""
        if self.emca_cfg is None:
            return attention
        if attention is not None:
            raise ValueError('give either attention= (a dense gate) or emca=, not both')
        if self.emca_where == 'first' and block_idx > 0:
            return None
        channels = [self._stage_out_channels(s) for s, _ in self.tap_sources(stage_idx)]
        return dict(self.emca_cfg, type='EMCA', tap_channels=channels)

    def _stage_out_channels(self, stage_idx):
        return self.base_channels * 2**stage_idx * self.block.expansion

    def tap_sources(self, stage_idx: int):
        """(stage, block) pairs whose outputs feed the EMCA gates of ``stage_idx``.

        ``prev_stages``: 0, 1 or 'all' preceding stages (S); ``prev_blocks``: 0, 1 (the last
        block) or 'all' blocks of each such stage (N').
        """
        if self.emca_cfg is None:
            return []
        prev_stages, prev_blocks = self.emca_prev_stages, self.emca_prev_blocks
        first = 0 if prev_stages == 'all' else stage_idx - prev_stages
        sources = []
        for s in range(max(first, 0), stage_idx):
            n = self.stage_blocks[s]
            blocks = range(n) if prev_blocks == 'all' else range(n - prev_blocks, n)
            sources.extend((s, b) for b in blocks)
        return sources

    # ----------------------------------------------------------------- init / train mode
    def init_weights(self):
        pretrained = isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'
        if self.init_cfg is None:
            reference_init(self)
        first_init = not self.is_init
        super().init_weights()
        if pretrained and first_init:  # one log line: what the checkpoint filled, what it did not
            report_pretrained_init(self, self.init_cfg)
        if self.zero_init_residual and not pretrained:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_norm.weight)

    def _freeze_stages(self):
        modules = []
        if self.frozen_stages >= 0:
            modules += [self.conv1, self.bn1]
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
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        squeeze = self.get_submodule(self._tap_gate).squeeze if self._tap_gate else None
        descriptors = {}
        outs = []
        for i, name in enumerate(self.res_layers):
            for j, block in enumerate(getattr(self, name)):
                taps = [descriptors[src] for src in self.stage_taps[i]] if block.takes_taps else ()
                x, branch = block(x, taps, return_branch=True)
                if (i, j) in self.tapped_blocks:
                    # pooled once here, reused by every later gate that taps this block
                    descriptors[(i, j)] = squeeze(x if self.emca_tap == 'output' else branch)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
