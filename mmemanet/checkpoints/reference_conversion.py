"""Conversion of checkpoints of the reference EMANet implementation to this package's layout.

The reference training script (``pytorch-emanet``, ``main.py -a emanet50``) saves
``{'net': state_dict, 'acc': float, 'epoch': int}`` from an ``nn.DataParallel`` model, so its keys
usually carry a ``module.`` prefix. Its layout (``reference-emanet50-keys.txt`` in the spec) differs
from an mmpretrain ``ImageClassifier(EMANet + GlobalAveragePooling + LinearClsHead)`` in three ways:

- backbone keys gain ``backbone.``, the classifier ``fc.*`` becomes ``head.fc.*``;
- every MA module (``layerA.B.conv2``) keeps one ``nn.Sequential`` per branch (``conv_1`` ... ``conv_n``),
  which :class:`~mmemanet.models.layers.MixtureAttention` stores fused (its table
  :data:`~mmemanet.models.layers.mixture_attention.REFERENCE_BRANCH_PATHS`, used here);
- the n ``num_batches_tracked`` counters of one fused norm become one (their maximum; all n are
  equal in a checkpoint of the reference training, and the counter only matters for
  ``momentum=None``).

:func:`reference_layout` derives, from the TARGET model's state dict, which reference tensor fills
which part of which target tensor; :func:`convert_reference_emanet` checks a reference state dict
against it (every expected key present, no extra key, every shape equal) and fills every target
tensor. Nothing is guessed from the checkpoint, so a checkpoint of another depth, width or class
count is refused with the offending keys listed (:func:`~.compare.describe`).
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional

import torch

from ..models.layers.mixture_attention import ReferencePiece, reference_pieces
from .compare import describe, state_dict_mismatches
from .model_state import strip_module_prefix

#: a classifier key of an MA module: ``backbone.<layerA.B.conv2>.<key inside the MA>``
_MA_KEY = re.compile(r'^backbone\.(?P<ma>layer\d+\.\d+\.conv2)\.(?P<key>(?P<part>[a-z_0-9]+)\..+)$')


class ReferenceCheckpointError(ValueError):
    """A reference checkpoint that does not fit the target model (keys and shapes listed)."""


def _ma_modules(target_state: Dict[str, torch.Tensor]) -> Dict[str, Dict[str, torch.Tensor]]:
    """MA module path (``layerA.B.conv2``) -> its state dict (keys inside the MA), for the MA modules
    of ``target_state`` (those with ``branch_convs``)."""
    modules: Dict[str, Dict[str, torch.Tensor]] = {}
    for key, tensor in target_state.items():
        m = _MA_KEY.match(key)
        if m:
            modules.setdefault(m['ma'], {})[m['key']] = tensor
    return {ma: state for ma, state in modules.items() if any(k.startswith('branch_convs.') for k in state)}


def reference_layout(target_state: Dict[str, torch.Tensor]) -> List[ReferencePiece]:
    """Every (reference key -> part of a target key) assignment for an ``ImageClassifier`` with an
    EMANet backbone and a ``LinearClsHead``; each target key is covered exactly once."""
    mas = _ma_modules(target_state)
    ma_pieces = {}
    for ma, state in mas.items():
        num_branches = sum(1 for k in state if k.startswith('branch_convs.') and k.endswith('.weight'))
        for p in reference_pieces(state, num_branches):
            ma_pieces.setdefault(f'backbone.{ma}.{p.key}', []).append(
                p._replace(reference_key=f'{ma}.{p.reference_key}', key=f'backbone.{ma}.{p.key}'))
    pieces = []
    for key in target_state:
        if key in ma_pieces:
            pieces += ma_pieces[key]
        elif key.startswith('backbone.'):
            pieces.append(ReferencePiece(key[len('backbone.'):], key))
        elif key.startswith('head.fc.'):
            pieces.append(ReferencePiece(key[len('head.'):], key))
        else:
            raise ReferenceCheckpointError(
                f'target model tensor {key} has no counterpart in the reference EMANet layout; '
                'the target must be ImageClassifier(EMANet, GlobalAveragePooling, LinearClsHead)')
    return pieces


def check_reference_state(reference: Dict[str, torch.Tensor], target_state: Dict[str, torch.Tensor],
                          pieces: Optional[List[ReferencePiece]] = None) -> None:
    """Raise :class:`ReferenceCheckpointError` listing missing keys, extra keys and shape
    mismatches of ``reference`` (without ``module.``) against the layout of ``target_state``."""
    pieces = reference_layout(target_state) if pieces is None else pieces
    expected = {p.reference_key: p.view(target_state[p.key]) for p in pieces}
    m = state_dict_mismatches(expected, reference)
    if m.any:
        raise ReferenceCheckpointError(
            f'the reference checkpoint does not fit the target model ({len(reference)} tensors given, '
            f'{len(expected)} expected)\n' + describe(m, expected, reference))


def convert_reference_emanet(reference: Dict[str, torch.Tensor],
                             target_state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Reference EMANet state dict (``module.`` prefix optional) -> ``ImageClassifier`` state dict.

    ``target_state`` is the state dict of the target model (only its keys and shapes are used).
    Every reference key is consumed and every target tensor is filled, else
    :class:`ReferenceCheckpointError`.
    """
    reference = strip_module_prefix(reference)
    pieces = reference_layout(target_state)
    check_reference_state(reference, target_state, pieces)
    out = OrderedDict((k, torch.empty_like(v)) for k, v in target_state.items())
    counters: Dict[str, List[torch.Tensor]] = {}
    for piece in pieces:
        value = reference[piece.reference_key]
        if value.dim() == 0 and piece.num_blocks > 1:  # one fused num_batches_tracked
            counters.setdefault(piece.key, []).append(value)
        else:
            piece.view(out[piece.key]).copy_(value)
    for key, values in counters.items():
        out[key].copy_(torch.stack(values).max())
    return out
