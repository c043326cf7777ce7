# RetinaNet + FPN 1x on COCO with EMCA-SE ResNet-50 (published Faster R-CNN AP 38.1, Mask R-CNN
# box 39.0 / mask 35.7, RetinaNet 37.2).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    './_base_/det_backbone.py',  # stock backbone settings, init_cfg=None (see there)
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(backbone=dict(_base_.det_backbone, type='EMCAResNet', depth=50, host='se'))
