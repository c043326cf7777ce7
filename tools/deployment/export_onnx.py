"""Export a classifier, or the backbone of a detector / a backbone config, with its checkpoint to ONNX, and check
the file with onnxruntime (CPU) against PyTorch on a random input (mmpretrain 0.x's pytorch2onnx.py arguments).

The check: every output value within ``--atol + --rtol x |PyTorch value|`` (defaults 1e-4 and 1e-3; float32
results of the same graph run by two libraries, which sum in different orders); the max abs difference is
printed. Exit status 1 if the check fails.

Examples:
    python tools/deployment/export_onnx.py configs/emanet/emanet50_cifar10.py \\
        work_dirs/emanet50_cifar10/epoch_200.pth \\
        --shape 32 32 --output-file emanet50_cifar10.onnx
    # a detector config: its backbone (the four FPN inputs as outputs feat0..feat3)
    python tools/deployment/export_onnx.py configs/faster_rcnn_emanet50_voc.py epoch_4.pth --shape 512 512
"""
import argparse
import sys

import torch
from mmengine.config import DictAction

import mmemanet  # noqa: F401  (registers the models; safe checkpoint loading)
from mmemanet.analysis import build_target
from mmemanet.analysis.onnx_export import (EXPORT_ATOL, EXPORT_RTOL, compare_outputs, export_onnx, exportable,
                                           onnxruntime_outputs, output_names, torch_outputs)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='classifier, backbone or mmdet detector config file')
    parser.add_argument('checkpoint', help='checkpoint file of that model (a Runner checkpoint or a state dict)')
    parser.add_argument('--output-file', default='tmp.onnx', help='where the ONNX file goes')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='input height and width (one number: square), batch 1')
    parser.add_argument('--opset-version', type=int, help="ONNX opset (default: the exporter's)")
    parser.add_argument('--rtol', type=float, default=EXPORT_RTOL, help='relative tolerance of the onnxruntime check')
    parser.add_argument('--atol', type=float, default=EXPORT_ATOL, help='absolute tolerance of the onnxruntime check')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random check input')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, xxx=yyy pairs')
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2) or min(args.shape) < 1:
        parser.error(f'--shape {" ".join(map(str, args.shape))}: give H W (or one size for a square), positive')
    return args


def main(argv=None):
    from mmengine.runner import load_checkpoint
    args = parse_args(argv)
    try:
        built = build_target(args.config, args.cfg_options)
    except ValueError as e:
        raise SystemExit(f'error: {e}')
    load_checkpoint(built.model, args.checkpoint, map_location='cpu', strict=True)
    module = exportable(built)
    h, w = args.shape * 2 if len(args.shape) == 1 else args.shape
    example = torch.randn(1, built.input_shape[0], h, w, generator=torch.Generator().manual_seed(args.seed))
    expected = torch_outputs(module, example)
    names = output_names(built, len(expected))
    export_onnx(module, example, args.output_file, names, args.opset_version)
    print(f'exported {built.kind} {args.config} ({"the backbone" if built.kind == "detector" else "the model"}) '
          f'to {args.output_file}: input {list(example.shape)}, outputs ' +
          ', '.join(f'{n} {list(e.shape)}' for n, e in zip(names, expected)))
    try:
        worst = compare_outputs(expected, onnxruntime_outputs(args.output_file, example), names, args.rtol,
                                args.atol)
    except ValueError as e:
        print(f'onnxruntime check FAILED: {e}')
        return 1
    print(f'onnxruntime check passed: max abs difference {worst:.3g} (tolerance atol={args.atol} + '
          f'rtol={args.rtol} x |value|)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
