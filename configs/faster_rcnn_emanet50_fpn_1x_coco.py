# Faster R-CNN + FPN 1x on COCO with an EMANet-50 backbone (ImageNet stem; no published COCO
# figure).
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/det_backbone.py',  # stock backbone settings, init_cfg=None (see there)
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))
