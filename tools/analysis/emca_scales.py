"""The learned EMCA fusion weights of a checkpoint, per stage and scale: a table and a bar chart.

    python tools/analysis/emca_scales.py CONFIG CHECKPOINT [--out emca_scales.png] [--cfg-options ...]

EMCA's "Scales Visualization": every EMCA gate fuses its own pooled descriptor (scale 0, ``own``)
with those of earlier block outputs (``layer1.2`` = stage 1, block 2, ...) by R learned scalars
``w_r`` (:attr:`mmemanet.models.layers.EMCA.fusion_weight`). Any EMCA host (SE, ECA, SRM) and any
config whose backbone has EMCA gates (classifier or detector). The backbone is built from the
config and loaded from the checkpoint's ``backbone.`` weights (strictly: a checkpoint of another
architecture stops with the mismatching keys); nothing else of the model is built.
"""
import argparse
from typing import List, NamedTuple, Tuple

import matplotlib

matplotlib.use('Agg')  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

import mmemanet  # noqa: E402,F401  (registers the backbones; safe checkpoint loading)
from mmemanet.checkpoints import load_model_state  # noqa: E402
from mmemanet.models.backbones import AttnResNet  # noqa: E402
from mmemanet.models.layers import EMCA  # noqa: E402


class Gate(NamedTuple):
    """One EMCA gate: its module name, the scale names (``own`` first) and the weights ``w_r``."""
    name: str
    scales: Tuple[str, ...]
    weights: Tuple[float, ...]


def load_backbone(config: str, checkpoint: str, cfg_options=None):
    """The config's backbone with the checkpoint's ``backbone.*`` tensors loaded (strict)."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('default_scope'):
        init_default_scope(cfg.default_scope)  # the codebase's registry (mmdet or mmpretrain)
    backbone = MODELS.build(dict(cfg.model.backbone, init_cfg=None))
    if not isinstance(backbone, AttnResNet):
        raise ValueError(f'{config!r} has the backbone {type(backbone).__name__}; EMCA gates live in this '
                         "package's backbones (EMCAResNet, or AttnResNet with attention=dict(type='EMCA', ...))")
    state = load_model_state(checkpoint)
    prefix = 'backbone.'
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not weights:
        raise ValueError(f'{checkpoint!r} has no {prefix}* tensors (first keys: {list(state)[:3]}): '
                         'give a checkpoint of a model with a backbone (tools/train.py writes one)')
    backbone.load_state_dict(weights, strict=True)
    return backbone


def emca_gates(backbone: AttnResNet) -> List[Gate]:
    """Every EMCA gate of the backbone, in forward order."""
    gates = []
    for stage, layer in enumerate(backbone.res_layers):
        for block_idx, block in enumerate(getattr(backbone, layer)):
            if isinstance(block.attn, EMCA):
                taps = backbone.stage_taps[stage] if block.attn.tap_channels else []  # R = 1: no earlier map
                scales = ('own', *(f'{backbone.res_layers[s]}.{b}' for s, b in taps))
                weights = tuple(block.attn.fusion_weight.tolist())
                gates.append(Gate(f'{layer}.{block_idx}.attn', scales, weights))
    if not gates:
        raise ValueError(f'the backbone {type(backbone).__name__} has no EMCA gate: give an EMCA config '
                         '(e.g. configs/emca/emca_eca_resnet18_cifar10.py)')
    return gates


def table(gates: List[Gate]) -> str:
    """One line per gate: name, R and ``scale=w`` for each scale."""
    lines = [f'{"gate":<16} {"R":>2}  weights (scale=w)']
    for gate in gates:
        cells = '  '.join(f'{s}={w:+.4f}' for s, w in zip(gate.scales, gate.weights))
        lines.append(f'{gate.name:<16} {len(gate.weights):>2}  {cells}')
    return '\n'.join(lines)


def plot_scales(gates: List[Gate], out_file: str, title: str):
    """One bar chart per gate (x: scale, y: w_r) in a row; saves ``out_file``, returns the figure."""
    widths = [len(g.weights) + 1 for g in gates]  # one bar width per scale, the same in every panel
    fig, axes = plt.subplots(1, len(gates), figsize=(1.5 + 0.8 * sum(widths), 3.4), squeeze=False, sharey=True,
                             gridspec_kw=dict(width_ratios=widths))
    for ax, gate in zip(axes[0], gates):
        colors = ['tab:orange'] + ['tab:blue'] * (len(gate.weights) - 1)
        ax.bar(range(len(gate.weights)), gate.weights, color=colors)
        ax.set_xticks(range(len(gate.weights)), gate.scales, rotation=45, ha='right', fontsize=8)
        ax.axhline(0, color='black', linewidth=0.6)
        ax.set_title(gate.name, fontsize=9)
    axes[0][0].set_ylabel('fusion weight $w_r$')
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    return fig


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Table and bar chart of the EMCA fusion weights')
    parser.add_argument('config', help='config file of an EMCA model (classifier or detector)')
    parser.add_argument('checkpoint', help='checkpoint file (tools/train.py output)')
    parser.add_argument('--out', default='emca_scales.png', help='the PNG to write (default: emca_scales.png)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value (as tools/train.py)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    gates = emca_gates(load_backbone(args.config, args.checkpoint, args.cfg_options))
    print(table(gates))
    plot_scales(gates, args.out, f'EMCA fusion weights: {args.checkpoint}')
    print(f'chart: {args.out}')
    return gates


if __name__ == '__main__':
    main()
