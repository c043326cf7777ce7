# EMCA-ECA ResNet-50 (S=1, N'=all) trained with the EMANet CIFAR-10 recipe.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=50, host='eca'))
