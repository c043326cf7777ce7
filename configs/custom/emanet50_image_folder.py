# An EMANet-50 image classifier on a folder of your own images, one subfolder per class (a recipe, no published
# figure): mmpretrain's CustomDataset. Copy this file next to itself (e.g. configs/custom/my_leaves.py), set
# the lines under "Your dataset" and nothing else, then
#   python tools/train.py configs/custom/my_leaves.py        # trains, evaluating on the val folder each epoch
#   python tools/test.py configs/custom/my_leaves.py work_dirs/my_leaves/epoch_100.pth
# The folder (the class names are the subfolder names, labels in their sorted order):
#   <data_root>/train/<class>/*.jpg   (also .jpeg .png .bmp .ppm .pgm .tif)
#   <data_root>/val/<class>/*.jpg     the same subfolders
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

# ---------------------------------------------------------------- Your dataset: set these lines, and only these
data_root = 'data/my_images/'  # the folder holding train/ and val/
# The class subfolder names, in sorted order: the labels follow the sorted folder names whatever the order here
# (these name them); a folder count other than len(classes) stops the run with mmpretrain's message.
classes = ('cat', 'dog')
image_size = 224  # training crops and evaluation centre crops are image_size x image_size
batch_size = 32  # images a step on each GPU
max_epochs = 100
# ---------------------------------------------------------------- the rest follows from the lines above
num_classes = len(classes)

# EMANet-50, ImageNet stem, from scratch. To start from a classifier trained with this package (e.g.
# configs/emanet50_imagenet.py), pass
#   --cfg-options model.backbone.init_cfg.type=Pretrained model.backbone.init_cfg.checkpoint=<file>.pth \
#       model.backbone.init_cfg.prefix=backbone.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='EMANet', depth=50, stem='imagenet', out_indices=(3, ), zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
data_preprocessor = dict(num_classes=num_classes)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=image_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=image_size * 256 // 224, edge='short'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
# top-5 accuracy only where there are more than 5 classes (mmpretrain refuses top-k above the class count)
val_evaluator = dict(type='Accuracy', topk=(1, 5) if num_classes > 5 else (1, ))
test_evaluator = val_evaluator

# Schedule: the EMCA ImageNet recipe (SGD, momentum 0.9, weight decay 1e-4, lr / 10 at 30 %, 60 % and 90 % of
# the epochs), its lr 0.1 for 256 images a step scaled to batch_size
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1 * batch_size / 256, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, gamma=0.1,
                       milestones=[max_epochs * 3 // 10, max_epochs * 6 // 10, max_epochs * 9 // 10])
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
auto_scale_lr = dict(base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'))
