# SE-ResNet-50 (bias-free FCs, r=16), EMANet table baseline (its published figures: metafile.yml).
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=50, attention=dict(type='SEGate', ratio=16)))
