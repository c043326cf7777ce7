"""State dicts compared: key-and-shape mismatches, and the one log line of a pretrained start.

Low level (torch and mmengine only), so that models (a backbone reporting its ``Pretrained`` start)
and the engine (checkpoint checks of the tools and hooks) share it.

- :func:`state_dict_mismatches` compares a model's state dict with a checkpoint's;
- :func:`describe` lists the first mismatches of each kind with both shapes;
- :func:`report_pretrained_init` logs, after a module was initialised from
  ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``, how many tensors were loaded and
  which keys were missing / unexpected / of another shape, so a user can tell what the checkpoint filled.
"""
import logging
import re
from collections import Counter
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix

MAX_LISTED = 10


class Mismatches(NamedTuple):
    """Keys of a model state dict vs a checkpoint state dict, each list in model / file order."""
    missing: List[str]     # in the model, not in the checkpoint
    unexpected: List[str]  # in the checkpoint, not in the model
    shapes: List[str]      # in both, with different shapes
    matched: int           # in both with the same shape

    @property
    def any(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)


def _shape(t) -> list:
    return list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


def state_dict_mismatches(model_state: Dict, ckpt_state: Dict, ignore: Sequence[str] = ()) -> Mismatches:
    """Compare keys and shapes; keys matching any regex in ``ignore`` are left out."""
    skip = [re.compile(p) for p in ignore]
    kept = [k for k in model_state if not any(p.search(k) for p in skip)]
    missing = [k for k in kept if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state and not any(p.search(k) for p in skip)]
    shapes = [k for k in kept if k in ckpt_state and _shape(ckpt_state[k]) != _shape(model_state[k])]
    return Mismatches(missing, unexpected, shapes, len(kept) - len(missing) - len(shapes))


def describe(m: Mismatches, model_state: Dict, ckpt_state: Dict, max_listed: int = MAX_LISTED) -> str:
    """The first ``max_listed`` mismatches of each kind, with shapes, one per line."""
    lines = []
    for title, keys, fmt in (
            ('shape mismatches', m.shapes,
             lambda k: f'{k}: checkpoint {_shape(ckpt_state[k])}, model {_shape(model_state[k])}'),
            ('missing in the checkpoint', m.missing, lambda k: f'{k} (model {_shape(model_state[k])})'),
            ('unexpected in the checkpoint', m.unexpected, lambda k: f'{k} (checkpoint {_shape(ckpt_state[k])})')):
        if keys:
            more = f', first {max_listed}' if len(keys) > max_listed else ''
            lines.append(f'{title} ({len(keys)}{more}):')
            lines += [f'  {fmt(k)}' for k in keys[:max_listed]]
    return '\n'.join(lines)


def model_state_of(checkpoint: Dict) -> Dict:
    """The model weights of a checkpoint dict, without a DataParallel ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


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


def report_pretrained_init(module: torch.nn.Module, init_cfg: dict, logger='current',
                           adapt: Optional[Callable[[Dict], Dict]] = None) -> Mismatches:
    """Log one line saying what ``init_cfg=dict(type='Pretrained', checkpoint, prefix)`` loaded
    into ``module``: loaded / total tensors, and every missing, unexpected and shape-mismatched key
    (grouped by block pattern). ``adapt`` renames the checkpoint's keys as ``module`` does on load."""
    filename, prefix = init_cfg['checkpoint'], init_cfg.get('prefix')
    if prefix:
        state = _load_checkpoint_with_prefix(prefix, filename, map_location='cpu')
    else:
        state = model_state_of(_load_checkpoint(filename, map_location='cpu'))
    if adapt is not None:
        state = adapt(state)
    model_state = module.state_dict()
    m = state_dict_mismatches(model_state, state)
    print_log(f'{type(module).__name__} initialised from {filename} (prefix {prefix!r}): '
              f'{m.matched}/{len(model_state)} tensors loaded; missing keys ({len(m.missing)}): '
              f'{grouped_key_names(m.missing)}; unexpected keys ({len(m.unexpected)}): '
              f'{grouped_key_names(m.unexpected)}; shape mismatches ({len(m.shapes)}): '
              f'{grouped_key_names(m.shapes)}',
              logger=logger, level=logging.WARNING if m.any else logging.INFO)
    return m
