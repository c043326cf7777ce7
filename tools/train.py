# Modelled on tools/train.py of MMDetection 3.x and MMPretrain 1.x (Apache-2.0, OpenMMLab).
"""Train a model from an mmdet or an mmpretrain config.

The config's ``default_scope`` (``mmdet`` / ``mmpretrain``) decides which codebase builds what:
the mmengine Runner switches to it. ``mmemanet`` is imported first: it registers this package's
modules and makes mmengine's checkpoint loading (``--resume``, ``load_from``) work safely on
torch >= 2.6.

Single process::

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]] \\
        [--cfg-options key=value ...]

What a run needs (a NaN / inf loss stops it, its start checkpoints are checked, a test checkpoint must fit) is
in the config (``configs/_base_/mmemanet_runtime.py``), so mmdet's and mmpretrain's own tools do the same. This
tool adds what they lack: gloo CPU processes for a distributed run on a machine without a GPU
(``tools/dist_train.sh CONFIG N [args]``, torchrun, ``--launcher pytorch``; with GPUs everything is as in the
stock tools, nccl; see :func:`mmemanet.engine.launcher.setup_launcher`), and one line (per rank), not a traceback,
for a missing or broken dataset and for a start checkpoint (``init_cfg=dict(type='Pretrained', ...)``, e.g.
``torchvision://resnet50``) that is neither on disk nor downloadable, which it checks before building anything
(``--check-only``: check and exit; ``tools/dist_train.sh`` does that once before torchrun starts the processes).
"""
import warnings

# mmengine imports pkg_resources, whose deprecation warning a user of this tool can do nothing about
warnings.filterwarnings('ignore', 'pkg_resources is deprecated', UserWarning)

import argparse
import logging

from mmengine.logging import print_log

import mmemanet  # noqa: F401  (registers modules; safe checkpoint loading)
from mmemanet.engine.launcher import (add_common_args, build_runner, load_config, one_line_errors, parse_args,
                                      setup_launcher)
from mmemanet.engine.preflight import check_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Train a model (mmdet or mmpretrain config)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='enable automatically scaling LR (needs auto_scale_lr in the config)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a value, resume from the latest checkpoint '
        'in the work_dir automatically')
    add_common_args(parser)
    return parser


def enable_amp(cfg) -> None:
    """Switch the config's ``OptimWrapper`` to ``AmpOptimWrapper`` (dynamic loss scale)."""
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current',
                  level=logging.WARNING)
        return
    if optim_wrapper != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type="OptimWrapper" in the config, got '
                         f'{optim_wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main(argv=None):
    args = parse_args(build_parser(), argv)
    cfg = load_config(args)

    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    # --resume (no value): the latest checkpoint of work_dir; --resume CKPT: that checkpoint
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    check_run(cfg, 'train')  # a missing dataset or an unreachable start: one line each, before anything is built
    if args.check_only:
        return
    setup_launcher(cfg, args.launcher)
    build_runner(cfg).train()


if __name__ == '__main__':
    with one_line_errors():
        main()
