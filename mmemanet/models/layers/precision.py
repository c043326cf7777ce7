"""Mixed precision for the attention statistics: what feeds a gate is computed in float32 and cast back.

Under ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU) the feature maps arrive in half precision. A
gate's statistics (global averages, SRM's variances, softmaxes over channels or branches) and its small
excitation layers would then run in half precision too: float16 overflows on a sum of squares above 65504,
and an 8-bit mantissa blurs a softmax over 2048 channels. The layers here compute those in float32 (with
autocast off for the excitation's linear layers) and cast only the final per-channel factors back to the
map's dtype, so the big multiply stays in half precision. float32 and float64 inputs are untouched.
"""
from contextlib import nullcontext

import torch

from ...utils.torch_compat import is_autocast_enabled

LOW_PRECISION = (torch.float16, torch.bfloat16)


def statistics_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for a float16 / bfloat16 tensor, else ``x``'s own dtype."""
    return torch.float32 if x.dtype in LOW_PRECISION else x.dtype


def spatial_mean(x: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Global average pooling ``[B, C, H, W] -> [B, C]`` (``[B, C, 1, 1]`` with ``keepdim``), accumulated and
    returned in :func:`statistics_dtype` (no float32 copy of ``x`` is made)."""
    dtype = statistics_dtype(x)
    if dtype == x.dtype:
        return x.mean((2, 3), keepdim=keepdim)
    return x.mean((2, 3), keepdim=keepdim, dtype=dtype)


def autocast_off(x: torch.Tensor):
    """A context with autocast disabled on ``x``'s device if it is enabled there (else a no-op context)."""
    device = x.device.type
    return torch.autocast(device, enabled=False) if is_autocast_enabled(device) else nullcontext()


def cast_to(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` in ``dtype``; ``t`` itself when it already is (no op recorded in a trace)."""
    return t if t.dtype == dtype else t.to(dtype)
