# Faster R-CNN + FPN with an EMANet-50 backbone on a dataset of your own in the COCO format (a recipe, no
# published figure). Copy this file next to itself (e.g. configs/custom/my_trees_coco.py), set the lines under
# "Your dataset" and nothing else, then
#   python tools/train.py configs/custom/my_trees_coco.py   # trains, evaluating on the val split each epoch
#   python tools/test.py configs/custom/my_trees_coco.py work_dirs/my_trees_coco/epoch_12.pth
# The folder:
#   <data_root>/annotations/{train,val}.json   COCO detection files: images, annotations (bbox [x, y, w, h],
#                                              area, iscrowd), categories (id, name)
#   <data_root>/{train,val}/<file_name>        the images the files name
# Loading says in one line per cause what it drops or ignores (boxes of a category not in `classes`, with their
# names and counts; boxes mmdet skips: under 1 px, no area, outside the image; crowd boxes; `classes` the file
# does not have or lists in another order; images without a box) and refuses a training set left without a box
# (mmemanet/datasets/checked.py). Data in the VOC format: faster_rcnn_emanet50_voc_format.py.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../_base_/det_backbone.py',  # stock backbone settings, torchvision's ImageNet ResNet-50 start
    '../_base_/mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

# ---------------------------------------------------------------- Your dataset: set these lines, and only these
data_root = 'data/my_dataset/'  # the folder holding annotations/ and the image folders
# The category names to train on, in the ORDER of the file's "categories" (the labels follow the file's order);
# annotations of other categories are dropped (and said).
classes = ('tree', )
image_size = (1333, 800)  # images are resized to fit in (long side, short side), aspect ratio kept
# Anchors: side = scale x FPN stride (strides 4, 8, 16, 32, 64 px), so [8] gives 32 px to 512 px anchors (mmdet's
# default). Objects much smaller than the smallest anchor after resizing are hard to match: for ~16 px objects
# use [4] (16 px to 256 px), for ~8 px ones [2].
anchor_scales = [8]
max_epochs = 12
train_ann, train_images = 'annotations/train.json', 'train/'
val_ann, val_images = 'annotations/val.json', 'val/'  # evaluated every epoch and by tools/test.py
# ---------------------------------------------------------------- the rest follows from the lines above

model = dict(
    backbone=dict(_base_.det_backbone, type='EMANet', depth=50),
    rpn_head=dict(anchor_generator=dict(scales=anchor_scales)),
    roi_head=dict(bbox_head=dict(num_classes=len(classes))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CheckedCocoDataset',
        data_root=data_root,
        ann_file=train_ann,
        data_prefix=dict(img=train_images),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CheckedCocoDataset',
        data_root=data_root,
        ann_file=val_ann,
        data_prefix=dict(img=val_images),
        metainfo=dict(classes=classes),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# COCO box AP (pycocotools) against the val file, with a per-class table named after `classes`
val_evaluator = dict(type='CocoMetric', ann_file=data_root + val_ann, metric='bbox', classwise=True)
test_evaluator = val_evaluator

# Schedule: mmdet's 1x (12 epochs, lr / 10 after epochs 8 and 11, linear warm-up over 500 iterations) for
# 2 images a step on one GPU; mmdet's 0.02 is for 16 images a step (8 GPUs x 2).
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[max_epochs * 2 // 3, max_epochs * 11 // 12], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.0025))
auto_scale_lr = dict(base_batch_size=2)  # --auto-scale-lr scales 0.0025 by (GPUs x batch_size) / 2
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='coco/bbox_mAP', rule='greater'))
