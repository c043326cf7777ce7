"""The OpenMMLab tools end to end on tiny generated datasets in the real formats.

tools/train.py trains a shipped config a few iterations (dataset paths, image scale and epochs
overridden with --cfg-options) and saves a checkpoint; tools/test.py evaluates it with the
config's real metric (VOCMetric, CocoMetric, Accuracy). Both run in this process (their
``main(argv)``, ``tool_runs.run_in_process``): the same code as the scripts, without a new
interpreter's imports. (dist_train.sh / dist_test.sh, two gloo CPU processes each, run the README's
headline command and test its checkpoint: test_newcomer_path.py.) Plus the tools' option handling, in
process.
"""
import os
import re
import socket

import pytest
import torch.distributed as torch_dist
from mmengine.config import Config

from mmemanet.engine import launcher

from tool_modules import ROOT, load_tool
from tool_runs import run_in_process

train_tool = load_tool('train')
test_tool = load_tool('test')

SCALE = '(64,64)'  # the metrics are computed whatever the size; small images keep the runs short


def metric(output, key):
    """The value of ``key`` on the last ``Epoch(test)`` line of a tool's output."""
    lines = [line for line in output.splitlines() if 'Epoch(test)' in line]
    assert lines, output[-3000:]
    found = re.search(re.escape(key) + r': (-?\d+\.\d+)', lines[-1])
    assert found, f'{key} not in {lines[-1]}'
    return float(found.group(1))


# the shipped detector configs start from torchvision://resnet50; these runs start from scratch, offline
OFFLINE_START = 'model.backbone.init_cfg=None'


