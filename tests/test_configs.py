"""Every config under configs/ loads, inherits a stock OpenMMLab base and builds its model.

The list of configs is collected from the folder when the tests are collected, so a new config is
tested without being named here. Building is cheap (no forward, no weight initialisation).
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings

from tool_modules import ROOT

CONFIG_DIR = osp.join(ROOT, 'configs')
CONFIGS = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(path, CONFIG_DIR).split(osp.sep))
BACKBONES = ('AttnResNet', 'EMANet', 'EMCAResNet')


def stock_bases(path):
    """The ``mmdet::`` / ``mmpretrain::`` bases reached from ``path`` through local bases."""
    found = []
    for base in Config._get_base_files(path):
        if '::' in base:
            found.append(base)
        else:
            found += stock_bases(osp.join(osp.dirname(path), base))
    return found


def test_configs_are_found():
    assert 'faster_rcnn_emanet50_voc.py' in CONFIGS
    assert len(CONFIGS) >= 37, CONFIGS


@pytest.mark.parametrize('name', CONFIGS)
def test_config_loads_and_builds(name):
    path = osp.join(CONFIG_DIR, name)
    cfg = Config.fromfile(path)
    assert 'mmemanet' in cfg.custom_imports['imports']
    assert cfg.custom_imports['allow_failed_imports'] is False
    scope = cfg.default_scope
    assert scope in ('mmdet', 'mmpretrain'), scope
    assert stock_bases(path) and all(b.startswith(f'{scope}::') for b in stock_bases(path))
    assert cfg.model.backbone.type in BACKBONES
    if scope == 'mmdet' and not name.startswith('demo'):  # ImageNet starts, as the stock R-50 configs
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='torchvision://resnet50')
    if name.endswith('_cifar10.py') and not name.startswith('demo'):
        # configs for the real CIFAR-10 keep mmpretrain's md5-checked CIFAR10, with one-line errors
        assert cfg.train_dataloader.dataset.type == 'CheckedCIFAR10'
        assert cfg.test_dataloader.dataset.type == 'CheckedCIFAR10'

    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == cfg.model.backbone.type
