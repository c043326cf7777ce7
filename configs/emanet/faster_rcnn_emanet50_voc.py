# Faster R-CNN + FPN with an EMANet-50 backbone on VOC0712 (stock mmdet VOC schedule; the figures the EMANet
# paper publishes for its VOC detector: metafile.yml).
_base_ = '../_base_/detectors/faster-rcnn_r50_fpn_1x_voc0712.py'  # mmdet's config + checked data, guards

model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))

# Start (see configs/_base_/det_backbone.py): torchvision's ImageNet ResNet-50 fills the stem, the 1x1
# convolutions, the shortcuts and the norms; the MA modules start from scratch. NOT the paper's start,
# which is an ImageNet-trained EMANet: train one with configs/emanet/emanet50_imagenet.py and pass
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/emanet50_imagenet/epoch_100.pth \
#       model.backbone.init_cfg.prefix=backbone.
