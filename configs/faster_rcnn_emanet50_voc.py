# Faster R-CNN + FPN with an EMANet-50 backbone on VOC0712 (stock mmdet VOC schedule).
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

# The backbone starts from scratch (init_cfg=None: nothing is downloaded). To start from a
# classifier trained with this package (tools/train.py on an *_imagenet.py config), set
#   init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='work_dirs/<cls>/epoch_100.pth')
# inside backbone=dict(...) below; the log then lists any missing / unexpected keys.
model = dict(
    backbone=dict(
        _delete_=True,
        type='EMANet', depth=50,
        stem='imagenet',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=None))
