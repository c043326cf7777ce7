# EMCA-SRM ResNet-18 on ImageNet (EMCA recipe; its published figures: metafile.yml).
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=18, host='srm'), head=dict(in_channels=512))
# SRM's reference keeps the gate parameters (CFC + BN) free of weight decay.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.attn.': dict(decay_mult=0.0)}))
