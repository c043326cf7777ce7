# Backbone settings shared by every detector config of this package (mmdet's stock ResNet-50
# settings: ImageNet stem, four FPN levels, stem + stage 1 frozen, BatchNorm in eval mode).
# A detector config inherits this file next to its stock mmdet base and writes
#   model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))
#
# Start: torchvision's ImageNet ResNet-50, as in every stock mmdet R-50 config. It fills every tensor
# a ResNet-50 has (stem, convolutions, shortcuts, norms); what the ResNet lacks (gates, EMCA fusion,
# the MA modules of EMANet) starts from its own initialisation, and the log line of the start lists
# exactly those keys as missing. Change the checkpoint with the depth (torchvision://resnet101 for
# depth=101). Each detector config says whether this start is the paper's.
#
# Another start: a classifier trained with this package (tools/train.py on an *_imagenet.py config):
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<cls>/epoch_100.pth \
#       model.backbone.init_cfg.prefix=backbone.
# Offline without the torchvision file in torch's cache (~/.cache/torch/hub/checkpoints, or
# $TORCH_HOME/hub/checkpoints): give a local file as above, or start from scratch with
#   --cfg-options model.backbone.init_cfg=None
# (tools/train.py says so in one line before building anything when the start cannot be fetched).
det_backbone = dict(
    _delete_=True,  # replace mmdet's ResNet settings instead of merging into them
    stem='imagenet',
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'))
