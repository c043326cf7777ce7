# The guards every run of this package needs, whichever door starts it: tools/train.py and tools/test.py here,
# mmdet's and mmpretrain's own tools/train.py and tools/test.py, `mim train`, or a Runner built in a notebook.
# Every shipped config inherits this file next to its stock mmdet:: / mmpretrain:: bases; a config of your own
# gets the same guards by adding './_base_/mmemanet_runtime.py' (or these custom_hooks) to it.
custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)  # registers the hooks below
custom_hooks = [
    # a NaN / inf loss stops training, naming the iteration, before it can reach a checkpoint
    dict(type='NonFiniteLossHook'),
    # a training run's start checkpoints (init_cfg=dict(type='Pretrained', ...)) must be on disk, in the
    # download cache or downloadable, before the weights are initialised: else one line that says how to run
    # offline
    dict(type='StartCheckpointHook'),
    # a test checkpoint of another architecture is refused, its mismatching keys and shapes listed, before
    # anything is loaded from it
    dict(type='CheckpointCompatibilityHook'),
]
