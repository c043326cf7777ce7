"""Refuse ``sync_bn`` for models with SoftBAN layers, which mmengine's conversion would silently break."""
from typing import List

from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from torch import nn

from ..models.layers import SoftBAN


def softban_layers(model: nn.Module) -> List[str]:
    """Names of the :class:`SoftBAN` modules in ``model``."""
    return [name for name, m in model.named_modules() if isinstance(m, SoftBAN)]


def check_sync_bn(cfg: Config, distributed: bool) -> None:
    """Raise ``ValueError`` when the Runner would convert a model with SoftBAN layers to SyncBatchNorm.

    mmengine converts every ``_BatchNorm`` of a distributed model when the config sets ``sync_bn``; a
    SoftBAN (EMANet's MA modules) would become a plain SyncBatchNorm, losing its ``weight``, ``bias``,
    ``weight_readjust`` and ``bias_readjust`` and its gate without a word. Without a distributed launch
    mmengine ignores ``sync_bn``, and so does this check. Builds the model once (on CPU) to look.
    """
    sync_bn = cfg.get('sync_bn')
    if sync_bn is None or not distributed:
        return
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):  # no scope left behind
        found = softban_layers(MODELS.build(cfg.model))
    if found:
        raise ValueError(
            f'sync_bn={sync_bn!r} would replace the {len(found)} SoftBAN layers of this model (e.g. '
            f'{found[0]}) by plain SyncBatchNorm layers and drop their weight, bias, weight_readjust and '
            'bias_readjust. Remove sync_bn from the config (or --cfg-options): SoftBAN then normalises with '
            "each GPU's batch statistics, as in the EMANet paper's training.")
