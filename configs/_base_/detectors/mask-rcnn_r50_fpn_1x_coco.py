# mmdet's mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py as every detector config here uses it: the stock config, the
# stock ResNet-50 backbone settings (../det_backbone.py; a detector config then writes
#   model = dict(backbone=dict(_base_.det_backbone, type='EMANet', depth=50))
# ), the guards every run needs (../mmemanet_runtime.py) and the stock COCO datasets, checked
# (mmemanet/datasets/checked.py): a missing or broken dataset ends the run with one line naming the
# file, the expected layout and where the official files come from.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../det_backbone.py',  # stock backbone settings, torchvision start (see there)
    '../mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

train_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
