"""Direct CPU kernels for MA's narrow convolutions, and the shape rules that choose them over oneDNN.

The kernels live in the compiled extension ``mmemanet._conv_cpu`` (``mmemanet/ops/csrc/conv_cpu.cpp``, built by
``setup.py`` with ``torch.utils.cpp_extension`` unless ``MMEMANET_WITH_OPS=0``). They compute, in float32 on
channels_last data, a grouped ``conv2d`` without bias (:func:`conv_forward`) and its weight gradient
(:func:`conv_weight_grad`), seeing the convolution as a depthwise one over ``C_out * C_in / groups`` channels
(one vector register of 16 channels per tap; the C++ source explains it).

Where they are used (:func:`use_forward`, :func:`use_weight_grad`): on the CPU, float32, outside autocast and
torch.compile (and, the callers' part, outside tracing for export), and only for the shapes where they beat
oneDNN (measured, not timed at run time).
Everywhere else, and when the extension is missing or ``MMEMANET_CONV_CPU=0`` is set, the callers run the
plain ``F.conv2d`` / ``convolution_backward``: the same function to float32 round-off.
"""
import os

import torch

from ..utils.torch_compat import is_autocast_enabled, is_compiling

try:
    from .. import _conv_cpu as _extension
    EXTENSION_ERROR = None
except ImportError as error:  # not built (MMEMANET_WITH_OPS=0, no compiler) or built against another torch
    _extension, EXTENSION_ERROR = None, f'{type(error).__name__}: {error}'

#: Shape rules, from timings of each MA convolution alone (2-core AMD EPYC VM, AVX-512, batch 32, 2 threads,
#: channels_last, medians of 7, ms, oneDNN / this kernel). Weight gradient: every 9x9 depthwise conv
#: (P = 64 on 32x32 maps 24.5 / 10.5, 128 on 16x16 11.4 / 5.0, 256 on 8x8 7.1 / 2.8, 512 on 4x4 19.3 / 2.2), the
#: k9 g16 branch at P = 64 (4 inputs, 1 output per group: 22.9 / 9.5); with 2 outputs per group it ties
#: (10.2 / 10.1), with 4 it loses 2-10x. Forward (the branch convs): 2 outputs and 8 inputs per group at most:
#: k7 g8 at P = 64 14.7 / 9.6, k9 g16 at P = 64 22.4 / 6.3, at P = 128 10.4 / 8.8 and with stride 2 14.0 / 11.3;
#: with 4 outputs and 16 inputs per group (k5 g4, and the wider groups of deeper stages) it loses 1.6-9x; oneDNN's
#: depthwise forward beats it 2-4x.
WEIGHT_GRAD_MAX_OUTPUTS_PER_GROUP = 1
WEIGHT_GRAD_MAX_INPUTS_PER_GROUP = 4
FORWARD_MAX_OUTPUTS_PER_GROUP = 2
FORWARD_MAX_INPUTS_PER_GROUP = 8
LANES = 16  # the kernels' channel block; the forward needs a multiple of it as C_out


def available() -> bool:
    """Whether the compiled kernels can run here (built, loaded, and not switched off by ``MMEMANET_CONV_CPU=0``)."""
    return _extension is not None and os.environ.get('MMEMANET_CONV_CPU', '1') != '0'


def _eligible(x: torch.Tensor) -> bool:
    return (not is_compiling() and x.device.type == 'cpu' and x.dtype == torch.float32 and available()
            and not is_autocast_enabled('cpu'))


def use_weight_grad(x: torch.Tensor, weight_shape, groups: int) -> bool:
    """Whether :func:`conv_weight_grad` computes this convolution's weight gradient (see the shape rules)."""
    out_channels, per_group = weight_shape[:2]
    return (_eligible(x) and out_channels // groups <= WEIGHT_GRAD_MAX_OUTPUTS_PER_GROUP
            and per_group <= WEIGHT_GRAD_MAX_INPUTS_PER_GROUP)


def use_forward(x: torch.Tensor, weight: torch.Tensor, groups: int) -> bool:
    """Whether :func:`conv_forward` computes this convolution (see the shape rules)."""
    out_channels, per_group = weight.shape[:2]
    return (_eligible(x) and weight.dtype == torch.float32 and groups > 1 and per_group > 1
            and out_channels // groups <= FORWARD_MAX_OUTPUTS_PER_GROUP
            and per_group <= FORWARD_MAX_INPUTS_PER_GROUP and out_channels % LANES == 0)


def _square(value, name):
    a, b = value if isinstance(value, (tuple, list)) else (value, value)
    if a != b:
        raise ValueError(f'conv_cpu: {name}={value} must be the same along both axes')
    return int(a)


def conv_weight_grad(x, grad_output, weight_shape, stride, padding, groups) -> torch.Tensor:
    """``dW: [C_out, C_in / groups, k, k]`` of ``conv2d(x, W, None, stride, padding, 1, groups)`` for
    ``x: [N, C_in, H, W]`` and ``grad_output: [N, C_out, Ho, Wo]`` (float32, CPU, any memory format)."""
    k = weight_shape[2]
    if weight_shape[3] != k:
        raise ValueError(f'conv_cpu: square kernels only, got {tuple(weight_shape)}')
    return _extension.grouped_conv_weight_grad(x, grad_output, k, _square(stride, 'stride'),
                                               _square(padding, 'padding'), groups)


def conv_forward(x, weight, stride, padding, groups) -> torch.Tensor:
    """``conv2d(x, weight, None, stride, padding, 1, groups)`` (float32, CPU), channels_last."""
    return _extension.grouped_conv_forward(x, weight, _square(stride, 'stride'), _square(padding, 'padding'), groups)


class DepthwiseConv2d(torch.autograd.Function):
    """``F.conv2d(x, weight, bias, 1, padding, 1, groups=C)`` whose weight gradient comes from
    :func:`conv_weight_grad` (the input and bias gradients from ``convolution_backward``). ``x: [N, C, H, W]``,
    ``weight: [C, 1, k, k]``."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.padding = padding
        ctx.save_for_backward(x, weight)
        return torch.nn.functional.conv2d(x, weight, bias, 1, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        groups = weight.shape[0]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(grad, x, weight, None, (1, 1), ctx.padding, (1, 1), False,
                                                         (0, 0), groups, (True, False, False))[0]
        if ctx.needs_input_grad[1]:
            grad_w = conv_weight_grad(x, grad, weight.shape, 1, ctx.padding, groups)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


def depthwise_conv(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a stride-1 depthwise ``conv`` (MA's ``dw_conv``); in training on the CPU in float32 its weight
    gradient comes from the compiled kernel (:class:`DepthwiseConv2d`), elsewhere ``conv(x)`` itself. Not for use
    while tracing (the caller's check)."""
    if (torch.is_grad_enabled() and conv.weight.requires_grad and conv.bias is not None and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and use_weight_grad(x, conv.weight.shape, conv.groups)):
        return DepthwiseConv2d.apply(x, conv.weight, conv.bias, conv.padding)
    return conv(x)
