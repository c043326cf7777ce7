# EMCA-SRM ResNet-18 (S=1, N'=all) trained with the EMANet CIFAR-10 recipe.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=18, host='srm'), head=dict(in_channels=512))
# SRM's reference keeps the gate parameters (CFC + BN) free of weight decay.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.attn.': dict(decay_mult=0.0)}))
