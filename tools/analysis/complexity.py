"""Parameter / MAC table in the papers' units, next to the published figures.

Examples:
    python tools/analysis/complexity.py                       # every preset of both papers
    python tools/analysis/complexity.py cifar_emanet50 emca_se_resnet50
    python tools/analysis/complexity.py configs/emanet/emanet50_cifar10.py --shape 1 3 32 32
    python tools/analysis/complexity.py configs/baselines/faster_rcnn_r50_voc.py configs/faster_rcnn_emanet50_voc.py

A detector config (or detector preset) is counted whole, as mmdet's tools/analysis_tools/get_flops.py counts
it: one image at the test pipeline's resize scale (VOC 600x1000, COCO 800x1333), padded by the detector's
data preprocessor, through ``mode='tensor'``. The published figures printed next to a preset or config are
those of its entry in configs/<folder>/metafile.yml (mmemanet.analysis.published), e.g. the EMANet paper's
VOC Faster R-CNN figures next to this package's two VOC configs that build those detectors.
"""
import argparse
import json
import os.path as osp

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.analysis import build_target, measure_complexity, measure_detector_complexity
from mmemanet.analysis.presets import DETECTOR_PRESETS, PRESETS
from mmemanet.analysis.published import published_for_config


def measure(target: str, shape):
    """(report, published params / 2^20 or None, published MACs / 2^30 or None) of a preset or config file: the
    figures of the preset's, or the config's, entry in its folder's metafile.yml."""
    try:
        built = build_target(target)
    except ValueError as e:
        raise SystemExit(f'error: {e}')
    if built.kind == 'detector':
        report = measure_detector_complexity(built.model, shape[1:] if shape else built.input_shape, name=target)
        figures = published_for_config(target) if target.endswith('.py') else None
    else:
        # a classifier config of a paper's table is measured at the table's input size, as its preset is
        preset = built.preset or next((p for p in PRESETS.values() if not p.backbone
                                       and osp.realpath(p.config_file()) == osp.realpath(target)), None)
        report = measure_complexity(built.model, shape or (preset.input_shape if preset else (1, *built.input_shape)),
                                    name=target)
        figures = preset and preset.published
    return report, figures and figures.params_m, figures and figures.macs_g


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('targets', nargs='*', help='preset names or config files (default: all classifier '
                        f'presets); detector presets: {", ".join(DETECTOR_PRESETS)}')
    parser.add_argument('--shape', type=int, nargs=4, help="input N C H W (default: the preset's; a detector's "
                        'test-pipeline resize scale, one image, padded by its data preprocessor; else 1 3 224 224)')
    parser.add_argument('--json', help='also write the rows to this JSON file')
    args = parser.parse_args()

    rows = []
    skipped = {}
    header = (f'{"model":32s} {"input":>14s} {"params":>12s} {"thop":>12s} {"thop/2^20":>10s} '
              f'{"published":>10s} {"MACs/2^30":>10s} {"published":>10s}')
    print(header)
    print('-' * len(header))
    for target in args.targets or list(PRESETS):
        report, pub_params, pub_macs = measure(target, args.shape)
        pub_p = f'{pub_params:.3f}' if pub_params else '-'
        pub_m = f'{pub_macs:.3f}' if pub_macs else '-'
        print(f'{target:32s} {"x".join(map(str, report.input_shape[1:])):>14s} {report.params_true:>12,d} '
              f'{report.params_thop:>12,d} {report.params_thop_m:>10.3f} {pub_p:>10s} '
              f'{report.macs_g:>10.3f} {pub_m:>10s}', flush=True)
        for op, n in report.skipped_ops.items():
            skipped[op] = skipped.get(op, 0) + n
        rows.append(dict(model=target, input_shape=list(report.input_shape), params=report.params_true,
                         params_thop=report.params_thop, params_thop_m=report.params_thop_m,
                         macs=report.macs, macs_g=report.macs_g,
                         published_params_m=pub_params, published_macs_g=pub_macs))
    print('\nparams: every parameter; thop: parameters of standard layers only, as the papers '
          "counted (SoftBAN's four tensors and SRM's CFC are invisible to thop).")
    print('MACs: mmengine FlopAnalyzer, one multiply-add = 1. Operators it skips (not counted): '
          + (', '.join(f'{op} x{n}' for op, n in sorted(skipped.items())) or 'none'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
