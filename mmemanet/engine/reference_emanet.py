"""Conversion of checkpoints of the reference EMANet implementation to this package's layout.

The reference training script (``pytorch-emanet``, ``main.py -a emanet50``) saves
``{'net': state_dict, 'acc': float, 'epoch': int}`` from an ``nn.DataParallel`` model, so its keys
usually carry a ``module.`` prefix. Its layout (``reference-emanet50-keys.txt`` in the spec) differs
from an mmpretrain ``ImageClassifier(EMANet + GlobalAveragePooling + LinearClsHead)`` in three ways:

- backbone keys gain ``backbone.``, the classifier ``fc.*`` becomes ``head.fc.*``;
- every MA module (``layerA.B.conv2``) keeps one ``nn.Sequential`` per branch (``conv_1`` ... ``conv_n``)
  where :class:`~mmemanet.models.layers.MixtureAttention` stores the tensors after each branch's first
  conv fused over the P channels in OUTPUT order: branch i fills channel block ``n - i`` (the module's
  output is ``cat([y_n, ..., y_1])``), so branch 1 (k = 3) lands in the LAST block;
- the n ``num_batches_tracked`` counters of one fused norm become one (their maximum; all n are
  equal in a checkpoint of the reference training, and the counter only matters for
  ``momentum=None``).

:func:`reference_layout` derives, from the TARGET model's state dict, which reference tensor fills
which part of which target tensor; :func:`convert_reference_emanet` checks a reference state dict
against it (every expected key present, no extra key, every shape equal) and fills every target
tensor. Nothing is guessed from the checkpoint, so a checkpoint of another depth, width or class
count is refused with the offending keys listed.
"""
import re
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional

import torch

#: fused MixtureAttention tensor -> sub-path inside the reference branch ``conv_{i}``
FUSED_TO_REFERENCE = OrderedDict([
    ('bn1', '2'),              # Conv -> GELU -> BN
    ('dw_conv', '3.0.fn.0'),   # spatial mixing: Residual(Conv9x9dw -> GELU -> BN)
    ('bn2', '3.0.fn.2'),
    ('softban', '3.1.fn.0'),   # channel mixing: Residual(SoftBAN -> Conv1x1 -> GELU -> BN)
    ('pw_conv', '3.1.fn.1'),
    ('bn3', '3.1.fn.3'),
])
#: SoftBAN's affine tensors are [1, C, 1, 1]: their channels are on dim 1
SOFTBAN_AFFINE = ('weight', 'bias', 'weight_readjust', 'bias_readjust')
MAX_LISTED = 20

_MA_KEY = re.compile(r'^backbone\.(?P<ma>layer\d+\.\d+\.conv2)\.(?P<part>branch_convs|se|'
                     + '|'.join(FUSED_TO_REFERENCE) + r')\.(?P<rest>.+)$')


