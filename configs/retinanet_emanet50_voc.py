# RetinaNet + FPN with an EMANet-50 backbone on VOC0712 (stock mmdet VOC schedule).
_base_ = [
    'mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py',
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

# The stock VOC datasets, checked (mmemanet/datasets/checked.py): a missing or broken dataset ends the
# run with one line naming the file, the expected layout and where the official files come from.
train_dataloader = dict(dataset=dict(dataset=dict(datasets=[
    dict(voc, type='CheckedVOCDataset') for voc in _base_.train_dataloader.dataset.dataset.datasets])))
val_dataloader = dict(dataset=dict(type='CheckedVOCDataset'))
test_dataloader = dict(dataset=dict(type='CheckedVOCDataset'))
