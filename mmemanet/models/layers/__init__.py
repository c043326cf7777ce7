"""Attention layers, all registered in mmengine's root ``MODELS`` (usable as mmcv plugins / norm layers)."""
from .eca import ECAGate
from .emca import EMCA
from .fca import FcaGate
from .gates import ChannelGate
from .mixture_attention import MixtureAttention
from .psa import PSAModule
from .se import SEGate
from .softban import SoftBAN
from .srm import SRMGate

__all__ = ['ChannelGate', 'SEGate', 'ECAGate', 'SRMGate', 'FcaGate', 'SoftBAN', 'EMCA', 'MixtureAttention',
           'PSAModule']
