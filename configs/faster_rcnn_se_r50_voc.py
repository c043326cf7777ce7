# Faster R-CNN + FPN with SE-ResNet-50 (bias-free, r=16), VOC0712 baseline.
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
    './_base_/det_backbone.py',  # stock backbone settings, init_cfg=None (see there)
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _base_.det_backbone, type='AttnResNet', depth=50,
        attention=dict(type='SEGate', ratio=16)))
