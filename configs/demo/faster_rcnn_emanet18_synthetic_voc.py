# The main job's detector (tools/demo.py): Faster R-CNN + FPN with a small EMANet backbone on the
# synthetic VOC0712 set of tools/make_small_datasets.py, trained for a few minutes on a CPU.
# Same detector as ../faster_rcnn_emanet50_voc.py, made small: EMANet-18 (MA in place of each
# BasicBlock's first 3x3 conv, published MA kernels / groups), 64-channel FPN and heads, 96-px
# images. The backbone starts from the demo classifier (emanet18_synthetic_cifar10.py, whose three
# stages match the first three here; the fourth starts from scratch): the documented
# Pretrained + prefix='backbone.' path. Nothing is frozen and BatchNorm trains.
_base_ = '../emanet/faster_rcnn_emanet50_voc.py'

channels = 64
model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False,
        # where tools/train.py puts the classifier config's last checkpoint by default; tools/demo.py passes
        # the one its own classifier step wrote
        init_cfg=dict(_delete_=True, type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/emanet18_synthetic_cifar10/epoch_2.pth')),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, fc_out_channels=256)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100)))

data_root = 'data/small/VOCdevkit/'  # tools/make_small_datasets.py data/small
scale = (96, 96)
max_epochs = 2
train_pipeline = [dict(t, scale=scale) if t.type == 'Resize' else t for t in _base_.train_pipeline]
# 'instances' (the ground truth) is what CocoMetric reads when it has no ann_file
test_pipeline = [
    dict(t, scale=scale) if t.type == 'Resize' else
    dict(t, meta_keys=t.meta_keys + ('instances', )) if t.type == 'PackDetInputs' else t
    for t in _base_.test_pipeline]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(times=1, dataset=dict(datasets=[
        dict(voc, data_root=data_root, pipeline=train_pipeline)
        for voc in _base_.train_dataloader.dataset.dataset.datasets])))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# VOC mAP@0.5 (the base's VOCMetric) and COCO AP (pycocotools) from the same predictions
test_evaluator = [_base_.test_evaluator, dict(type='CocoMetric', ann_file=None, metric='bbox')]

# mmdet's 0.02 is for 16 images a step; at 4, 0.02 diverged late in epoch 2 from some classifier starts
# (loss 5e24 at iteration 60), 0.01 trains steadily (measured: VOC mAP 0.615 from the same start)
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)  # the same run every time
