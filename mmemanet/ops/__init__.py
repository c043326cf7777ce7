"""Compiled CPU kernels of the package (as mmcv ships its ops) with their plain-PyTorch fallbacks.

- :mod:`.conv_cpu`: direct kernels for MA's narrow grouped and depthwise convolutions (forward, weight
  gradient and stride-1 input gradient), the shape rules that choose them, and whether the extension was built.
"""
