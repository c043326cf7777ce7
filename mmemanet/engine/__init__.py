"""Training / checkpoint machinery: hooks, checkpoint compatibility checks, reference conversion.

- :class:`~.hooks.NonFiniteLossHook`, :class:`~.hooks.StartCheckpointHook`,
  :class:`~.hooks.CheckpointCompatibilityHook`, :class:`~.hooks.ExactResumeHook` (root ``HOOKS``);
- :mod:`.checkpoint_fit`: does a checkpoint fit a model (keys and shapes listed; the comparison and
  the pretrained-start report are in :mod:`mmemanet.state_dicts`);
- :mod:`.reference_emanet`: reference EMANet checkpoints -> this package's classifier.
"""
from .checkpoint_fit import CheckpointMismatchError, check_state_dict_fits
from .hooks import (CheckpointCompatibilityHook, ExactResumeHook, NonFiniteLossError, NonFiniteLossHook,
                    StartCheckpointHook)
from .reference_emanet import ReferenceCheckpointError, convert_reference_emanet

__all__ = ['CheckpointCompatibilityHook', 'CheckpointMismatchError', 'ExactResumeHook', 'NonFiniteLossError',
           'NonFiniteLossHook', 'ReferenceCheckpointError', 'StartCheckpointHook', 'check_state_dict_fits',
           'convert_reference_emanet']
