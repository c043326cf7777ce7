# EMCA-SRM ResNet-50 (S=1, N'=all) trained with the EMANet CIFAR-10 recipe.
_base_ = '../_base_/cifar10_recipe.py'
model = dict(backbone=dict(type='EMCAResNet', depth=50, host='srm'))
# SRM's reference keeps the gate parameters (CFC + BN) free of weight decay.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.attn.': dict(decay_mult=0.0)}))
