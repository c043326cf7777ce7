"""EMCA-ResNet: one multi-scale channel-attention gate per stage, and the routing that feeds it."""
from typing import List, Optional, Tuple, Union

import torch

from ...registry import register_backbone
from ..layers import EMCA
from .resnet import AttnResNet

#: valid values of the routing options, in the order the errors list them
ROUTING_OPTIONS = dict(where=('first', 'every'), prev_stages=(0, 1, 'all'), prev_blocks=(0, 1, 'all'),
                       tap=('output', 'branch'))


@register_backbone
class EMCAResNet(AttnResNet):
    """ResNet with EMCA of Bakr et al., "EMCA: Efficient Multi-Scale Channel Attention Module".

    The first block of every stage gets an EMCA gate (host SE, ECA or SRM) that fuses the block's
    own descriptor with those of earlier block outputs, which this backbone pools once and routes
    to it. Stage 1 has no earlier stage, so its gate is the plain host attention (R = 1).

    Args:
        host: ``'se'`` | ``'eca'`` | ``'srm'``.
        host_cfg: options of the host gate (e.g. ``dict(ratio=16)``, ``dict(kernel_size=5)``).
        prev_stages: S, how many preceding stages feed a stage: 0, 1 (default) or ``'all'``.
        prev_blocks: N', how many blocks of each such stage: 0, 1 (the last) or ``'all'`` (default).
        tap: ``'output'`` (block outputs, default) or ``'branch'`` (residual-branch outputs, after the gate).
        gate: ``'mul'`` (u * s, default) or ``'one_plus'`` (u * (1 + s)).
        fusion_init: ``'equal'`` (1/R, default) or ``'default'``.
        where: ``'first'`` block of each stage (default) or ``'every'`` block.
        zero_init_residual: False by default (the paper's initialisation).
        **kwargs: everything :class:`AttnResNet` takes.

    Shapes: as :class:`AttnResNet`.
    """

    def __init__(self,
                 depth: int = 50,
                 host: str = 'se',
                 host_cfg: Optional[dict] = None,
                 prev_stages: Union[int, str] = 1,
                 prev_blocks: Union[int, str] = 'all',
                 tap: str = 'output',
                 gate: str = 'mul',
                 fusion_init: str = 'equal',
                 where: str = 'first',
                 zero_init_residual: bool = False,
                 **kwargs):
        if 'attention' in kwargs:
            raise ValueError('EMCAResNet sets its gates itself; use host=, host_cfg=, ...')
        for key, value in dict(where=where, prev_stages=prev_stages, prev_blocks=prev_blocks,
                               tap=tap).items():
            if value not in ROUTING_OPTIONS[key]:
                raise ValueError(f'EMCAResNet {key}={value!r}; valid values are {list(ROUTING_OPTIONS[key])}')
        # read by _block_attention while AttnResNet builds the blocks
        self.where, self.prev_stages, self.prev_blocks, self.tap = where, prev_stages, prev_blocks, tap
        self.emca_cfg = dict(type='EMCA', host=host, host_cfg=host_cfg, gate=gate, fusion_init=fusion_init)
        super().__init__(depth=depth, zero_init_residual=zero_init_residual, **kwargs)
        # which block outputs are pooled, and which of them each stage's gates receive
        self.stage_taps = [self.tap_sources(i) for i in range(len(self.stage_blocks))]
        self.tapped_blocks = {src for taps in self.stage_taps for src in taps}
        # the EMCA gate whose host squeeze pools the tapped blocks (all gates share a host), found once
        self._tap_gate = next((name for name, m in self.named_modules()
                               if isinstance(m, EMCA) and len(m.tap_channels) > 0), None)

    def tap_sources(self, stage_idx: int) -> List[Tuple[int, int]]:
        """(stage, block) pairs whose outputs feed the EMCA gates of ``stage_idx``.

        ``prev_stages``: 0, 1 or 'all' preceding stages (S); ``prev_blocks``: 0, 1 (the last
        block) or 'all' blocks of each such stage (N').
        """
        first = 0 if self.prev_stages == 'all' else stage_idx - self.prev_stages
        sources = []
        for s in range(max(first, 0), stage_idx):
            n = self.stage_blocks[s]
            blocks = range(n) if self.prev_blocks == 'all' else range(n - self.prev_blocks, n)
            sources.extend((s, b) for b in blocks)
        return sources

    def _block_attention(self, attention, stage_idx, block_idx):
        if self.where == 'first' and block_idx > 0:
            return None
        # taps come from earlier stages, whose output widths AttnResNet has recorded by now
        channels = [self.feat_channels[s] for s, _ in self.tap_sources(stage_idx)]
        return dict(self.emca_cfg, tap_channels=channels)

    def _forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        squeeze = self.get_submodule(self._tap_gate).squeeze if self._tap_gate else None
        descriptors = {}
        outs = []
        for i, name in enumerate(self.res_layers):
            for j, block in enumerate(getattr(self, name)):
                taps = [descriptors[src] for src in self.stage_taps[i]] if block.takes_taps else ()
                x, branch = block(x, taps, return_branch=True)
                if (i, j) in self.tapped_blocks:
                    # pooled once here, reused by every later gate that taps this block
                    descriptors[(i, j)] = squeeze(x if self.tap == 'output' else branch)
            outs.append(x)
        return outs
