# Faster R-CNN + FPN with an EMANet-50 backbone on a dataset of your own in the VOC format (a recipe, no
# published figure). Copy this file next to itself (e.g. configs/custom/my_trees.py), set the lines under
# "Your dataset" and nothing else, then
#   python tools/train.py configs/custom/my_trees.py        # trains, evaluating on the val split each epoch
#   python tools/test.py configs/custom/my_trees.py work_dirs/my_trees/epoch_12.pth
# The folder is one VOC year's layout (a VOC2007/ folder of your own):
#   <data_root>/JPEGImages/<id>.jpg              the images (.jpg: mmdet's VOC loading appends it to the id)
#   <data_root>/Annotations/<id>.xml             one VOC XML per image: <size>, <object><name>, <bndbox>, ...
#   <data_root>/ImageSets/Main/{train,val}.txt   the image ids of each split, one a line
# Loading says in one line per cause what it drops or ignores (boxes of a class not in `classes`, with their
# names and counts; boxes under bbox_min_size; difficult ones; images without a box) and refuses a training
# set left without a box (mmemanet/datasets/checked.py). Data in the COCO format: faster_rcnn_emanet50_coco_format.py.
_base_ = [
    'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
    '../_base_/det_backbone.py',  # stock backbone settings, torchvision's ImageNet ResNet-50 start
    '../_base_/mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

# ---------------------------------------------------------------- Your dataset: set these lines, and only these
data_root = 'data/my_dataset/'  # the folder holding JPEGImages/, Annotations/, ImageSets/
classes = ('tree', )  # the object <name>s to train on, spelled as in the XML files; others are dropped (and said)
image_size = (1000, 600)  # images are resized to fit in (long side, short side), aspect ratio kept
# Anchors: side = scale x FPN stride (strides 4, 8, 16, 32, 64 px), so [8] gives 32 px to 512 px anchors (mmdet's
# default). Objects much smaller than the smallest anchor after resizing are hard to match: for ~16 px objects
# use [4] (16 px to 256 px), for ~8 px ones [2].
anchor_scales = [8]
# Training ignores boxes narrower or lower than this many pixels (mmdet's VOC configs: 32); None trains on all.
bbox_min_size = None
max_epochs = 12
train_split = 'ImageSets/Main/train.txt'
val_split = 'ImageSets/Main/val.txt'  # evaluated every epoch and by tools/test.py
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
    dict(type='LoadAnnotations', with_bbox=True),  # after Resize: the metric compares with the original boxes
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# One folder, no VOC2007 / VOC2012 halves: sub_data_root '' reads <data_root>/Annotations and JPEGImages.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,  # the stock config repeats and concatenates VOC2007 and VOC2012: not here
        type='CheckedVOCDataset',
        data_root=data_root,
        ann_file=train_split,
        data_prefix=dict(sub_data_root=''),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, bbox_min_size=bbox_min_size),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CheckedVOCDataset',
        data_root=data_root,
        ann_file=val_split,
        data_prefix=dict(sub_data_root=''),
        metainfo=dict(classes=classes),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# VOC mAP at IoU 0.5, area under the whole precision-recall curve (VOC2012 and later; VOC2007 used 11 points);
# the table names each class after `classes`
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='area')
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
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='pascal_voc/mAP', rule='greater'))
