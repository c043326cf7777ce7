"""EMCA-ResNet: one multi-scale channel-attention gate per stage, and the routing that feeds it."""
import contextlib
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..layers import EMCA
from .resnet import AttnResNet

#: valid values of the routing options, in the order the errors list them
ROUTING_OPTIONS = dict(where=('first', 'every'), prev_stages=(0, 1, 'all'), prev_blocks=(0, 1, 'all'),
                       tap=('output', 'branch'))

#: a tapped block: (stage index, block index)
BlockKey = Tuple[int, int]


class DescriptorStore:
    """The descriptors of one forward, ``{(stage, block): [B, C_r] (or [B, C_r, 2] for SRM)}``, pooled once per
    tapped block by its :class:`DescriptorTap` and read by every EMCA gate that fuses that block (through a
    forward pre-hook: :meth:`feed`). Its backbone empties it at the start and at the end of each forward.

    Args:
        pooler: the EMCA gate whose host squeeze pools the maps (all gates of a backbone share a host).
    """

    def __init__(self, pooler: Optional[EMCA]):
        self.pooler = pooler
        self.descriptors: Dict[BlockKey, torch.Tensor] = {}

    def pool(self, key: BlockKey, x: torch.Tensor) -> None:
        """Store the descriptor of ``x: [B, C_r, H, W]`` under ``key``."""
        self.descriptors[key] = self.pooler.squeeze(x)

    def feed(self, keys: Sequence[BlockKey], gate: EMCA, args: tuple) -> tuple:
        """Forward pre-hook of an EMCA gate: its positional args ``(x, )`` -> ``(x, [descriptor of each key])``."""
        missing = [f'layer{s + 1}.{b}' for s, b in keys if (s, b) not in self.descriptors]
        if missing:
            raise RuntimeError(f'an EMCA gate fuses the maps of {missing}, which were not pooled in this forward: '
                               "run the stages in order, as the backbone's forward does")
        return (*args, [self.descriptors[key] for key in keys])

    def clear(self) -> None:
        self.descriptors.clear()

    def checkpoint_contexts(self):
        """``context_fn`` of activation checkpointing (``with_cp``): the recomputation in backward reads the
        descriptors of the forward that ran the block (the store is empty by then, or holds a later forward's)."""
        return contextlib.nullcontext(), self._holding(dict(self.descriptors))

    @contextlib.contextmanager
    def _holding(self, descriptors: Dict[BlockKey, torch.Tensor]):
        current, self.descriptors = self.descriptors, descriptors
        try:
            yield
        finally:
            self.descriptors = current


class DescriptorTap(nn.Module):
    """What a tapped block calls with its output and residual branch: pools ``source`` (``'output'`` or
    ``'branch'``) into the store under ``key``. No parameters."""

    def __init__(self, store: DescriptorStore, key: BlockKey, source: str):
        super().__init__()
        self.store, self.key, self.source = store, key, source

    def forward(self, out: torch.Tensor, branch: torch.Tensor) -> None:
        self.store.pool(self.key, out if self.source == 'output' else branch)

    def extra_repr(self) -> str:
        return f'key={self.key}, source={self.source!r}'


class EMCAResNet(AttnResNet):
    """ResNet with EMCA of Bakr et al., "EMCA: Efficient Multi-Scale Channel Attention Module".

    The first block of every stage gets an EMCA gate (host SE, ECA or SRM) that fuses the block's
    own descriptor with those of earlier block outputs, which this backbone pools once and routes
    to it. Stage 1 has no earlier stage, so its gate is the plain host attention (R = 1).

    Routing: every block and stage keeps ``forward(x) -> Tensor``. Each tapped block carries a
    :class:`DescriptorTap` (``layerN.j.tap``) that pools its output (or branch) into this backbone's
    :class:`DescriptorStore`; each gate that fuses earlier maps reads them there through a forward
    pre-hook. The store holds the descriptors of the running forward only.

    Args:
        depth (int): Depth of the network, one of 18, 34, 50, 101, 152. Default: 50.
        host (str): The channel attention EMCA extends: ``'se'``, ``'eca'`` or ``'srm'``. Default: 'se'.
        host_cfg (dict, optional): Options of the host gate (e.g. ``dict(ratio=16)``,
            ``dict(kernel_size=5)``). Default: None.
        prev_stages (int | str): S, how many preceding stages feed a stage's gates: 0, 1 or ``'all'``.
            Default: 1.
        prev_blocks (int | str): N', how many blocks of each such stage: 0, 1 (the last) or ``'all'``.
            Default: 'all'.
        tap (str): What an earlier block contributes: ``'output'`` (its output) or ``'branch'`` (its residual
            branch, after its gate). Default: 'output'.
        scaling (str): How the attention scales a map: ``'mul'`` (u * s, published) or ``'one_plus'``
            (u * (1 + s)). Default: 'mul'.
        fusion_init (str): Initial fusion weights: ``'equal'`` (1/R each) or ``'default'`` (the default init of
            the equivalent ``Conv1d``, see :class:`~mmemanet.models.layers.EMCA`). Default: 'equal'.
        where (str): Which blocks get an EMCA gate: ``'first'`` block of each stage or ``'every'`` block.
            Default: 'first'.
        zero_init_residual (bool): Zero the weight of each block's last norm (see :class:`AttnResNet`); off
            as in the paper's initialisation. Default: False.
        **kwargs: Every other argument of :class:`AttnResNet`; not ``attention``, which EMCAResNet sets.

    Shapes: as :class:`AttnResNet`.
    """

    def __init__(self,
                 depth: int = 50,
                 host: str = 'se',
                 host_cfg: Optional[dict] = None,
                 prev_stages: Union[int, str] = 1,
                 prev_blocks: Union[int, str] = 'all',
                 tap: str = 'output',
                 scaling: str = 'mul',
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
        self.emca_cfg = dict(type='EMCA', host=host, host_cfg=host_cfg, scaling=scaling, fusion_init=fusion_init)
        super().__init__(depth=depth, zero_init_residual=zero_init_residual, **kwargs)
        # which block outputs each stage's gates receive
        self.stage_taps = [self.tap_sources(i) for i in range(len(self.stage_blocks))]
        self._route_descriptors()

    def _route_descriptors(self) -> None:
        """A tap on every block that feeds a gate; a pre-hook on every gate that fuses earlier maps."""
        readers = [(i, block) for i, name in enumerate(self.res_layers) for block in getattr(self, name)
                   if isinstance(block.attn, EMCA) and block.attn.tap_channels]
        self.descriptor_store = DescriptorStore(readers[0][1].attn if readers else None)
        for i, block in readers:
            block.attn.register_forward_pre_hook(partial(self.descriptor_store.feed, self.stage_taps[i]))
            block.checkpoint_context_fn = self.descriptor_store.checkpoint_contexts
        for s, b in sorted({key for i, _ in readers for key in self.stage_taps[i]}):
            getattr(self, self.res_layers[s])[b].tap = DescriptorTap(self.descriptor_store, (s, b), self.tap)

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

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """As :class:`AttnResNet`'s; the descriptor store holds this forward's descriptors while it runs."""
        self.descriptor_store.clear()
        try:
            return super().forward(x)
        finally:
            self.descriptor_store.clear()
