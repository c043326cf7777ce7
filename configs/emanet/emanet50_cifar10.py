# EMANet-50 (CIFAR stem), published CIFAR-10 top-1 95.61, 20.20M params (thop), 1.119G MACs.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='EMANet', depth=50))
