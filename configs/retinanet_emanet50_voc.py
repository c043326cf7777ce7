# RetinaNet + FPN with an EMANet-50 backbone on VOC0712 (stock mmdet VOC schedule).
_base_ = [
    'mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py',
    './_base_/det_backbone.py',  # stock backbone settings, init_cfg=None (see there)
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))
