"""Training machinery: the Runner hooks, the checks a run gets before anything is built, and what
tools/train.py and tools/test.py add to the stock tools.

- :class:`~.hooks.NonFiniteLossHook`, :class:`~.hooks.StartCheckpointHook`,
  :class:`~.hooks.CheckpointCompatibilityHook`, :class:`~.hooks.ExactResumeHook` (root ``HOOKS``; the checkpoint
  checks they run are in :mod:`mmemanet.checkpoints`);
- :mod:`.preflight`: what a run needs, checked before anything is built;
- :mod:`.launcher`: the tools' shared arguments, gloo CPU processes, one-line errors.
"""
from .hooks import (CheckpointCompatibilityHook, ExactResumeHook, NonFiniteLossError, NonFiniteLossHook,
                    StartCheckpointHook)

__all__ = ['CheckpointCompatibilityHook', 'ExactResumeHook', 'NonFiniteLossError', 'NonFiniteLossHook',
           'StartCheckpointHook']
