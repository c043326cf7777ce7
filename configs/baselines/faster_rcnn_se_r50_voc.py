# Faster R-CNN + FPN with SE-ResNet-50 (bias-free, r=16), VOC0712 baseline: the ResNet-50 baseline
# with an SE gate in every block.
# Start: torchvision's ImageNet ResNet-50 (the baseline's), the SE gates from scratch; NOT the start of
# the published SE detectors, which are ImageNet-trained with their gates (none is shipped here).
_base_ = './faster_rcnn_r50_voc.py'
model = dict(backbone=dict(attention=dict(type='SEGate', ratio=16)))
