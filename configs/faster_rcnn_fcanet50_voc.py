# Faster R-CNN + FPN with FcaNet-50, VOC0712 baseline: the ResNet-50 baseline with an FcaNet gate
# (DCT sizes 56, 28, 14, 7 by stage) in every block.
_base_ = './faster_rcnn_r50_voc.py'
model = dict(backbone=dict(attention=[dict(type='FcaGate', dct_size=s) for s in (56, 28, 14, 7)]))
