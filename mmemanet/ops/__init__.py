"""Compiled CPU kernels of the package (as mmcv ships its ops) with their plain-PyTorch fallbacks.

- :mod:`.conv_cpu`: direct kernels for MA's narrow grouped and depthwise convolutions (forward and weight
  gradient), the shape rules that choose them, and whether the extension was built.
"""
