"""State dicts compared: which keys are missing, unexpected or of another shape, and the one way they are
listed (:func:`describe`, at most :data:`MAX_LISTED` keys of each kind).

:func:`check_state_dict_fits` raises :class:`CheckpointMismatchError` with that listing (used by
:class:`~mmemanet.engine.hooks.CheckpointCompatibilityHook` for ``tools/test.py``, ``load_from`` and
``--resume``, and by ``tools/analysis/vis_cam.py``).
"""
import re
from typing import Dict, List, NamedTuple, Sequence

import torch

#: how many keys of each kind a listing names
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


def shape_of(t) -> list:
    """``list(t.shape)`` of a tensor; the type name of anything else."""
    return list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


def state_dict_mismatches(model_state: Dict, ckpt_state: Dict, ignore: Sequence[str] = ()) -> Mismatches:
    """Compare keys and shapes; keys matching any regex in ``ignore`` are left out."""
    skip = [re.compile(p) for p in ignore]
    kept = [k for k in model_state if not any(p.search(k) for p in skip)]
    missing = [k for k in kept if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state and not any(p.search(k) for p in skip)]
    shapes = [k for k in kept if k in ckpt_state and shape_of(ckpt_state[k]) != shape_of(model_state[k])]
    return Mismatches(missing, unexpected, shapes, len(kept) - len(missing) - len(shapes))


def describe(m: Mismatches, model_state: Dict, ckpt_state: Dict, max_listed: int = MAX_LISTED) -> str:
    """The first ``max_listed`` mismatches of each kind, with shapes, one per line under a
    ``<kind> (<count>[, first <max_listed>]):`` heading."""
    lines = []
    for title, keys, fmt in (
            ('shape mismatches', m.shapes,
             lambda k: f'{k}: checkpoint {shape_of(ckpt_state[k])}, model {shape_of(model_state[k])}'),
            ('missing keys', m.missing, lambda k: f'{k} (model {shape_of(model_state[k])})'),
            ('unexpected keys', m.unexpected, lambda k: f'{k} (checkpoint {shape_of(ckpt_state[k])})')):
        if keys:
            more = f', first {max_listed}' if len(keys) > max_listed else ''
            lines.append(f'{title} ({len(keys)}{more}):')
            lines += [f'  {fmt(k)}' for k in keys[:max_listed]]
    return '\n'.join(lines)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose tensors do not fit the model (keys and shapes listed)."""


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
