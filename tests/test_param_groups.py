"""Configs that give the attention gates their own optimiser settings select exactly the gates' parameters.

The SRM configs set ``paramwise_cfg.custom_keys={'.attn.': dict(decay_mult=0.0)}`` (no weight decay on the
gates, as the SRM paper trains them): that string relies on the residual blocks naming their gate ``attn``.
Built through mmengine's own optimiser-wrapper constructor, the parameters without weight decay must be
exactly those of the modules in the ``attention`` slot (``slot = 'attention'``, see backbones/blocks.py).
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmemanet  # noqa: F401

from tool_modules import ROOT

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if 'custom_keys' in open(p).read())


def test_there_are_configs_with_custom_keys():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_custom_keys_select_exactly_the_gate_parameters(config):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    name_of = {id(p): n for n, p in model.named_parameters()}
    no_decay = {name_of[id(p)] for group in optim_wrapper.param_groups if group['weight_decay'] == 0
                for p in group['params']}
    gates = {f'{module_name}.{n}' for module_name, m in model.named_modules()
             if getattr(type(m), 'slot', None) == 'attention' for n, _ in m.named_parameters()}
    assert gates and no_decay == gates
