# EMANet-50 (CIFAR stem), the EMANet paper's CIFAR-10 model (its published figures: metafile.yml).
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='EMANet', depth=50))
