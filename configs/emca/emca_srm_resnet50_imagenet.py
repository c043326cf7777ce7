# EMCA-SRM ResNet-50 on ImageNet (EMCA recipe; its published figures: metafile.yml).
_base_ = '../_base_/imagenet_emca_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=50, host='srm'))
# SRM's reference keeps the gate parameters (CFC + BN) free of weight decay.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.attn.': dict(decay_mult=0.0)}))
