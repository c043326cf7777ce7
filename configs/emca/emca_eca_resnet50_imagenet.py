# EMCA-ECA ResNet-50 on ImageNet (EMCA recipe), published top-1 77.13.
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=50, host='eca'))
