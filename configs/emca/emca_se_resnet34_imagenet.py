# EMCA-SE ResNet-34 on ImageNet (EMCA recipe; its published figures: metafile.yml).
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=34, host='se'), head=dict(in_channels=512))
