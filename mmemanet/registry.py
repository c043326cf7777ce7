"""Where mmemanet registers its modules.

- Every module (attention layers, norms, backbones) goes into mmengine's ROOT ``MODELS``. mmcv's
  ``build_plugin_layer`` / ``build_norm_layer`` look names up there, and the mmdet and mmpretrain
  registries fall back to their root, so a bare ``type='MixtureAttention'`` resolves under no scope,
  the ``mmdet`` scope and the ``mmpretrain`` scope alike.
- Backbones are also registered into ``mmdet.registry.MODELS`` and ``mmpretrain.registry.MODELS``
  when those packages are installed (checked without importing them when they are absent), under the same
  name, each codebase's entry with that codebase's defaults (see ``models/backbones/codebases.py``).
"""
import importlib
import importlib.util
from typing import Dict, Optional

from mmengine.registry import MODELS

CODEBASES = ('mmdet', 'mmpretrain')


def installed(package: str) -> bool:
    """True when ``package`` can be imported (found without importing it)."""
    return importlib.util.find_spec(package) is not None


def codebase_registry(package: str, name: str = 'MODELS'):
    """Return ``<package>.registry.<name>``, or None when the package is not installed."""
    if not installed(package):
        return None
    return getattr(importlib.import_module(f'{package}.registry'), name)


def register_backbone(cls, per_codebase: Optional[Dict[str, type]] = None) -> None:
    """Register ``cls`` in the root registry and, under the same name, in every installed codebase's registry:
    ``per_codebase[codebase]`` where given (a subclass with that codebase's defaults), else ``cls``."""
    MODELS.register_module(module=cls)
    for package in CODEBASES:
        registry = codebase_registry(package)
        if registry is not None:
            registry.register_module(name=cls.__name__, module=(per_codebase or {}).get(package, cls))
