# SE-ResNet-50 (bias-free FCs, r=16), EMANet table baseline: 95.35 top-1, 24.83M, 1.219G.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=50, attention=dict(type='SEGate', ratio=16)))
