# Modelled on tools/test.py of MMDetection 3.x and MMPretrain 1.x (Apache-2.0, OpenMMLab).
"""Evaluate a checkpoint with an mmdet or an mmpretrain config (its test_dataloader / evaluator).

The config's ``default_scope`` decides the codebase, as in tools/train.py. The metrics
(``Accuracy``, ``VOCMetric``, ``CocoMetric``, ...) are printed by the Runner's logger::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--show-dir DIR] \\
        [--show] [--interval N] [--amp] [--cfg-options key=value ...]

``--show-dir`` / ``--show`` draw the predictions with the codebase's own visualization hook, as
the stock tools do: mmdet's ``DetVisualizationHook`` (boxes, masks above its ``score_thr``; a
relative DIR lands under ``<work_dir>/<timestamp>/``, as with mmdet's tool; ground truth left,
predictions right) and mmpretrain's ``VisualizationHook`` (class and score of every
``--interval``-th sample). ``--out`` dumps the raw predictions: mmdet's
``DumpDetResults`` (masks RLE-encoded, ready for offline evaluation) or mmengine's ``DumpResults``.

A checkpoint of another architecture stops the run with its mismatching keys and shapes listed: the config's
``CheckpointCompatibilityHook`` (``configs/_base_/mmemanet_runtime.py``; mmdet's and mmpretrain's own test tools
run it too).

Distributed: ``tools/dist_test.sh CONFIG CHECKPOINT N [args]`` (gloo CPU processes without a GPU).
"""
import warnings

# mmengine imports pkg_resources, whose deprecation warning a user of this tool can do nothing about
warnings.filterwarnings('ignore', 'pkg_resources is deprecated', UserWarning)

import argparse

from mmengine.config import ConfigDict

import mmemanet  # noqa: F401  (registers modules; safe checkpoint loading)
from mmemanet.engine.launcher import (add_common_args, build_runner, load_config, one_line_errors, parse_args,
                                      setup_launcher)
from mmemanet.engine.preflight import check_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Test a checkpoint (mmdet or mmpretrain config)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also dump the raw predictions to this pickle file')
    parser.add_argument('--show-dir', help='directory where the drawn predictions are saved (mmdet '
                        'configs: relative to <work_dir>/<timestamp>/, as its tools/test.py)')
    parser.add_argument('--show', action='store_true', help='show the drawn predictions in a window')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each window is shown')
    parser.add_argument('--interval', type=int, default=1,
                        help='mmpretrain configs: draw every INTERVAL-th sample (mmdet draws all)')
    parser.add_argument('--amp', action='store_true',
                        help='run the test loop under automatic mixed precision')
    add_common_args(parser)
    return parser


def add_dump_metric(cfg, out_file: str) -> None:
    """Append a dump "metric" to the test evaluator(s): mmdet's ``DumpDetResults`` for mmdet
    configs (what mmdet's tools/test.py adds), mmengine's ``DumpResults`` otherwise (mmpretrain's)."""
    if not out_file.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {out_file!r}: the output file must be a .pkl or .pickle file')
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    dump = 'DumpDetResults' if cfg.get('default_scope') == 'mmdet' else 'DumpResults'
    cfg.test_evaluator = [*evaluators, ConfigDict(type=dump, out_file_path=out_file)]


def enable_visualization(cfg, args: argparse.Namespace) -> None:
    """Switch on the config's visualization hook for ``--show`` / ``--show-dir``, as the stock tools do."""
    if cfg.get('default_scope') == 'mmdet':
        from mmdet.engine.hooks.utils import trigger_visualization_hook
        trigger_visualization_hook(cfg, args)  # what mmdet's tools/test.py calls
        return
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ValueError("--show-dir / --show need default_hooks.visualization in the config, e.g. "
                         "dict(type='VisualizationHook')")
    # mmpretrain's tools/test.py (merge_args)
    hook.update(enable=True, show=args.show, wait_time=args.wait_time, out_dir=args.show_dir,
                interval=args.interval)


def main(argv=None):
    args = parse_args(build_parser(), argv)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.out is not None:
        add_dump_metric(cfg, args.out)
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)

    check_run(cfg, 'test')  # a missing dataset: one line, before anything is built
    if args.check_only:
        return
    setup_launcher(cfg, args.launcher)
    build_runner(cfg).test()


if __name__ == '__main__':
    with one_line_errors():  # a missing or broken dataset: one line, not a traceback
        main()
