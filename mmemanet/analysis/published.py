"""The papers' published figures, read from the one place they are written: each config folder's
``metafile.yml`` (mim's model index, ``model-index.yml`` imports them all).

A model's entry names its config and holds, under ``Metadata``, the published parameter count
(``Parameters (published, M = 2^20)``: params / 2^20, as thop counts) and MACs (``FLOPs (published MACs,
G = 2^30)``), and under ``Results`` the published metrics. The analysis presets, tools/analysis/complexity.py,
the tests and the tables of ``configs/<folder>/README.md`` (:func:`readme_table`; ``python -m
mmemanet.analysis.published configs/emca`` prints one) all read them from here.
"""
import functools
import os.path as osp
import sys
from typing import Dict, List, NamedTuple, Optional

import yaml

from ..utils.config_scheme import package_path

PARAMS_KEY = 'Parameters (published, M = 2^20)'
MACS_KEY = 'FLOPs (published MACs, G = 2^30)'


class Published(NamedTuple):
    """One metafile entry's published figures (None where the paper gives none)."""
    name: str
    config: str
    params_m: Optional[float] = None
    macs_g: Optional[float] = None


def index_root() -> str:
    """The folder of ``model-index.yml`` and ``configs/``: ``mmemanet/.mim`` (a checkout's links to its own
    files, a wheel's copies), else the checkout the package is imported from (before setup.py has filled it)."""
    mim = osp.join(package_path(), '.mim')
    checkout = osp.dirname(package_path())
    if not osp.isfile(osp.join(mim, 'model-index.yml')) and osp.isfile(osp.join(checkout, 'model-index.yml')):
        return checkout
    return mim


@functools.lru_cache()
def metafiles(root: Optional[str] = None) -> Dict[str, dict]:
    """``{metafile path as model-index.yml imports it: its parsed content}``, in the index's order."""
    root = root or index_root()
    with open(osp.join(root, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    found = {}
    for path in imports:
        with open(osp.join(root, path)) as f:
            found[path] = yaml.safe_load(f)
    return found


def models(root: Optional[str] = None) -> List[dict]:
    """Every model entry of every metafile."""
    return [model for meta in metafiles(root).values() for model in meta['Models']]


def _figures(model: dict) -> Published:
    meta = model.get('Metadata', {})
    return Published(model['Name'], model['Config'], meta.get(PARAMS_KEY), meta.get(MACS_KEY))


def published(name: str, root: Optional[str] = None) -> Published:
    """The published figures of the metafile entry ``name`` (e.g. ``'emanet50_cifar10'``)."""
    for model in models(root):
        if model['Name'] == name:
            return _figures(model)
    raise KeyError(f'{name!r} is not a model of model-index.yml')


def published_for_config(config: str, root: Optional[str] = None) -> Optional[Published]:
    """The figures of the entry whose config file has the name of ``config`` (any path to it, or an alias at the
    top of configs/ with that file name), or None."""
    return next((_figures(model) for model in models(root)
                 if osp.basename(model['Config']) == osp.basename(config)), None)


def _figure(value) -> str:
    return '-' if value is None else str(value)


def readme_table(metafile: str, root: Optional[str] = None) -> str:
    """The table of configs and published figures of ``configs/<folder>/README.md``, written from its metafile
    (``metafile``: the path as model-index.yml imports it, e.g. ``'configs/emca/metafile.yml'``)."""
    lines = ['| config | task | dataset | published | params (M) | MACs (G) |', '| --- | --- | --- | --- | --- | --- |']
    for model in metafiles(root)[metafile]['Models']:
        results = model['Results']
        metrics = '; '.join(f'{r["Dataset"]} {metric} {value}' for r in results
                            for metric, value in r['Metrics'].items()) or '-'
        meta = model.get('Metadata', {})
        lines.append(f'| [{model["Name"]}]({osp.basename(model["Config"])}) | {results[0]["Task"]} | '
                     f'{results[0]["Dataset"]} | {metrics} | {_figure(meta.get(PARAMS_KEY))} | '
                     f'{_figure(meta.get(MACS_KEY))} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    for folder in sys.argv[1:] or ['configs/emanet', 'configs/emca', 'configs/baselines']:
        print(readme_table(f'{folder.rstrip("/")}/metafile.yml'))
