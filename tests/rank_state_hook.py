"""A hook for the multi-node test: after training, every rank saves its own model's parameters
and buffers to ``<work_dir>/rank<R>_state.pth`` (mmengine's checkpoints come from rank 0 only).

Imported by the test's config through ``custom_imports`` (``tests/`` on PYTHONPATH).
"""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankStateHook(Hook):
    """Write ``{'params': {name: tensor}, 'buffers': {name: tensor}}`` of this rank after training."""

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = {'params': {k: v.detach().cpu() for k, v in model.named_parameters()},
                 'buffers': {k: v.detach().cpu() for k, v in model.named_buffers()}}
        torch.save(state, osp.join(runner.work_dir, f'rank{runner.rank}_state.pth'))
