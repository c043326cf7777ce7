# Backbone settings shared by every detector config of this package (mmdet's stock ResNet-50
# settings: ImageNet stem, four FPN levels, stem + stage 1 frozen, BatchNorm in eval mode).
# A detector config inherits this file next to its stock mmdet base and writes
#   model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))
#
# The backbone starts from scratch (init_cfg=None: nothing is downloaded). To start from a
# classifier trained with this package (tools/train.py on an *_imagenet.py config), pass
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.prefix=backbone. \
#       model.backbone.init_cfg.checkpoint=work_dirs/<cls>/epoch_100.pth
# or set init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=...) in backbone=dict(...);
# the log then lists any missing / unexpected keys.
det_backbone = dict(
    _delete_=True,  # replace mmdet's ResNet settings instead of merging into them
    stem='imagenet',
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    init_cfg=None)
