"""Runner hooks (registered in mmengine's root ``HOOKS``, so every codebase's scope finds them)."""
import math
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from .checkpoint_compat import check_state_dict_fits, model_state_of


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
        bad = {k: float(v) for k, v in (outputs or {}).items() if 'loss' in k and _non_finite(v)}
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
class CheckpointCompatibilityHook(Hook):
    """Refuse a checkpoint that does not fit the model before anything is loaded from it.

    mmengine loads ``load_from`` / ``--resume`` / ``tools/test.py`` checkpoints with ``strict=False``
    and only warns, so a checkpoint of another architecture silently tests or trains a mostly
    random model. This hook (``after_load_checkpoint``) raises
    :class:`~mmemanet.engine.checkpoint_compat.CheckpointMismatchError` listing the first
    mismatching keys and both shapes.

    Args:
        ignore (Sequence[str]): regexes of keys allowed to differ, e.g. ``[r'bbox_head\\.fc_cls']``
            when fine-tuning with a new head.
    """
    priority = 'VERY_HIGH'

    def __init__(self, ignore: Sequence[str] = ()):
        self.ignore = tuple(ignore)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source = f'checkpoint {runner.cfg.get("load_from") or "(latest in " + str(runner.work_dir) + ")"}'
        check_state_dict_fits(model.state_dict(), model_state_of(checkpoint), source, self.ignore)
