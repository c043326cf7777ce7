# The CIFAR-10 recipe of the EMANet paper (reference implementation `main.py`):
# 200 epochs, SGD lr 0.1, momentum 0.9, weight decay 5e-4 on all parameters, cosine annealing over
# 200 epochs stepped per epoch, no warm-up, batch 120 in total, RandomCrop(32, pad 4) + flip,
# mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010), plain cross-entropy.
# mmpretrain's CIFAR-10 base already normalises with exactly these mean/std (x 255).
# Top-1 in the paper is the best test accuracy over the 200 epochs (save_best below).
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
    './mmemanet_runtime.py',  # the guards every run needs, whichever tool runs it
]
# importing mmemanet also registers CheckedCIFAR10 and LocalCIFAR10 (below)
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)

# Data: CheckedCIFAR10 is the stock type='CIFAR10' of the base (reads data/cifar10/cifar-10-batches-py,
# checks the md5 sums of the official files, downloads them when missing) whose failures (offline
# machine, files of another CIFAR-10 copy) are one line naming the folder, the layout and the official
# archive. Any other data in the same format (a subset, the synthetic set of
# tools/make_small_datasets.py) fails the md5 check: use
#   --cfg-options train_dataloader.dataset.type=LocalCIFAR10
#       val_dataloader.dataset.type=LocalCIFAR10 test_dataloader.dataset.type=LocalCIFAR10
#       (+ <split>_dataloader.dataset.data_root=<folder holding cifar-10-batches-py>)
# LocalCIFAR10 reads the same files the same way, without md5 check or download.

model = dict(
    type='ImageClassifier',
    backbone=dict(stem='cifar', out_indices=(3, ),
                  zero_init_residual=False),  # the papers' initialisation (mmpretrain's default: True)
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# batch 120 in total: 120 on one GPU; with N GPUs pass
# --cfg-options train_dataloader.batch_size=$((120 / N))
train_dataloader = dict(batch_size=120, num_workers=4, dataset=dict(type='CheckedCIFAR10'))
val_dataloader = dict(batch_size=100, num_workers=4, dataset=dict(type='CheckedCIFAR10'))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False))
param_scheduler = dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=120)

default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2,
                                     save_best='accuracy/top1', rule='greater'))
