"""Does a checkpoint fit a model? :func:`check_state_dict_fits` raises :class:`CheckpointMismatchError`
listing the first mismatching keys with both shapes (used by
:class:`~mmemanet.engine.hooks.CheckpointCompatibilityHook` for ``tools/test.py``, ``load_from`` and
``--resume``). The comparison itself lives in :mod:`mmemanet.state_dicts`.
"""
from typing import Dict, Sequence

from ..state_dicts import MAX_LISTED, Mismatches, describe, state_dict_mismatches


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
