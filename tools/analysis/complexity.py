"""Parameter / MAC table in the papers' units, next to the published figures.

Examples:
    python tools/analysis/complexity.py                       # every preset of both papers
    python tools/analysis/complexity.py cifar_emanet50 emca_se_resnet50
    python tools/analysis/complexity.py configs/emanet50_cifar10.py --shape 1 3 32 32
    python tools/analysis/complexity.py configs/faster_rcnn_emanet50_voc.py --shape 1 3 512 512
"""
import argparse
import json

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.analysis import measure_complexity
from mmemanet.analysis.presets import PRESETS


def build(target: str, shape):
    """(model, input shape, preset or None) for a preset name or a config file."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    if target in PRESETS:
        preset = PRESETS[target]
        init_default_scope('mmpretrain')
        return MODELS.build(preset.model_cfg()), shape or preset.input_shape, preset
    if not target.endswith('.py'):
        raise SystemExit(f'{target!r} is neither a config file nor a preset; presets: '
                         f'{", ".join(PRESETS)}')
    cfg = Config.fromfile(target)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    if cfg.get('default_scope') == 'mmdet':
        model = model.backbone  # detectors: the backbone (heads need data samples to trace)
    return model, shape or (1, 3, 224, 224), None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('targets', nargs='*', help='preset names or config files (default: all '
                        'presets)')
    parser.add_argument('--shape', type=int, nargs=4, help='input N C H W (default: the '
                        "preset's, else 1 3 224 224)")
    parser.add_argument('--json', help='also write the rows to this JSON file')
    args = parser.parse_args()

    rows = []
    skipped = {}
    header = (f'{"model":32s} {"input":>14s} {"params":>12s} {"thop":>12s} {"thop/2^20":>10s} '
              f'{"published":>10s} {"MACs/2^30":>10s} {"published":>10s}')
    print(header)
    print('-' * len(header))
    for target in args.targets or list(PRESETS):
        model, shape, preset = build(target, args.shape)
        report = measure_complexity(model, shape, name=target)
        pub_p = f'{preset.published_params_m:.3f}' if preset and preset.published_params_m else '-'
        pub_m = f'{preset.published_macs_g:.3f}' if preset and preset.published_macs_g else '-'
        print(f'{target:32s} {"x".join(map(str, shape[1:])):>14s} {report.params_true:>12,d} '
              f'{report.params_thop:>12,d} {report.params_thop_m:>10.3f} {pub_p:>10s} '
              f'{report.macs_g:>10.3f} {pub_m:>10s}', flush=True)
        for op, n in report.skipped_ops.items():
            skipped[op] = skipped.get(op, 0) + n
        rows.append(dict(model=target, input_shape=list(shape), params=report.params_true,
                         params_thop=report.params_thop, params_thop_m=report.params_thop_m,
                         macs=report.macs, macs_g=report.macs_g,
                         published_params_m=preset.published_params_m if preset else None,
                         published_macs_g=preset.published_macs_g if preset else None))
    print('\nparams: every parameter; thop: parameters of standard layers only, as the papers '
          "counted (SoftBAN's four tensors and SRM's CFC are invisible to thop).")
    print('MACs: mmengine FlopAnalyzer, one multiply-add = 1. Operators it skips (not counted): '
          + (', '.join(f'{op} x{n}' for op, n in sorted(skipped.items())) or 'none'))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
