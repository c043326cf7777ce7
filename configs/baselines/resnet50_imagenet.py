# ResNet-50 (this package's implementation) on ImageNet with the EMCA recipe: the EMCA paper's baseline (its
# published figures: metafile.yml).
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=50))
