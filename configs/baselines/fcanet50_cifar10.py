# FcaNet-50 (top16 DCT frequencies, DCT sizes 56/28/14/7 as the FcaNet code), EMANet table
# baseline (its published figures: metafile.yml).
_base_ = '../_base_/cifar10_recipe.py'
model = dict(
    backbone=dict(type='AttnResNet', depth=50,
                  attention=[dict(type='FcaGate', dct_size=s) for s in (56, 28, 14, 7)]))
