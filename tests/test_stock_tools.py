"""mmdet's and mmpretrain's OWN tools/train.py and tools/test.py (what ``mim train`` / ``mim test`` run) on the
shipped demo configs, overridden to the small synthetic sets: they train, test and carry the guards of
configs/_base_/mmemanet_runtime.py, as tools/train.py and tools/test.py here do (a NaN loss stops them, a
start checkpoint that cannot be had and a test checkpoint of another architecture are refused).

Each tool runs in this process as its script (``runpy`` with ``sys.argv``), single process, 64-px images and one
or two iterations.
"""
import os.path as osp
import runpy

import mmdet
import mmpretrain
import pytest

from mmemanet.checkpoints import CheckpointMismatchError, StartCheckpointError
from mmemanet.engine import NonFiniteLossError

from tool_runs import run_captured

STOCK_TOOLS = {'mmdet': osp.join(mmdet.__path__[0], '.mim', 'tools'),
               'mmpretrain': osp.join(mmpretrain.__path__[0], '.mim', 'tools')}
DETECTOR = 'configs/demo/faster_rcnn_emanet18_synthetic_voc.py'
CLASSIFIER = 'configs/demo/emanet18_synthetic_cifar10.py'
GUARDS = ('NonFiniteLossHook', 'StartCheckpointHook', 'CheckpointCompatibilityHook')
NO_VALIDATION = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']  # as --no-validate does


def run_stock(codebase, tool, argv):
    """``python <codebase>/.mim/tools/<tool>.py argv`` in this process (:func:`tool_runs.run_captured`)."""
    path = osp.join(STOCK_TOOLS[codebase], f'{tool}.py')
    return run_captured(lambda: runpy.run_path(path, run_name='__main__'), [path, *argv])


def detector_options(data, start='model.backbone.init_cfg=None'):
    """The demo detector on the small VOC set: 8 training images, batch 4 (2 iterations), 64 px, no validation;
    from scratch unless ``start`` says otherwise."""
    voc, sets = f'{data}/VOCdevkit/', 'train_dataloader.dataset.dataset.datasets'
    return [*(f'{sets}.{i}.data_root={voc}' for i in (0, 1)), *(f'{sets}.{i}.pipeline.2.scale=(64,64)' for i in (0, 1)),
            f'test_dataloader.dataset.data_root={voc}', 'test_dataloader.dataset.pipeline.1.scale=(64,64)',
            *NO_VALIDATION, 'train_cfg.max_epochs=1', start]


def classifier_options(data):
    """The demo classifier on the small CIFAR-10 set: 8 training images, one iteration, no validation."""
    cifar = f'{data}/cifar10'
    return [*(f'{split}_dataloader.dataset.data_root={cifar}' for split in ('train', 'test')), *NO_VALIDATION,
            'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1']


def hooks_of(output):
    """The hook names of the Runner's 'Hooks will be executed in the following order' listing."""
    listing = output.split('Hooks will be executed in the following order:')[1].split('\n---')[0]
    return {word for line in listing.splitlines() for word in line.split() if word.endswith('Hook')}


@pytest.mark.slow
def test_mmdet_tools_train_and_test_the_shipped_detector_with_the_guards(small_datasets, tmp_path):
    options = detector_options(small_datasets)
    output = run_stock('mmdet', 'train', [DETECTOR, '--work-dir', tmp_path, '--cfg-options', *options])
    assert set(GUARDS) <= hooks_of(output)
    assert (tmp_path / 'epoch_1.pth').is_file()
    output = run_stock('mmdet', 'test', [DETECTOR, tmp_path / 'epoch_1.pth', '--work-dir', tmp_path,
                                         '--cfg-options', *options])
    assert set(GUARDS) <= hooks_of(output)
    assert 'pascal_voc/mAP' in output


@pytest.mark.slow
def test_mmdet_train_tool_stops_at_a_nan_loss(small_datasets, tmp_path):
    options = [*detector_options(small_datasets), 'model.rpn_head.loss_cls.loss_weight=nan']
    with pytest.raises(NonFiniteLossError, match='non-finite loss at iteration 1 '):
        run_stock('mmdet', 'train', [DETECTOR, '--work-dir', tmp_path, '--cfg-options', *options])
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.slow
def test_mmdet_train_tool_refuses_a_missing_start_checkpoint(small_datasets, tmp_path):
    missing = tmp_path / 'missing.pth'
    options = detector_options(small_datasets, start=f'model.backbone.init_cfg.checkpoint={missing}')
    with pytest.raises(StartCheckpointError, match=f'start checkpoint {missing} not found'):
        run_stock('mmdet', 'train', [DETECTOR, '--work-dir', tmp_path, '--cfg-options', *options])


@pytest.mark.slow
def test_mmpretrain_tools_train_and_test_the_shipped_classifier_with_the_guards(small_datasets, tmp_path):
    options = classifier_options(small_datasets)
    output = run_stock('mmpretrain', 'train', [CLASSIFIER, '--work-dir', tmp_path, '--cfg-options', *options])
    assert set(GUARDS) <= hooks_of(output)
    checkpoint = tmp_path / 'epoch_1.pth'
    output = run_stock('mmpretrain', 'test', [CLASSIFIER, checkpoint, '--work-dir', tmp_path, '--cfg-options',
                                              *options])
    assert 'accuracy/top1' in output
    # a checkpoint of another architecture (a 10-class head tested as a 5-class one) is refused
    with pytest.raises(CheckpointMismatchError, match=r'head\.fc\.weight: checkpoint \[10, 256\], model \[5, 256\]'):
        run_stock('mmpretrain', 'test', [CLASSIFIER, checkpoint, '--work-dir', tmp_path, '--cfg-options', *options,
                                         'model.head.num_classes=5'])


@pytest.mark.slow
def test_mmpretrain_train_tool_stops_at_a_nan_loss(small_datasets, tmp_path):
    options = [*classifier_options(small_datasets), 'model.head.loss.loss_weight=nan']
    with pytest.raises(NonFiniteLossError, match='non-finite loss at iteration 1 '):
        run_stock('mmpretrain', 'train', [CLASSIFIER, '--work-dir', tmp_path, '--cfg-options', *options])
