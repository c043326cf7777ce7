from .blocks import BasicBlock, Bottleneck
from .codebases import DetAttnResNet, DetEMANet, DetEMCAResNet  # registers the backbones
from .emanet import EMANet
from .emca_resnet import EMCAResNet
from .resnet import AttnResNet

__all__ = ['AttnResNet', 'BasicBlock', 'Bottleneck', 'DetAttnResNet', 'DetEMANet', 'DetEMCAResNet', 'EMANet',
           'EMCAResNet']
