"""EMCA-ResNet: one multi-scale channel-attention gate per stage."""
from typing import Optional, Union

from ...registry import register_backbone
from .resnet import AttnResNet


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
        tap: ``'output'`` (block outputs, default) or ``'residual'`` (residual-branch outputs).
        gate: ``'mul'`` (u * s, default) or ``'residual'`` (u * (1 + s)).
        fusion_init: ``'equal'`` (1/R, default) or ``'default'``.
        where: ``'first'`` block of each stage (default) or ``'every'`` block.
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
                 **kwargs):
        if 'emca' in kwargs or 'attention' in kwargs:
            raise ValueError('EMCAResNet sets its gates itself; use host=, host_cfg=, ...')
        emca = dict(host=host, host_cfg=host_cfg, gate=gate, fusion_init=fusion_init,
                    where=where, prev_stages=prev_stages, prev_blocks=prev_blocks, tap=tap)
        super().__init__(depth=depth, emca=emca, **kwargs)
