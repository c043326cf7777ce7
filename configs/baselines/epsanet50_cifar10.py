# EPSANet-50 (PSA in place of every 3x3 conv), EMANet table baseline (its published figures: metafile.yml).
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=50, mixer=dict(type='PyramidSplitAttention')))
