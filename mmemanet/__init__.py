"""mmemanet: MA/EMANet and EMCA multi-scale channel attention for MMPretrain and MMDetection.

Importing the package registers everything it provides (see :mod:`mmemanet.registry`).
Importing it also installs the safe checkpoint loader of :mod:`mmemanet.checkpoints.safe_loading`, which the
configs rely on through ``custom_imports`` (mmengine's own checkpoints then load on torch >= 2.6, weights-only),
and lets mmengine's configs inherit this package's with ``_base_ = 'mmemanet::<folder>/<config>.py'``
(:mod:`mmemanet.utils.config_scheme`).
"""
from . import checkpoints, datasets, engine, models  # noqa: F401  (registers datasets, hooks, layers, backbones)
from .checkpoints.safe_loading import install as install_safe_loading
from .utils.config_scheme import register_config_scheme
from .version import __version__

install_safe_loading()
register_config_scheme()

__all__ = ['__version__']
