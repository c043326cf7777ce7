# EMANet-50 with the ImageNet stem (7x7/2 + max-pool; ours, the paper trains CIFAR only) and the
# EMCA ImageNet recipe.
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='EMANet', depth=50, stem='imagenet'))
