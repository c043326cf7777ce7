"""EMANet: ResNet whose 3x3 convolutions are Mixture Attention (MA) modules."""
from typing import Sequence

from .resnet import AttnResNet


class EMANet(AttnResNet):
    """EMANet of Yang et al., "Multiscale Hybrid Convolutional Deep Neural Networks with Channel
    Attention" (Entropy 2022, 24(9):1180).

    Depth 50 / 101 are the published networks: MA replaces the 3x3 conv of every Bottleneck and
    carries its stride. Depth 18 / 34 (ours, an extension) put MA in place of the first 3x3 conv
    of each BasicBlock. The published model uses the CIFAR stem (``stem='cifar'``, as the CIFAR configs
    set); the default ``stem='imagenet'`` gives the 7x7/2 + max-pool stem for ImageNet-size inputs and
    detection, so a stock mmdet / mmpretrain ResNet config takes ``type='EMANet'`` as it is.

    Args:
        depth (int): Depth of the network, one of 18, 34, 50, 101, 152. Default: 50.
        stem (str): ``'imagenet'`` (7x7/2 conv + max-pool) or ``'cifar'`` (3x3/1 conv, the published
            network's). Default: 'imagenet'.
        groups (Sequence[int] | Sequence[Sequence[int]]): Group count of each MA branch conv, one tuple for
            every stage or one tuple per stage. Default: (1, 4, 8, 16).
        kernels (Sequence[int]): Kernel size of each MA branch conv (odd, as many as each groups tuple).
            Default: (3, 5, 7, 9).
        ma_impl (str): ``'fused'`` (fast) or ``'reference'`` (the per-branch formulation); both hold the same
            parameters and compute the same function. Default: 'fused'.
        zero_init_residual (bool): Zero the weight of each block's last norm (see :class:`AttnResNet`); off
            as in the paper's initialisation. Default: False.
        **kwargs: Every other argument of :class:`AttnResNet` (``out_indices``, ``frozen_stages``, ...);
            not ``mixer``, which EMANet sets.

    Shapes: as :class:`AttnResNet`; e.g. depth 50, ``stem='cifar'``, [B, 3, 32, 32] ->
    ([B, 2048, 4, 4],) with the default ``out_indices=(3,)``.
    """

    def __init__(self,
                 depth: int = 50,
                 stem: str = 'imagenet',
                 groups: Sequence = (1, 4, 8, 16),
                 kernels: Sequence[int] = (3, 5, 7, 9),
                 ma_impl: str = 'fused',
                 zero_init_residual: bool = False,
                 **kwargs):
        if 'mixer' in kwargs:
            raise ValueError('EMANet sets mixer= itself; use groups=, kernels= and ma_impl=')
        stage_groups = [tuple(g) for g in groups] if isinstance(groups[0], (list, tuple)) \
            else [tuple(groups)] * kwargs.get('num_stages', 4)
        mixer = [dict(type='MixtureAttention', kernels=tuple(kernels), groups=g, impl=ma_impl)
                 for g in stage_groups]
        super().__init__(depth=depth, stem=stem, mixer=mixer, zero_init_residual=zero_init_residual, **kwargs)
