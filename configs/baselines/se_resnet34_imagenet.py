# SE-ResNet-34 (SE in every block, bias-free FCs, r=16) on ImageNet with the EMCA recipe: the EMCA paper's
# baseline (its published figures: metafile.yml).
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='AttnResNet', depth=34, attention=dict(type='SEGate', ratio=16)),
             head=dict(in_channels=512))