def loader_options(split, data_root, resize_index):
    return [f'{split}_dataloader.dataset.data_root={data_root}',
            f'{split}_dataloader.dataset.pipeline.{resize_index}.scale={SCALE}',
            f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False']


def voc_options(data):
    """Train on VOC2007 + VOC2012 trainval, test on VOC2007 test, 64 px, one short epoch."""
    voc = f'{data}/VOCdevkit/'
    sets = 'train_dataloader.dataset.dataset.datasets'
    return [*(f'{sets}.{i}.data_root={voc}' for i in (0, 1)),
            *(f'{sets}.{i}.pipeline.2.scale={SCALE}' for i in (0, 1)),
            'train_dataloader.dataset.times=1', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            *loader_options('test', voc, 1), 'train_cfg.max_epochs=1',
            'model.train_cfg.rcnn.sampler.num=64', 'model.test_cfg.rpn.max_per_img=100', OFFLINE_START]


def coco_options(data, two_stage=True):
    """Train on train2017, test on val2017, 64 px, one short epoch.

    A detector trained for two iterations scores every box below the stock ``score_thr=0.05``
    (80 classes); without any box CocoMetric prints no AP, so the threshold is set to 0.
    """
    coco = f'{data}/coco/'
    options = [*loader_options('train', coco, 2), *loader_options('test', coco, 1),
               f'test_evaluator.ann_file={coco}annotations/instances_val2017.json',
               'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1', OFFLINE_START]
    if two_stage:
        options += ['model.train_cfg.rcnn.sampler.num=64', 'model.test_cfg.rpn.max_per_img=100',
                    'model.test_cfg.rcnn.score_thr=0.0']
    else:
        options += ['model.test_cfg.score_thr=0.0']
    return options


def train_then_test(config, work_dir, options, test_args=()):
    """tools/train.py (no validation) then tools/test.py on epoch_1.pth, in this process; return
    test's output."""
    config = os.path.join(ROOT, config)
    run_in_process('train', [config, '--work-dir', work_dir, '--no-validate', '--cfg-options', *options])
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    return run_in_process('test', [config, checkpoint, '--work-dir', work_dir, *test_args,
                                   '--cfg-options', *options])


@pytest.mark.slow
def test_faster_rcnn_emanet50_voc(small_datasets, tmp_path):
    output = train_then_test('configs/faster_rcnn_emanet50_voc.py', tmp_path,
                             voc_options(small_datasets))
    assert 0.0 <= metric(output, 'pascal_voc/mAP') <= 1.0


@pytest.mark.slow
def test_mask_rcnn_emanet50_coco(small_datasets, tmp_path):
    output = train_then_test('configs/emanet/mask_rcnn_emanet50_fpn_1x_coco.py', tmp_path,
                             coco_options(small_datasets))
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0.0 <= metric(output, key) <= 1.0


@pytest.mark.slow
def test_retinanet_emca_coco(small_datasets, tmp_path):
    output = train_then_test('configs/emca/retinanet_emca_eca_r50_fpn_1x_coco.py', tmp_path,
                             coco_options(small_datasets, two_stage=False))
    assert 0.0 <= metric(output, 'coco/bbox_mAP') <= 1.0


@pytest.mark.slow
def test_emanet50_cifar10_train_test_resume(small_datasets, tmp_path):
    cifar = f'{small_datasets}/cifar10'
    options = [f'{split}_dataloader.dataset.{key}'
               for split in ('train', 'test')
               for key in ('type=LocalCIFAR10', f'data_root={cifar}')]
    options += ['train_dataloader.batch_size=8', 'test_dataloader.batch_size=10',
                'train_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
                'train_cfg.max_epochs=1']
    results = tmp_path / 'predictions.pkl'
    output = train_then_test('configs/emanet/emanet50_cifar10.py', tmp_path, options,
                             test_args=('--out', str(results)))
    assert 0.0 <= metric(output, 'accuracy/top1') <= 100.0
    assert results.is_file()

    # --resume (no value) continues from the work dir's latest checkpoint: epoch 2 only
    output = run_in_process('train', [os.path.join(ROOT, 'configs/emanet/emanet50_cifar10.py'), '--work-dir', tmp_path,
                                      '--no-validate', '--resume', '--cfg-options', *options[:-1],
                                      'train_cfg.max_epochs=2'])
    assert 'resumed epoch: 1' in output
    assert 'Epoch(train) [1]' not in output and 'Epoch(train) [2]' in output
    assert (tmp_path / 'epoch_2.pth').is_file()


# ------------------------------------------------------------------------------------------------
# The tools' option handling, in process
# ------------------------------------------------------------------------------------------------
def test_train_options_reach_the_config(tmp_path):
    args = launcher.parse_args(train_tool.build_parser(), [
        'configs/faster_rcnn_emanet50_voc.py', '--work-dir', str(tmp_path), '--amp',
        '--resume', 'some.pth', '--cfg-options', 'train_cfg.max_epochs=7',
        'model.backbone.depth=101'])
    cfg = launcher.load_config(args)
    assert cfg.work_dir == str(tmp_path)
    assert cfg.train_cfg.max_epochs == 7 and cfg.model.backbone.depth == 101
    train_tool.enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert args.resume == 'some.pth'


def test_work_dir_defaults_to_work_dirs_config_name():
    args = launcher.parse_args(train_tool.build_parser(), ['configs/emanet/emanet50_cifar10.py'])
    assert launcher.load_config(args).work_dir == './work_dirs/emanet50_cifar10'


def test_training_always_stops_at_a_non_finite_loss():
    """The guard is the config's (configs/_base_/mmemanet_runtime.py), kept by the tool's config loading."""
    args = launcher.parse_args(train_tool.build_parser(), ['configs/emanet/emanet50_cifar10.py'])
    assert 'NonFiniteLossHook' in [h['type'] for h in launcher.load_config(args).custom_hooks]


def test_amp_refuses_an_unknown_optim_wrapper():
    cfg = Config(dict(optim_wrapper=dict(type='ApexOptimWrapper')))
    with pytest.raises(ValueError, match='ApexOptimWrapper'):
        train_tool.enable_amp(cfg)


def test_test_tool_dumps_results_and_checks_the_suffix():
    cfg = Config(dict(test_evaluator=dict(type='VOCMetric')))
    test_tool.add_dump_metric(cfg, 'out.pkl')
    assert [e['type'] for e in cfg.test_evaluator] == ['VOCMetric', 'DumpResults']
    with pytest.raises(ValueError, match='out.json'):
        test_tool.add_dump_metric(cfg, 'out.json')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_cpu_launcher_uses_gloo_and_no_device_ids(monkeypatch):
    """One-process 'pytorch' launch on a CPU: gloo group, DDP wrapper without device ids."""
    monkeypatch.setattr(launcher, 'get_device', lambda: 'cpu')
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    launcher.setup_launcher(cfg, 'pytorch')
    try:
        assert torch_dist.get_backend() == 'gloo'
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
        assert cfg.model_wrapper_cfg.device_ids is None
        assert cfg.launcher == 'pytorch'
    finally:
        torch_dist.destroy_process_group()


def test_launcher_none_changes_nothing():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    launcher.setup_launcher(cfg, 'none')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
