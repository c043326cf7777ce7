# Mask R-CNN + FPN 1x on COCO with an EMANet-50 backbone (ImageNet stem; no published COCO figure).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/det_backbone.py',  # stock backbone settings, torchvision start (see there)
    './_base_/mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))

# Start (see _base_/det_backbone.py): torchvision's ImageNet ResNet-50 fills the stem, the 1x1
# convolutions, the shortcuts and the norms; the MA modules start from scratch. NOT the paper's start,
# which is an ImageNet-trained EMANet: train one with configs/emanet50_imagenet.py and pass
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/emanet50_imagenet/epoch_100.pth \
#       model.backbone.init_cfg.prefix=backbone.

# The stock COCO datasets, checked (mmemanet/datasets/checked.py): a missing or broken dataset ends the
# run with one line naming the file, the expected layout and where the official files come from.
train_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
