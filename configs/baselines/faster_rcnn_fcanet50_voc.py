# Faster R-CNN + FPN with FcaNet-50, VOC0712 baseline: the ResNet-50 baseline with an FcaNet gate
# (DCT sizes 56, 28, 14, 7 by stage) in every block.
# Start: torchvision's ImageNet ResNet-50 (the baseline's), the FcaNet gates from scratch; NOT the start of
# the published FcaNet detectors, which are ImageNet-trained with their gates (none is shipped here).
_base_ = './faster_rcnn_r50_voc.py'
model = dict(backbone=dict(attention=[dict(type='FcaGate', dct_size=s) for s in (56, 28, 14, 7)]))
