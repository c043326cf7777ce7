"""The backbones as each registry builds them: the codebases' ResNets differ in three defaults
(:data:`~.resnet.CODEBASE_DEFAULTS`: ``out_indices``, ``norm_eval``, the key layout), so each registry entry
carries its own.

- ``mmengine.registry.MODELS`` (root) and ``mmpretrain.registry.MODELS``: :class:`AttnResNet`, :class:`EMANet`,
  :class:`EMCAResNet` themselves, with mmpretrain's defaults (``out_indices=(3, )``, ``norm_eval=False``).
- ``mmdet.registry.MODELS``: the subclasses below under the same names (and ``__name__``), with mmdet's
  (``(0, 1, 2, 3)``, ``True``).

Which entry a ``type`` resolves to is mmengine's choice: a registry's ``build`` looks in the registry of the
current default scope when there is one (an mmdet Runner builds from mmdet's), else in itself; the construction
itself never looks at the scope, so one dict built through one entry is the same module everywhere.
"""
from ...registry import register_backbone
from .emanet import EMANet
from .emca_resnet import EMCAResNet
from .resnet import CODEBASE_DEFAULTS, AttnResNet


def registered_as_base(cls):
    """Name ``cls`` as its base (the name it is registered under, what its ``repr`` shows); its ``__qualname__``
    keeps it importable (pickle)."""
    cls.__name__ = cls.__bases__[0].__name__
    return cls


@registered_as_base
class DetAttnResNet(AttnResNet):
    """:class:`AttnResNet` with mmdet's defaults: ``type='AttnResNet'`` in ``mmdet.registry.MODELS``."""
    defaults = CODEBASE_DEFAULTS['mmdet']


@registered_as_base
class DetEMANet(EMANet):
    """:class:`EMANet` with mmdet's defaults: ``type='EMANet'`` in ``mmdet.registry.MODELS``."""
    defaults = CODEBASE_DEFAULTS['mmdet']


@registered_as_base
class DetEMCAResNet(EMCAResNet):
    """:class:`EMCAResNet` with mmdet's defaults: ``type='EMCAResNet'`` in ``mmdet.registry.MODELS``."""
    defaults = CODEBASE_DEFAULTS['mmdet']


register_backbone(AttnResNet, dict(mmdet=DetAttnResNet))
register_backbone(EMANet, dict(mmdet=DetEMANet))
register_backbone(EMCAResNet, dict(mmdet=DetEMCAResNet))
