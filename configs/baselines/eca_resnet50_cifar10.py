# ECA-ResNet-50 (k = 3, 5, 5, 7 per stage), EMANet table baseline (its published figures: metafile.yml).
_base_ = '../_base_/cifar10_recipe.py'
model = dict(
    backbone=dict(type='AttnResNet', depth=50,
                  attention=[dict(type='ECAGate', kernel_size=k) for k in (3, 5, 5, 7)]))
