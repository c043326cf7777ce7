# ResNet-50 (CIFAR stem) baseline of the EMANet table (its published figures: metafile.yml).
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=50))
