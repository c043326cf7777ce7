"""Does a checkpoint fit a model? Key-and-shape comparison with listings a user can act on.

- :func:`state_dict_mismatches` compares a model's state dict with a checkpoint's;
- :func:`check_state_dict_fits` raises :class:`CheckpointMismatchError` listing the first
  mismatching keys with both shapes (used by :class:`~mmemanet.engine.hooks.CheckpointCompatibilityHook`
  for ``tools/test.py``, ``load_from`` and ``--resume``);
- :func:`report_pretrained_init` logs, after a backbone was initialised from
  ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``, how many tensors were
  loaded and which keys were missing / unexpected / of another shape, so a user can tell that the
  classification checkpoint really initialised the detector's backbone.
"""
import logging
import re
from typing import Dict, List, NamedTuple, Sequence

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix

MAX_LISTED = 10


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose tensors do not fit the model (keys and shapes listed)."""


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


def check_state_dict_fits(model_state: Dict, ckpt_state: Dict, source: str = 'the checkpoint',
                          ignore: Sequence[str] = (), max_listed: int = MAX_LISTED) -> Mismatches:
    """Raise :class:`CheckpointMismatchError` unless every tensor of ``model_state`` (keys matching
    ``ignore`` aside) is in ``ckpt_state`` with the same shape and nothing else is."""
    m = state_dict_mismatches(model_state, ckpt_state, ignore)
    if m.any:
        raise CheckpointMismatchError(
            f'{source} does not fit the model: {m.matched} of {m.matched + len(m.missing) + len(m.shapes)} '
            f'model tensors match; it was probably saved for a different architecture or config.\n'
            + describe(m, model_state, ckpt_state, max_listed))
    return m


def report_pretrained_init(module: torch.nn.Module, init_cfg: dict, logger='current') -> Mismatches:
    """Log one line saying what ``init_cfg=dict(type='Pretrained', checkpoint, prefix)`` loaded
    into ``module``: loaded / total tensors, missing, unexpected and shape-mismatched keys."""
    filename, prefix = init_cfg['checkpoint'], init_cfg.get('prefix')
    if prefix:
        state = _load_checkpoint_with_prefix(prefix, filename, map_location='cpu')
    else:
        state = model_state_of(_load_checkpoint(filename, map_location='cpu'))
    model_state = module.state_dict()
    m = state_dict_mismatches(model_state, state)
    names = lambda keys: ', '.join(keys[:MAX_LISTED]) + (' ...' if len(keys) > MAX_LISTED else '') \
        if keys else 'none'  # noqa: E731
    print_log(f'{type(module).__name__} initialised from {filename} (prefix {prefix!r}): '
              f'{m.matched}/{len(model_state)} tensors loaded; missing keys ({len(m.missing)}): '
              f'{names(m.missing)}; unexpected keys ({len(m.unexpected)}): {names(m.unexpected)}; '
              f'shape mismatches ({len(m.shapes)}): {names(m.shapes)}',
              logger=logger, level=logging.WARNING if m.any else logging.INFO)
    return m
