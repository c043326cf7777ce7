"""Loss / learning-rate / metric curves of one or more runs in one PNG (mmengine's ``scalars.json``).

    python tools/analysis/plot_curves.py WORK_DIR [WORK_DIR ...] [--keys loss lr accuracy/top1]
        [--legend NAME ...] [--out curves.png]

Each work dir is read the way mmengine's ``LocalVisBackend`` wrote it: every
``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON record per line; a resumed run adds a
timestamp), in timestamp order. Records with an ``iter`` field are training iterations (x: the
iteration); the others are validation results (x: their ``step``, the epoch for epoch-based
loops). One panel per key, one line per run, with a legend: e.g. EMANet vs ResNet on one recipe.
Default keys: ``loss``, ``lr`` and every validation metric found. The tool also prints, per run
and key, the number of points and the first, last, lowest and highest values.
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use('Agg')  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

TRAIN_KEYS = ('loss', 'lr')


class Run:
    """The scalars of one work dir: ``train[key]`` and ``val[key]``, each a list of (x, value)."""

    def __init__(self, work_dir: str, label: str):
        files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
        if not files:
            raise FileNotFoundError(f'{work_dir!r} holds no <timestamp>/vis_data/scalars.json: give the '
                                    'work dir of an mmengine run (LocalVisBackend, the default)')
        self.label = label
        self.train: Dict[str, list] = {}
        self.val: Dict[str, list] = {}
        self.val_x_is_epoch = True
        for path in files:
            with open(path) as f:
                for line in f:
                    if line.strip():
                        self._add(json.loads(line))

    def _add(self, record: dict) -> None:
        training = 'iter' in record
        if training and 'epoch' not in record:
            self.val_x_is_epoch = False  # iteration-based loop: validation steps are iterations
        series, x = (self.train, record['iter']) if training else (self.val, record['step'])
        for key, value in record.items():
            if key in ('step', 'iter', 'epoch') or not isinstance(value, (int, float)):
                continue
            series.setdefault(key, []).append((x, value))

    def series(self, key: str) -> list:
        """(x, value) pairs of ``key`` (training first, else validation); [] if never logged."""
        return self.train.get(key) or self.val.get(key, [])

    def metric_keys(self) -> List[str]:
        """Validation metrics (``accuracy/top1``, ``pascal_voc/mAP``, ...)."""
        return [key for key in self.val if '/' in key]


def default_keys(runs: Sequence[Run]) -> List[str]:
    """``loss``, ``lr`` and every validation metric of any run, in first-seen order."""
    keys = list(TRAIN_KEYS)
    for run in runs:
        keys += [key for key in run.metric_keys() if key not in keys]
    return keys


def plot_curves(runs: Sequence[Run], keys: Sequence[str], out_file: str):
    """One panel per key with one line per run; saves ``out_file`` and returns the figure."""
    for key in keys:
        if not any(run.series(key) for run in runs):
            logged = sorted({k for run in runs for k in (*run.train, *run.val)})
            raise KeyError(f'no run logged {key!r}; logged keys: {logged}')
    cols = min(len(keys), 3)
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for run in runs:
            points = run.series(key)
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, markersize=3, label=run.label)
        training = any(key in run.train for run in runs)
        ax.set_xlabel('iteration' if training or not all(r.val_x_is_epoch for r in runs) else 'epoch')
        # iterations and epochs are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    return fig


def summary(runs: Sequence[Run], keys: Sequence[str]) -> str:
    """A table: run, key, points, first, last, min and max value."""
    lines = [f'{"run":<24} {"key":<22} {"points":>6} {"first":>10} {"last":>10} {"min":>10} {"max":>10}']
    for run in runs:
        for key in keys:
            values = [v for _, v in run.series(key)]
            if values:
                lines.append(f'{run.label:<24} {key:<22} {len(values):>6} {values[0]:>10.4g} '
                             f'{values[-1]:>10.4g} {min(values):>10.4g} {max(values):>10.4g}')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot loss / lr / metric curves of mmengine work dirs')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of mmengine runs (tools/train.py --work-dir)')
    parser.add_argument('--keys', nargs='+', help='scalars to plot (default: loss, lr and every '
                        'validation metric found)')
    parser.add_argument('--legend', nargs='+', help='one name per work dir (default: the folder names)')
    parser.add_argument('--out', default='curves.png', help='the PNG to write (default: curves.png)')
    args = parser.parse_args(argv)
    if args.legend is not None and len(args.legend) != len(args.work_dirs):
        parser.error(f'--legend has {len(args.legend)} names for {len(args.work_dirs)} work dirs')
    return args


def main(argv=None):
    args = parse_args(argv)
    labels = args.legend or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    runs = [Run(work_dir, label) for work_dir, label in zip(args.work_dirs, labels)]
    keys = args.keys or [key for key in default_keys(runs) if any(run.series(key) for run in runs)]
    plot_curves(runs, keys, args.out)
    print(summary(runs, keys))
    print(f'curves: {args.out}')
    return args.out


if __name__ == '__main__':
    main()
