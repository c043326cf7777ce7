# Faster R-CNN + FPN with SE-ResNet-50 (bias-free, r=16), VOC0712 baseline: the ResNet-50 baseline
# with an SE gate in every block.
_base_ = './faster_rcnn_r50_voc.py'
model = dict(backbone=dict(attention=dict(type='SEGate', ratio=16)))
