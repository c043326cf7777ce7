# Faster R-CNN + FPN with a plain ResNet-50 (this package's implementation), VOC0712 baseline (the figures the
# EMANet paper publishes for its ResNet-50 VOC detector: metafile.yml).
_base_ = '../_base_/detectors/faster-rcnn_r50_fpn_1x_voc0712.py'  # mmdet's config + checked data, guards

model = dict(backbone=dict(_base_.det_backbone, type='AttnResNet', depth=50))

# Start (see configs/_base_/det_backbone.py): torchvision's ImageNet ResNet-50, the start of the stock mmdet
# configs and of the papers' ResNet-50 baselines.
