# Faster R-CNN + FPN 1x on COCO with EMCA-ECA ResNet-50 (its published figures: metafile.yml).
_base_ = '../_base_/detectors/faster-rcnn_r50_fpn_1x_coco.py'  # mmdet's config + checked data, guards

model = dict(backbone=dict(_base_.det_backbone, type='EMCAResNet', depth=50, host='eca'))

# Start (see configs/_base_/det_backbone.py): torchvision's ImageNet ResNet-50, the EMCA gates from scratch.
# NOT the paper's start, which is an ImageNet-trained EMCA-ECA ResNet-50: train one with
# configs/emca/emca_eca_resnet50_imagenet.py and pass
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/emca_eca_resnet50_imagenet/epoch_100.pth \
#       model.backbone.init_cfg.prefix=backbone.
