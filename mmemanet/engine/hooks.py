"""Runner hooks (registered in mmengine's root ``HOOKS``, so every codebase's scope finds them).

``NonFiniteLossHook``, ``StartCheckpointHook`` and ``CheckpointCompatibilityHook`` are the guards every shipped
config lists (``configs/_base_/mmemanet_runtime.py``), so they run whichever tool builds the Runner.
"""
import math
import random
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from ..checkpoints.compare import check_state_dict_fits
from ..checkpoints.model_state import model_state_of
from ..checkpoints.start import check_start_checkpoints


def is_training(runner) -> bool:
    """True inside ``runner.train()`` (which builds its train loop before ``before_run``), False inside ``test()``,
    ``val()`` or a bare ``load_checkpoint``."""
    return isinstance(runner._train_loop, BaseLoop)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN / inf loss or weights."""


def _non_finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return not bool(torch.isfinite(value.detach()).all())
    return isinstance(value, float) and not math.isfinite(value)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first NaN / inf loss, naming the iteration, before it reaches a checkpoint.

    - ``after_train_iter`` (priority ``VERY_HIGH``, so before ``CheckpointHook``): raises
      :class:`NonFiniteLossError` when any ``loss*`` value of the iteration is not finite.
    - ``before_save_checkpoint``: refuses to write a checkpoint whose weights are not all finite
      (a finite loss followed by an overflowing update), so the last good checkpoint stays the latest.

    Usage: ``custom_hooks = [dict(type='NonFiniteLossHook')]`` (with ``mmemanet`` imported).
    """
    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None):
        bad = {k: float(torch.as_tensor(v).detach()) for k, v in (outputs or {}).items()
               if 'loss' in k and _non_finite(v)}
        if bad:
            raise NonFiniteLossError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch '
                f'{batch_idx + 1}): {bad}. Training stopped before saving anything of this iteration; '
                f'the latest checkpoint in {runner.work_dir} predates it. Lower the learning rate, '
                'clip gradients (optim_wrapper.clip_grad) or check the data of this batch.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = [k for k, v in checkpoint.get('state_dict', {}).items()
               if isinstance(v, torch.Tensor) and v.is_floating_point() and _non_finite(v)]
        if bad:
            raise NonFiniteLossError(
                f'refusing to save a checkpoint at iteration {runner.iter + 1}: {len(bad)} weight '
                f'tensors are not finite (first: {", ".join(bad[:5])}); the latest checkpoint in '
                f'{runner.work_dir} predates this.')


@HOOKS.register_module()
class StartCheckpointHook(Hook):
    """Before a training run initialises its weights, check that every start checkpoint of ``runner.cfg.model``
    (``init_cfg=dict(type='Pretrained', ...)``, ``pretrained=``) is on disk, in the download cache or
    downloadable; else :class:`~mmemanet.checkpoints.start.StartCheckpointError`, one line that says how to
    run offline (``before_run``, training only: a test run initialises nothing).

    Usage: ``custom_hooks = [dict(type='StartCheckpointHook')]`` (with ``mmemanet`` imported).
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if is_training(runner):
            check_start_checkpoints(runner.cfg)


@HOOKS.register_module()
class CheckpointCompatibilityHook(Hook):
    """Refuse a checkpoint that does not fit the model before anything is loaded from it.

    mmengine loads ``load_from`` / ``tools/test.py`` checkpoints with ``strict=False`` and only warns, so a
    checkpoint of another architecture silently tests a mostly random model. This hook
    (``after_load_checkpoint``) raises :class:`~mmemanet.checkpoints.compare.CheckpointMismatchError` listing the
    first mismatching keys and both shapes. It checks test and val runs (and a bare ``runner.load_checkpoint``);
    a training run's ``load_from`` may fine-tune from another head, and is left to mmengine.

    Args:
        ignore (Sequence[str]): regexes of keys allowed to differ, e.g. ``[r'bbox_head\\.fc_cls']``
            when fine-tuning with a new head.
    """
    priority = 'VERY_HIGH'

    def __init__(self, ignore: Sequence[str] = ()):
        self.ignore = tuple(ignore)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if is_training(runner):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        filename = runner.cfg.get('load_from') or getattr(runner, '_load_from', None)
        source = f'checkpoint {filename or "(the latest in " + str(runner.work_dir) + ")"}'
        check_state_dict_fits(model.state_dict(), model_state_of(checkpoint), source, self.ignore)


def derived_seed(*entropy: int) -> int:
    """A 32-bit seed that is a fixed function of ``entropy`` (``numpy.random.SeedSequence``)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1)[0])


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make a run resumed with ``--resume`` reproduce the uninterrupted run exactly.

    mmengine restores weights, optimizer, schedulers and the message hub but no random-number
    state: a resumed run starts its data augmentation (numpy / python ``random``) and every random op
    of the model (torch, e.g. mmdet's proposal samplers) from the seed again, so it diverges from
    the run it continues. This hook makes the randomness a function of the position in training:

    - ``before_train_epoch``: python ``random``, numpy and torch are seeded from (seed, epoch);
    - ``before_train_iter``: torch is seeded from (seed, iteration).

    An epoch-based run resumes at an epoch start, so it sees the same augmentations and the same
    model randomness; an iteration-based run resumes mid-epoch and mmengine replays the data loader
    up to the checkpoint's iteration, which repeats the same augmentations (the model does not use
    numpy), and the model's torch randomness follows the iteration. Needs ``randomness.seed`` set
    (as mmengine's ``deterministic=True`` does for the kernels) and data loaders without persistent
    workers (``num_workers=0`` or ``persistent_workers=False``): persistent worker processes keep
    their own random state, which no checkpoint holds. With ``diff_rank_seed=True`` the rank is
    mixed in.
    """
    priority = 'VERY_HIGH'

    def _seed(self, runner, *position: int) -> int:
        rank = get_rank() if runner._randomness_cfg.get('diff_rank_seed', False) else 0
        return derived_seed(runner.seed, rank, *position)

    def before_train_epoch(self, runner) -> None:
        seed = self._seed(runner, 0, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        torch.manual_seed(self._seed(runner, 1, runner.iter))
