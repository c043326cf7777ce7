from .blocks import BasicBlock, Bottleneck
from .emanet import EMANet
from .emca_resnet import EMCAResNet
from .resnet import AttnResNet

__all__ = ['AttnResNet', 'BasicBlock', 'Bottleneck', 'EMANet', 'EMCAResNet']
