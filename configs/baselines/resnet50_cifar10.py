# ResNet-50 (CIFAR stem) baseline of the EMANet table: 93.62 top-1, 22.43M, 1.215G.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=50))
