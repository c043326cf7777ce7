"""The one log line of a pretrained start: what ``init_cfg=dict(type='Pretrained', checkpoint, prefix)`` filled.

mmengine's ``Pretrained`` initialiser loads the checkpoint with ``strict=False`` and keeps nothing of what it
loaded. :func:`recorded_loads` records, while a module initialises its weights, the state dicts loaded into it
(as the module reads them); :func:`report_pretrained_init` compares the one a pretrained start loaded with the
module and logs how many tensors were loaded and which keys were missing / unexpected / of another shape, so a
user can tell what the checkpoint filled. The checkpoint is read once, by mmengine.
"""
import contextlib
import logging
import re
from collections import Counter
from typing import Dict, Iterator, List, Sequence

import torch
from mmengine.logging import print_log

from .compare import Mismatches, state_dict_mismatches


@contextlib.contextmanager
def recorded_loads(module: torch.nn.Module) -> Iterator[List[Dict[str, torch.Tensor]]]:
    """The state dicts loaded into ``module`` while the context is open, in load order, keys relative to
    ``module``: each as ``module`` reads it, after the load-time pre-hooks it registered before (e.g. a
    translation of another codebase's key layout)."""
    loads = []

    def record(state_dict, prefix, *args):
        loads.append({k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)})

    handle = module._register_load_state_dict_pre_hook(record)
    try:
        yield loads
    finally:
        handle.remove()


def grouped_key_names(keys: Sequence[str]) -> str:
    """Every key, named once per block pattern where several blocks share it
    (``layer*.*.attn.fc.weight (x16)``), in first-seen order; 'none' for no key."""
    pattern = {k: re.sub(r'^layer\d+\.\d+\.', 'layer*.*.', k) for k in keys}
    counts = Counter(pattern.values())
    names = {}
    for k in keys:
        p = pattern[k]
        names.setdefault(p, f'{p} (x{counts[p]})' if counts[p] > 1 else k)
    return ', '.join(names.values()) or 'none'


def report_pretrained_init(module: torch.nn.Module, init_cfg: dict, loaded: Dict[str, torch.Tensor],
                           logger='current') -> Mismatches:
    """Log one line saying what the start ``init_cfg=dict(type='Pretrained', checkpoint, prefix)`` loaded into
    ``module``: loaded / total tensors, and every missing, unexpected and shape-mismatched key (grouped by block
    pattern). ``loaded``: the state dict it loaded, as :func:`recorded_loads` recorded it."""
    model_state = module.state_dict()
    m = state_dict_mismatches(model_state, loaded)
    print_log(f'{type(module).__name__} initialised from {init_cfg["checkpoint"]} '
              f'(prefix {init_cfg.get("prefix")!r}): {m.matched}/{len(model_state)} tensors loaded; '
              f'missing keys ({len(m.missing)}): {grouped_key_names(m.missing)}; unexpected keys '
              f'({len(m.unexpected)}): {grouped_key_names(m.unexpected)}; shape mismatches ({len(m.shapes)}): '
              f'{grouped_key_names(m.shapes)}',
              logger=logger, level=logging.WARNING if m.any else logging.INFO)
    return m
