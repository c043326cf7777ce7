# Faster R-CNN + FPN with ECA-ResNet-50 (k = 3, 5, 5, 7), VOC0712 baseline: the ResNet-50 baseline
# with an ECA gate in every block.
# Start: torchvision's ImageNet ResNet-50 (the baseline's), the ECA gates from scratch; NOT the start of
# the published ECA detectors, which are ImageNet-trained with their gates (none is shipped here).
_base_ = './faster_rcnn_r50_voc.py'
model = dict(backbone=dict(attention=[dict(type='ECAGate', kernel_size=k) for k in (3, 5, 5, 7)]))
