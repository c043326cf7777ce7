# Faster R-CNN + FPN with a plain ResNet-50 (this package's implementation), VOC0712 baseline.
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
    './_base_/det_backbone.py',  # stock backbone settings, torchvision start (see there)
    './_base_/mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(backbone=dict(_base_.det_backbone, type='AttnResNet', depth=50))

# Start (see _base_/det_backbone.py): torchvision's ImageNet ResNet-50, the start of the stock mmdet
# configs and of the papers' ResNet-50 baselines.

# The stock VOC datasets, checked (mmemanet/datasets/checked.py): a missing or broken dataset ends the
# run with one line naming the file, the expected layout and where the official files come from.
train_dataloader = dict(dataset=dict(dataset=dict(datasets=[
    dict(voc, type='CheckedVOCDataset') for voc in _base_.train_dataloader.dataset.dataset.datasets])))
val_dataloader = dict(dataset=dict(type='CheckedVOCDataset'))
test_dataloader = dict(dataset=dict(type='CheckedVOCDataset'))
