# The ImageNet recipe of the EMCA paper: 100 epochs, SGD lr 0.1 (momentum 0.9), divided by 10
# every 30 epochs, weight decay 1e-4, batch 256 in total (8 GPUs x 32), standard crop + flip.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
    './mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(stem='imagenet', out_indices=(3, ),
                  zero_init_residual=False),  # the papers' initialisation (mmpretrain's default: True)
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
