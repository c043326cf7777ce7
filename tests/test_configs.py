"""Every config under configs/ loads, inherits a stock OpenMMLab base and builds its model; its backbone is the
same module in and out of its codebase's scope.

The list of configs is collected from the folder when the tests are collected, so a new config is
tested without being named here. Building is cheap (no forward, no weight initialisation).
"""
import contextlib
import copy
import functools
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings

from mmemanet.registry import codebase_registry

from tool_modules import ROOT

CONFIG_DIR = osp.join(ROOT, 'configs')
CONFIGS = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(path, CONFIG_DIR).split(osp.sep))
BACKBONES = ('AttnResNet', 'EMANet', 'EMCAResNet')


@functools.lru_cache(maxsize=None)
def loaded(name):
    """The config ``configs/<name>``, loaded once per process (read only)."""
    return Config.fromfile(osp.join(CONFIG_DIR, name))


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
    cfg = loaded(name)
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
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):  # construction only: no weights
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == cfg.model.backbone.type


@contextlib.contextmanager
def no_default_scope():
    """No default scope inside (a notebook's state); the scopes as they were after."""
    before = dict(DefaultScope._instance_dict)
    DefaultScope._instance_dict.clear()
    try:
        yield
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(before)


def module_summary(model):
    """What makes two backbones the same module: class, structure, the settings that differ between the codebases,
    state-dict keys and shapes."""
    settings = ('out_indices', 'norm_eval', 'key_layout', 'frozen_stages', 'deep_stem', 'avg_down', 'stem_type')
    return (type(model), repr(model), {k: getattr(model, k) for k in settings},
            [(k, tuple(v.shape)) for k, v in model.state_dict().items()])


@pytest.mark.parametrize('name', CONFIGS)
def test_backbone_is_the_same_module_in_and_out_of_its_scope(name):
    """The config's backbone through its codebase's registry with no default scope (a notebook), in its scope
    (a test), and through the root registry in its scope (as the Runner builds it): one module."""
    cfg = loaded(name)
    import_modules_from_strings(**cfg.custom_imports)
    scope, backbone = cfg.default_scope, cfg.model.backbone
    registry = codebase_registry(scope)
    with torch.device('meta'):  # structure only: no memory, no initialisation
        with no_default_scope():
            notebook = registry.build(copy.deepcopy(backbone))
        with DefaultScope.overwrite_default_scope(scope):
            in_scope = registry.build(copy.deepcopy(backbone))
            runner = MODELS.build(copy.deepcopy(backbone))
    assert type(notebook) is registry.get(backbone.type)
    assert type(notebook).__name__ == backbone.type
    assert module_summary(notebook) == module_summary(in_scope) == module_summary(runner)
    assert notebook.key_layout == scope


GUARDS = ['NonFiniteLossHook', 'StartCheckpointHook', 'CheckpointCompatibilityHook']


@pytest.mark.parametrize('name', CONFIGS)
def test_config_carries_the_guards(name):
    """The guards are in the config (configs/_base_/mmemanet_runtime.py), so every tool that runs it runs them."""
    cfg = loaded(name)
    assert [hook['type'] for hook in cfg.custom_hooks] == GUARDS
    assert 'mmemanet' in cfg.custom_imports['imports']
