# The main job's classifier (tools/demo.py): a small EMANet on the synthetic CIFAR-10 set of
# tools/make_small_datasets.py, a few minutes on a CPU. Same recipe as ../emanet50_cifar10.py
# (SGD 0.1, momentum 0.9, wd 5e-4, cosine, crop + flip, the paper's mean / std), shortened.
# The network: EMANet blocks with MA modules (published kernels / groups) at depth 18 (MA in
# place of each BasicBlock's first 3x3 conv), three stages and the ImageNet stem (7x7/2 conv +
# max-pool: 32x32 images reach the blocks at 8x8), which makes it ~10x cheaper than EMANet-50.
_base_ = '../emanet/emanet50_cifar10.py'

model = dict(
    backbone=dict(depth=18, stem='imagenet', num_stages=3, strides=(1, 2, 2), out_indices=(2, )),
    head=dict(in_channels=256))

data_root = 'data/small/cifar10'  # tools/make_small_datasets.py data/small
max_epochs = 2
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(type='LocalCIFAR10', data_root=data_root))
val_dataloader = dict(
    batch_size=100, num_workers=0, persistent_workers=False,
    dataset=dict(type='LocalCIFAR10', data_root=data_root))
test_dataloader = val_dataloader

param_scheduler = dict(T_max=max_epochs, end=max_epochs)
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0)  # the same run every time
