"""Exact resume: a run killed with SIGKILL between two checkpoints and restarted with ``--resume``
ends with the same weights, optimizer state and metrics as the uninterrupted run.

Real ``tools/train.py``, real datasets on disk (CIFAR python batches, VOC XML), seed +
``deterministic=True`` on CPU, ``ExactResumeHook`` in the configs. The killed and the resumed runs are
processes of their own; the uninterrupted run they are compared with runs in the pytest process (its
``main(argv)``, one CPU thread as the others), beside the killed one. The kill is a real ``SIGKILL``
sent by the training process to itself (:class:`SigkillHook`, imported by the configs from this file)
right after a given iteration, so it lands between two checkpoints every time.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS

from tool_modules import ROOT
from tool_runs import run_in_process

TRAIN = osp.join(ROOT, 'tools', 'train.py')


@HOOKS.register_module(force=True)
class SigkillHook(Hook):
    """Kill the training process with SIGKILL after iteration ``at_iter`` (1-based), no clean-up."""

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)


COMMON = '''
custom_imports = dict(imports=['mmemanet', 'test_resume'], allow_failed_imports=False)
randomness = dict(seed=0, deterministic=True)
custom_hooks = [dict(type='ExactResumeHook'), dict(type='NonFiniteLossHook')]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval={interval}, by_epoch={by_epoch}),
                     logger=dict(type='LoggerHook', interval=1))
val_cfg = dict()
'''

CLASSIFIER = '''
_base_ = ['mmpretrain::_base_/default_runtime.py']
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=10, mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255],
                           to_rgb=False),
    backbone=dict(type='EMANet', depth=18, stem='cifar', num_stages=1, strides=(1, ), out_indices=(0, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64, loss=dict(type='CrossEntropyLoss')))
# 16 x 16 inputs keep the (CPU-slow) 9 x 9 grouped convolutions of MA cheap
train_pipeline = [dict(type='Resize', scale=16), dict(type='RandomCrop', crop_size=16, padding=2),
                  dict(type='RandomFlip', prob=0.5, direction='horizontal'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='LocalCIFAR10', data_root='{data}', split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(type='LocalCIFAR10', data_root='{data}', split='test',
                                    pipeline=[dict(type='Resize', scale=16), dict(type='PackInputs')]))
val_evaluator = dict(type='Accuracy', topk=(1, 3))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', T_max={length}, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs={length}, val_interval=1)
'''

DETECTOR = '''
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/default_runtime.py']
default_scope = 'mmdet'
model = dict(
    backbone=dict(_delete_=True, type='EMANet', depth=18, stem='imagenet', out_indices=(0, 1, 2, 3),
                  frozen_stages=1, norm_eval=True),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=32),
                  bbox_head=dict(in_channels=32, fc_out_channels=64, num_classes=20)),
    train_cfg=dict(rpn=dict(sampler=dict(num=64)), rpn_proposal=dict(nms_pre=200, max_per_img=100),
                   rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50), rcnn=dict(max_per_img=20)))
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                  dict(type='Resize', scale=(96, 80), keep_ratio=True),
                  dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(96, 80), keep_ratio=True),
                 dict(type='LoadAnnotations', with_bbox=True),
                 dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                       'scale_factor'))]
voc = dict(type='CheckedVOCDataset', data_root='{data}/VOCdevkit/', data_prefix=dict(sub_data_root='VOC2007/'))
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                        batch_sampler=None,
                        dataset=dict(voc, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                                     filter_cfg=dict(filter_empty_gt=True, min_size=32),
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(voc, ann_file='VOC2007/ImageSets/Main/test.txt', test_mode=True,
                                   pipeline=test_pipeline))
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', milestones=[3], by_epoch=False, gamma=0.1)
train_cfg = dict(type='IterBasedTrainLoop', max_iters={length}, val_interval=3)
'''


def write_configs(folder, body: str, data: str, by_epoch: bool, length: int, interval: int, kill_at: int):
    """``run.py`` (the run: ``length`` epochs or iterations, a checkpoint every ``interval``) and
    ``killed.py`` (the same run, SIGKILLed after iteration ``kill_at``)."""
    run = osp.join(folder, 'run.py')
    with open(run, 'w') as f:
        f.write(body.format(data=data, length=length) + COMMON.format(interval=interval, by_epoch=by_epoch))
    killed = osp.join(folder, 'killed.py')
    with open(killed, 'w') as f:
        f.write("_base_ = ['./run.py']\ncustom_hooks = [dict(type='ExactResumeHook'), "
                f"dict(type='NonFiniteLossHook'), dict(type='SigkillHook', at_iter={kill_at})]\n")
    return run, killed


def train(config: str, work_dir: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([osp.dirname(__file__), ROOT]))
    return subprocess.Popen([sys.executable, TRAIN, config, '--work-dir', work_dir, *extra], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def train_here(config: str, work_dir: str):
    """The run of ``config`` in this process, on one CPU thread as the subprocesses (OMP_NUM_THREADS=1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_in_process('train', [config, '--work-dir', work_dir])
    finally:
        torch.set_num_threads(threads)


def finish(proc: subprocess.Popen):
    out, _ = proc.communicate(timeout=900)
    return proc.returncode, out


def final_metrics(work_dir: str) -> dict:
    """The last validation metrics the run logged (vis_data/scalars.json of its last log dir)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)) and d[:2] == '20')
    lines = [json.loads(line) for line in open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json'))]
    last = [line for line in lines if not any(k in line for k in ('loss', 'lr'))][-1]
    return {k: v for k, v in last.items() if not k.endswith('time')}


# Float tensors may differ in the last bits: CPU kernels are not bitwise reproducible across
# processes here (two uninterrupted runs started from different parent processes differ by ~1e-5
# after a few iterations). A resume that replays other data or randomness differs by orders of
# magnitude more (e.g. without ExactResumeHook), so this tolerance still tells exact from inexact.
RTOL, ATOL = 1e-5, 1e-7


def assert_same_state(a, b, path='checkpoint'):
    """Recursively equal: float tensors to float rounding (RTOL, ATOL), everything else exactly."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype, path
        if a.is_floating_point():
            torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m: f'{path}: {m}')
        else:
            assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            assert_same_state(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f'{path}[{i}]')
    elif isinstance(a, HistoryBuffer):
        for x, y in zip(a.data, b.data):
            assert np.array_equal(x, y), (path, x, y)
    else:
        assert a == b, (path, a, b)


