"""Images/s and peak memory of models side by side, with ratios to a baseline measured in the same run.

Every (mode, precision) pair gives one table; within a table the models take turns round robin.
See :mod:`mmemanet.analysis.benchmark` for exactly what is timed and what the memory column means.

Examples:
    # EMANet-50 (CIFAR stem, 32x32): fast MA vs the per-branch reference vs plain ResNet-50
    python tools/analysis/benchmark.py cifar_emanet50 cifar_emanet50_reference_impl cifar_resnet50 \\
        --baseline cifar_emanet50_reference_impl --modes train inference --batch-size 32
    # EMCA at 224x224 against plain ResNet-50, inference
    python tools/analysis/benchmark.py resnet50 emca_eca_resnet50 emca_se_resnet50 emca_srm_resnet50
    # whole Faster R-CNN FPN detectors (2 x 3 x 512 x 512 synthetic images and boxes on CPU; 800x1333 on CUDA),
    # a training iteration and inference, against mmdet's stock R-50 detector
    python tools/analysis/benchmark.py faster_rcnn_r50 faster_rcnn_emanet50 faster_rcnn_emca_eca50 \\
        faster_rcnn_emca_se50 --modes train inference --repeats 5
    # any detector config
    python tools/analysis/benchmark.py configs/baselines/faster_rcnn_r50_voc.py configs/faster_rcnn_emanet50_voc.py
    # the same classifiers exported to ONNX and run by onnxruntime, next to PyTorch eager
    python tools/analysis/benchmark.py cifar_resnet50 cifar_emanet50 --onnxruntime
    # on a GPU, fp32 and AMP, batch 128
    python tools/analysis/benchmark.py cifar_emanet50 cifar_resnet50 --device cuda --batch-size 128 \\
        --precisions fp32 amp --json work_dirs/bench.json
"""
import argparse
import json

import torch

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.analysis.benchmark import (DEVICES, MODES, PRECISIONS, BenchSettings, format_table, hardware_info,
                                         run_table, table_to_dict)
from mmemanet.analysis.presets import DETECTOR_PRESETS, PRESETS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('targets', nargs='+', help='preset names or config files (classifier, backbone or mmdet '
                        f'detector); presets: {", ".join(PRESETS)}; detector presets: {", ".join(DETECTOR_PRESETS)}')
    parser.add_argument('--baseline', help='the model the ratios refer to (default: the first target)')
    parser.add_argument('--modes', nargs='+', choices=MODES, default=['inference'])
    parser.add_argument('--precisions', nargs='+', choices=PRECISIONS, default=['fp32'],
                        help='amp = autocast float16 on CUDA (GradScaler in training), bfloat16 on CPU')
    parser.add_argument('--device', choices=DEVICES, default='cpu')
    parser.add_argument('--batch-size', type=int, help='default: 32 for classifiers, 2 for detectors')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="input height and width (default: each preset's, 32x32 CIFAR or 224x224 ImageNet; "
                        'detectors 512x512 on CPU, 800x1333 on CUDA)')
    parser.add_argument('--channels-last', action='store_true', help='model and input in channels_last')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model')
    parser.add_argument('--onnxruntime', action='store_true',
                        help='inference on CPU in fp32: also export each classifier / backbone to ONNX and time it '
                        'in onnxruntime (row <model>@onnxruntime, outputs checked against PyTorch first)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    parser.add_argument('--repeats', type=int, default=5, help='timed rounds (medians over these)')
    parser.add_argument('--iters', type=int, default=1, help='steps per model per round')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--no-memory', action='store_true', help='skip the peak-memory subprocesses')
    parser.add_argument('--json', help='also write hardware, settings and every table to this JSON file')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    hardware = hardware_info()
    print('hardware: ' + ', '.join(f'{k}={v}' for k, v in hardware.items()), flush=True)
    tables = []
    for mode in args.modes:
        for precision in args.precisions:
            try:
                settings = BenchSettings(
                    mode=mode, precision=precision, device=args.device, batch_size=args.batch_size,
                    input_size=tuple(args.input_size) if args.input_size else None,
                    channels_last=args.channels_last, compile=args.compile, onnxruntime=args.onnxruntime,
                    warmup=args.warmup,
                    repeats=args.repeats, iters=args.iters)
                table = run_table(args.targets, settings, args.baseline, memory=not args.no_memory,
                                  threads=args.threads, log=lambda msg: print(msg, flush=True))
            except ValueError as e:
                raise SystemExit(f'error: {e}')
            print('\n' + format_table(table) + '\n', flush=True)
            tables.append(table_to_dict(table))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(hardware=hardware, tables=tables), f, indent=2)
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
