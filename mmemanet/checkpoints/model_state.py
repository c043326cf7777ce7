"""The model weights inside a checkpoint, with the one ``module.`` prefix rule.

A Runner checkpoint keeps them under ``'state_dict'``; a bare ``torch.save(model.state_dict())`` file is the
state dict itself. ``nn.DataParallel`` / DDP models save every key with ``module.``, which is dropped key by key
(mmengine's own ``load_checkpoint`` rule, ``revise_keys=[(r'^module\\.', '')]``).
"""
import re
from typing import Dict

import torch
from mmengine.runner import CheckpointLoader

_MODULE_PREFIX = re.compile(r'^module\.')


def strip_module_prefix(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``state`` with a leading ``module.`` (DataParallel / DDP) dropped from every key that has one."""
    return {_MODULE_PREFIX.sub('', k): v for k, v in state.items()}


def model_state_of(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    """The model weights of a loaded checkpoint (its ``'state_dict'``, or the checkpoint itself), without
    ``module.``."""
    return strip_module_prefix(checkpoint.get('state_dict', checkpoint))


def load_model_state(filename: str) -> Dict[str, torch.Tensor]:
    """The model weights of the checkpoint ``filename`` (a path or any scheme mmengine loads), on the CPU."""
    return model_state_of(CheckpointLoader.load_checkpoint(filename, map_location='cpu'))
