# EMCA-ECA ResNet-18 (S=1, N'=all) trained with the EMANet CIFAR-10 recipe.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=18, host='eca'), head=dict(in_channels=512))
