"""mmemanet: MA/EMANet and EMCA multi-scale channel attention for MMPretrain and MMDetection.

Importing the package registers everything it provides (see :mod:`mmemanet.registry`) and makes
mmengine's checkpoint loading safe on torch >= 2.6 (see :mod:`mmemanet.checkpoint`).
"""
from . import checkpoint
from . import datasets, engine, models  # noqa: F401  (registers datasets, hooks, layers and backbones)
from .version import __version__

checkpoint.install()

__all__ = ['__version__']
