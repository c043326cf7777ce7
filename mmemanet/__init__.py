"""mmemanet: MA/EMANet and EMCA channel attention for MMPretrain and MMDetection."""
from .version import __version__

__all__ = ['__version__']
