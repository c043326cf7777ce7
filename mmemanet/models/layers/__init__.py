"""Attention layers, all registered in mmengine's root ``MODELS`` (usable as mmcv plugins / norm layers).

Names say where a residual block takes a module (its ``slot``): ``<Method>Gate`` for the channel gates
applied to a block's residual branch (``SEGate``, ``ECAGate``, ``SRMGate``, ``FcaGate``; slot
``'attention'``), ``<Name>Attention`` for the modules that replace the block's 3x3 convolution
(``MixtureAttention``, ``PyramidSplitAttention``; slot ``'mixer'``). ``EMCA`` keeps its paper's name: it is
a gate, but not a stand-alone one (it fuses descriptors the backbone routes to it). Building blocks that
are not registered have plain names (``ChannelGate``, the base of the gates; ``BranchSE`` in
:mod:`.branches`), and ``SoftBAN`` is a norm layer.
"""
from .eca import ECAGate
from .emca import EMCA
from .fca import FcaGate
from .gates import ChannelGate
from .mixture_attention import MixtureAttention
from .psa import PyramidSplitAttention
from .se import SEGate
from .softban import SoftBAN
from .srm import SRMGate

__all__ = ['ChannelGate', 'SEGate', 'ECAGate', 'SRMGate', 'FcaGate', 'SoftBAN', 'EMCA', 'MixtureAttention',
           'PyramidSplitAttention']
