# RetinaNet + FPN 1x on COCO with EMCA-ECA ResNet-50 (published Faster R-CNN AP 38.2, Mask R-CNN box 39.1 / mask 35.7, RetinaNet 37.3).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

# The backbone starts from scratch (init_cfg=None: nothing is downloaded). To start from a
# classifier trained with this package (tools/train.py on an *_imagenet.py config), set
#   init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='work_dirs/<cls>/epoch_100.pth')
# inside backbone=dict(...) below; the log then lists any missing / unexpected keys.
model = dict(
    backbone=dict(
        _delete_=True,
        type='EMCAResNet', depth=50, host='eca',
        stem='imagenet',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=None))