class Piece(NamedTuple):
    """Reference tensor ``reference_key`` fills block ``block`` of ``num_blocks`` along ``dim`` of
    ``target_key`` (``num_blocks == 1``: the whole tensor)."""
    reference_key: str
    target_key: str
    dim: int = 0
    block: int = 0
    num_blocks: int = 1

    def target_view(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.num_blocks == 1 or tensor.dim() == 0:
            return tensor
        size = tensor.shape[self.dim] // self.num_blocks
        return tensor.narrow(self.dim, self.block * size, size)


class ReferenceCheckpointError(ValueError):
    """A reference checkpoint that does not fit the target model (keys and shapes listed)."""


def _listing(title: str, items: List[str]) -> str:
    shown = '\n  '.join(items[:MAX_LISTED])
    more = f'\n  ... and {len(items) - MAX_LISTED} more' if len(items) > MAX_LISTED else ''
    return f'{title} ({len(items)}):\n  {shown}{more}'


def _num_branches(target_keys) -> Dict[str, int]:
    """MA module path (``layerA.B.conv2``) -> number of branches, from its ``branch_convs``."""
    counts: Dict[str, int] = {}
    for key in target_keys:
        m = _MA_KEY.match(key)
        if m and m['part'] == 'branch_convs' and m['rest'].endswith('.weight'):
            counts[m['ma']] = counts.get(m['ma'], 0) + 1
    return counts


def reference_layout(target_state: Dict[str, torch.Tensor]) -> List[Piece]:
    """Every (reference key -> part of a target key) assignment for an ``ImageClassifier`` with an
    EMANet backbone and a ``LinearClsHead``; each target key is covered exactly once."""
    branches = _num_branches(target_state)
    pieces = []
    for key, tensor in target_state.items():
        m = _MA_KEY.match(key)
        if m and m['part'] in FUSED_TO_REFERENCE:
            n, sub, attr = branches[m['ma']], FUSED_TO_REFERENCE[m['part']], m['rest']
            dim = 1 if m['part'] == 'softban' and attr in SOFTBAN_AFFINE else 0
            for i in range(1, n + 1):
                pieces.append(Piece(f"{m['ma']}.conv_{i}.{sub}.{attr}", key, dim, n - i, n))
        elif m and m['part'] == 'branch_convs':
            index, attr = m['rest'].split('.', 1)
            pieces.append(Piece(f"{m['ma']}.conv_{int(index) + 1}.0.{attr}", key))
        elif key.startswith('backbone.'):
            pieces.append(Piece(key[len('backbone.'):], key))
        elif key.startswith('head.fc.'):
            pieces.append(Piece(key[len('head.'):], key))
        else:
            raise ReferenceCheckpointError(
                f'target model tensor {key} has no counterpart in the reference EMANet layout; '
                'the target must be ImageClassifier(EMANet, GlobalAveragePooling, LinearClsHead)')
    return pieces


def strip_data_parallel(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix ``nn.DataParallel`` adds, when every key carries it."""
    if state and all(k.startswith('module.') for k in state):
        return OrderedDict((k[len('module.'):], v) for k, v in state.items())
    return state


def check_reference_state(reference: Dict[str, torch.Tensor], target_state: Dict[str, torch.Tensor],
                          pieces: Optional[List[Piece]] = None) -> None:
    """Raise :class:`ReferenceCheckpointError` listing missing keys, extra keys and shape
    mismatches of ``reference`` (without ``module.``) against the layout of ``target_state``."""
    pieces = reference_layout(target_state) if pieces is None else pieces
    expected = {p.reference_key: p for p in pieces}
    missing = [k for k in expected if k not in reference]
    extra = [k for k in reference if k not in expected]
    shapes = []
    for key, piece in expected.items():
        if key in reference:
            want = tuple(piece.target_view(target_state[piece.target_key]).shape)
            got = tuple(reference[key].shape)
            if got != want:
                shapes.append(f'{key}: checkpoint {list(got)}, model {list(want)} '
                              f'(-> {piece.target_key})')
    if missing or extra or shapes:
        parts = [f'the reference checkpoint does not fit the target model '
                 f'({len(reference)} tensors given, {len(expected)} expected)']
        for title, items in (('missing keys', missing), ('unexpected keys', extra),
                             ('shape mismatches', shapes)):
            if items:
                parts.append(_listing(title, items))
        raise ReferenceCheckpointError('\n'.join(parts))


def convert_reference_emanet(reference: Dict[str, torch.Tensor],
                             target_state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Reference EMANet state dict (``module.`` prefix optional) -> ``ImageClassifier`` state dict.

    ``target_state`` is the state dict of the target model (only its keys and shapes are used).
    Every reference key is consumed and every target tensor is filled, else
    :class:`ReferenceCheckpointError`.
    """
    reference = strip_data_parallel(reference)
    pieces = reference_layout(target_state)
    check_reference_state(reference, target_state, pieces)
    out = OrderedDict((k, torch.empty_like(v)) for k, v in target_state.items())
    counters: Dict[str, List[torch.Tensor]] = {}
    for piece in pieces:
        value = reference[piece.reference_key]
        if value.dim() == 0 and piece.num_blocks > 1:  # one fused num_batches_tracked
            counters.setdefault(piece.target_key, []).append(value)
        else:
            piece.target_view(out[piece.target_key]).copy_(value)
    for key, values in counters.items():
        out[key].copy_(torch.stack(values).max())
    return out
