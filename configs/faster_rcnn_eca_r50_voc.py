# Faster R-CNN + FPN with ECA-ResNet-50 (k = 3, 5, 5, 7), VOC0712 baseline: the ResNet-50 baseline
# with an ECA gate in every block.
_base_ = './faster_rcnn_r50_voc.py'
model = dict(backbone=dict(attention=[dict(type='ECAGate', kernel_size=k) for k in (3, 5, 5, 7)]))
