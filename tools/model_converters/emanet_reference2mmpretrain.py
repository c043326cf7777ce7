"""Convert a checkpoint of the reference EMANet implementation to an mmpretrain checkpoint.

The reference (``pytorch-emanet``) saves ``{'net': state_dict, 'acc': ..., 'epoch': ...}`` from an
``nn.DataParallel`` model. This writes ``{'meta': {...}, 'state_dict': ...}`` for the
``ImageClassifier`` that CONFIG builds (default: the EMANet-50 CIFAR-10 config), so that the
reference evaluation ``main.py -a emanet50 -e --resume ckpt.pth`` becomes::

    python tools/model_converters/emanet_reference2mmpretrain.py ckpt.pth emanet50_cifar10.pth
    python tools/test.py configs/emanet/emanet50_cifar10.py emanet50_cifar10.pth

The input is loaded with ``weights_only=True`` (no code in the file is executed). The mapping is
exact (see :mod:`mmemanet.checkpoints.reference_conversion`): every reference tensor is used and every model
tensor is filled, else the converter stops and lists the missing / unexpected keys and the shape
mismatches.
"""
import argparse
import os.path as osp
import sys
from numbers import Number

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmemanet  # noqa: F401  (registers EMANet; safe checkpoint loading)
from mmemanet.checkpoints import (CheckpointLoadError, ReferenceCheckpointError, convert_reference_emanet,
                                  load_from_local)

DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                          'emanet', 'emanet50_cifar10.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='reference checkpoint ({"net": state_dict, "acc", "epoch"})')
    parser.add_argument('dst', help='output mmpretrain checkpoint')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='mmpretrain config whose model the weights are for (default: %(default)s)')
    return parser.parse_args(argv)


def target_state_dict(config: str):
    """State dict (keys and shapes) of the model ``config`` builds."""
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import MODELS
    return MODELS.build(cfg.model).state_dict()


def reference_state(checkpoint, src: str):
    """The state dict inside a reference checkpoint (``'net'``, or a bare state dict)."""
    if isinstance(checkpoint, dict) and 'net' in checkpoint:
        return checkpoint['net']
    if isinstance(checkpoint, dict) and checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
    raise ReferenceCheckpointError(f'{src} is not a reference EMANet checkpoint: expected a dict '
                                   f"with 'net' (its state dict) or a bare state dict, got {keys}")


def main(argv=None):
    args = parse_args(argv)
    try:  # a one-line reason instead of a traceback: missing, truncated, refused or not fitting
        checkpoint = load_from_local(args.src, map_location='cpu')
        state = reference_state(checkpoint, args.src)
        converted = convert_reference_emanet(state, target_state_dict(args.config))
    except (FileNotFoundError, CheckpointLoadError) as e:
        sys.exit(f'error: {e}')
    except ReferenceCheckpointError as e:
        sys.exit(f'error: {args.src}: {e}')
    meta = dict(converted_from=osp.abspath(args.src), config=osp.abspath(args.config))
    for key in ('acc', 'epoch'):
        value = checkpoint.get(key) if 'net' in checkpoint else None
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, Number):
            meta[f'reference_{key}'] = value
    torch.save(dict(meta=meta, state_dict=converted), args.dst)
    print(f'converted {len(state)} reference tensors into {len(converted)} model tensors '
          f'({sum(v.numel() for v in converted.values()):,} values) -> {args.dst}')
    print('meta: ' + ', '.join(f'{k}={v}' for k, v in meta.items()))


if __name__ == '__main__':
    main()