def run_kill_resume(tmp_path, body, data, by_epoch, length, interval, kill_at):
    run, killed = write_configs(str(tmp_path), body, data, by_epoch, length, interval, kill_at)
    unit = 'epoch' if by_epoch else 'iter'
    first_ckpt, last = f'{unit}_{interval}.pth', f'{unit}_{length}.pth'
    full_dir, cut_dir = str(tmp_path / 'full'), str(tmp_path / 'cut')
    started = []
    try:
        cut = train(killed, cut_dir)
        started.append(cut)
        train_here(run, full_dir)  # the uninterrupted run, meanwhile
        rc_cut, out_cut = finish(cut)
        assert rc_cut == -signal.SIGKILL, out_cut[-3000:]
        ckpts = sorted(f for f in os.listdir(cut_dir) if f.endswith('.pth'))
        assert ckpts == [first_ckpt], ckpts  # killed between the first and the second checkpoint
        resumed = train(run, cut_dir, '--resume')
        started.append(resumed)
        rc, out = finish(resumed)
        assert rc == 0, out[-3000:]
    finally:
        for proc in started:  # none left running when an assertion failed
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert f'Auto resumed from the latest checkpoint {osp.join(cut_dir, first_ckpt)}' in out
    a = torch.load(osp.join(full_dir, last), map_location='cpu')  # weights_only default + allow-list
    b = torch.load(osp.join(cut_dir, last), map_location='cpu')
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same_state(a[key], b[key], key)
    # training scalars but wall-clock timings (a checkpoint predates its own validation)
    scalars = [{k: v for k, v in c['message_hub']['log_scalars'].items()
                if k.startswith('train/') and not k.endswith('time')} for c in (a, b)]
    assert_same_state(*scalars, 'log_scalars')
    assert (a['meta']['epoch'], a['meta']['iter']) == (b['meta']['epoch'], b['meta']['iter'])
    metrics_full, metrics_resumed = final_metrics(full_dir), final_metrics(cut_dir)
    assert metrics_full == metrics_resumed
    before = torch.load(osp.join(cut_dir, first_ckpt), map_location='cpu')
    changed = sum(not torch.equal(before['state_dict'][k], a['state_dict'][k]) for k in a['state_dict'])
    assert changed > 0
    weights = [sum(float(v.double().abs().sum()) for v in c['state_dict'].values() if v.is_floating_point())
               for c in (before, a, b)]
    losses = [c['message_hub']['log_scalars']['train/loss'].current() for c in (before, a, b)]
    bitwise = sum(torch.equal(a['state_dict'][k], b['state_dict'][k]) for k in a['state_dict'])
    worst = max(float((a['state_dict'][k].double() - b['state_dict'][k].double()).abs().max())
                for k in a['state_dict'])
    print(f'\n{body.split(chr(10))[1]}: SIGKILLed after iteration {kill_at}, resumed from {first_ckpt}: '
          f'{bitwise} of {len(a["state_dict"])} final tensors bitwise equal, largest difference {worst:.3g}; '
          f'sum|w| {weights[0]:.10g} at the checkpoint -> uninterrupted {weights[1]:.10g} / resumed '
          f'{weights[2]:.10g}; last train loss {losses[0]:.10g} -> {losses[1]:.10g} / {losses[2]:.10g}; '
          f'{changed} of {len(a["state_dict"])} tensors changed after the checkpoint; final metrics '
          f'{metrics_full} / {metrics_resumed}')
    return a, b


@pytest.mark.slow
@pytest.mark.xdist_group('multi_process')  # one such test at a time: each runs two processes
def test_resume_classifier_exact(tmp_path):
    from mmemanet.testing.synthetic_datasets import write_cifar10
    write_cifar10(str(tmp_path / 'cifar'), num_train=10, num_test=10)
    # epoch-based: 3 iterations per epoch (4 + 4 + 2 images), checkpoints after epochs 1, 2, 3;
    # killed after iteration 5 (in epoch 2), resumed from epoch_1.pth
    run_kill_resume(tmp_path, CLASSIFIER, str(tmp_path / 'cifar'), by_epoch=True, length=3, interval=1, kill_at=5)


@pytest.mark.slow
@pytest.mark.xdist_group('multi_process')  # one such test at a time: each runs two processes
def test_resume_detector_exact(tmp_path):
    from mmemanet.testing.synthetic_datasets import write_voc
    write_voc(str(tmp_path), num_trainval=6, num_test=2, num_trainval_2012=0, size_range=(96, 128))
    # iteration-based (3 iterations per pass over the data): checkpoints after iterations 2 and 4;
    # killed after iteration 3, resumed from iter_2.pth: mmengine replays the data loader to there, the
    # resumed run ends the first pass and starts the second; the learning rate drops after iteration 3,
    # validation after 3 and 4. (Each new pass costs mmengine's 2 s pause of the data loader: 4 short
    # iterations keep the runs short.)
    run_kill_resume(tmp_path, DETECTOR, str(tmp_path), by_epoch=False, length=4, interval=2, kill_at=3)
