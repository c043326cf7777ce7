# RetinaNet + FPN 1x on COCO with EMCA-SE ResNet-50 (published Faster R-CNN AP 38.1, Mask R-CNN
# box 39.0 / mask 35.7, RetinaNet 37.2).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    './_base_/det_backbone.py',  # stock backbone settings, torchvision start (see there)
    './_base_/mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(backbone=dict(_base_.det_backbone, type='EMCAResNet', depth=50, host='se'))

# Start (see _base_/det_backbone.py): torchvision's ImageNet ResNet-50, the EMCA gates from scratch.
# NOT the paper's start, which is an ImageNet-trained EMCA-SE ResNet-50: train one with
# configs/emca_se_resnet50_imagenet.py and pass
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/emca_se_resnet50_imagenet/epoch_100.pth \
#       model.backbone.init_cfg.prefix=backbone.

# The stock COCO datasets, checked (mmemanet/datasets/checked.py): a missing or broken dataset ends the
# run with one line naming the file, the expected layout and where the official files come from.
train_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
