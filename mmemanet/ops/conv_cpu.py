"""Direct CPU kernels for MA's narrow convolutions, and the shape rules that choose them over oneDNN.

The kernels live in the compiled extension ``_mmemanet_conv_cpu`` (``mmemanet/ops/csrc/conv_cpu.cpp``, built by
``setup.py`` with ``torch.utils.cpp_extension`` unless ``MMEMANET_WITH_OPS=0``; ``tools/setup_env.sh`` builds it
into each environment's site-packages). They compute, in float32 on
channels_last data, a grouped ``conv2d`` without bias (:func:`conv_forward`) and its weight gradient
(:func:`conv_weight_grad`; the input gradient of a stride-1 convolution is the forward kernel on the output gradient,
:func:`conv_input_grad`), seeing the convolution as a depthwise one over ``C_out * C_in / groups`` channels
(one vector register of 16 channels per tap; the C++ source explains it).

Where they are used (:func:`use_forward`, :func:`use_weight_grad`, :func:`use_input_grad`): on the CPU, float32,
outside autocast and torch.compile (and, the callers' part, outside tracing for export), and only for the shapes
where they beat oneDNN (measured, not timed at run time).
Everywhere else, and when the extension is missing or ``MMEMANET_CONV_CPU=0`` is set, the callers run the
plain ``F.conv2d`` / ``convolution_backward``: the same function to float32 round-off.
"""
import os
import warnings

import torch

from ..utils.torch_compat import is_autocast_enabled, is_compiling

try:
    import _mmemanet_conv_cpu as _extension
    EXTENSION_ERROR = None
except ModuleNotFoundError as error:  # not built (MMEMANET_WITH_OPS=0, no compiler, an editable install)
    _extension, EXTENSION_ERROR = None, f'{type(error).__name__}: {error}'
except ImportError as error:  # built, but against another torch
    _extension, EXTENSION_ERROR = None, f'{type(error).__name__}: {error}'
    warnings.warn(f"mmemanet's compiled CPU kernels do not load ({EXTENSION_ERROR}); MA runs oneDNN alone. "
                  f'Rebuild them for this torch: tools/setup_env.sh, or python setup.py build_ext')

#: The shape rules: the most outputs and inputs per group for which each kernel runs (the forward kernel not for
#: a depthwise convolution, where oneDNN's is 1.8-2.2x faster). Measured with ``tools/analysis/conv_kernels.py``
#: (each of EMANet-50's MA convolutions alone, batch 32, channels_last, medians of 7, 2-core AMD EPYC with AVX-512;
#: the table is in the README), as oneDNN's time / the kernel's: forward 6.2x at 4 inputs / 1 output per group,
#: 2.4-2.9x at 8 / 2, 0.98-1.28x at 16 / 4, 0.35-0.69x at 32 / 8 and less beyond; weight gradient 4-20x for the
#: depthwise convolutions, 4.9x at 4 / 1, 1.6-2.1x at 8 / 2, 0.77-0.94x at 16 / 4 and less beyond.
FORWARD_MAX_OUTPUTS_PER_GROUP, FORWARD_MAX_INPUTS_PER_GROUP = 4, 16
WEIGHT_GRAD_MAX_OUTPUTS_PER_GROUP, WEIGHT_GRAD_MAX_INPUTS_PER_GROUP = 2, 8
LANES = 16  # the kernels' channel block; the forward kernel needs C_out to be a multiple of it


def available() -> bool:
    """Whether the compiled kernels can run here (built, loaded, and not switched off by ``MMEMANET_CONV_CPU=0``)."""
    return _extension is not None and os.environ.get('MMEMANET_CONV_CPU', '1') != '0'


def _eligible(x: torch.Tensor) -> bool:
    return (not is_compiling() and x.device.type == 'cpu' and x.dtype == torch.float32 and available()
            and not is_autocast_enabled('cpu'))


def _per_group_within(weight_shape, groups: int, max_outputs: int, max_inputs: int) -> bool:
    out_channels, per_group = weight_shape[:2]
    return out_channels // groups <= max_outputs and per_group <= max_inputs


def use_weight_grad(x: torch.Tensor, weight_shape, groups: int) -> bool:
    """Whether :func:`conv_weight_grad` computes this convolution's weight gradient (``weight_shape:
    [C_out, C_in / groups, k, k]``; :data:`WEIGHT_GRAD_MAX_OUTPUTS_PER_GROUP`, ``..._INPUTS_PER_GROUP``)."""
    return _eligible(x) and _per_group_within(weight_shape, groups, WEIGHT_GRAD_MAX_OUTPUTS_PER_GROUP,
                                              WEIGHT_GRAD_MAX_INPUTS_PER_GROUP)


def use_forward(x: torch.Tensor, weight: torch.Tensor, groups: int) -> bool:
    """Whether :func:`conv_forward` computes this convolution (:data:`FORWARD_MAX_OUTPUTS_PER_GROUP`,
    ``..._INPUTS_PER_GROUP``; not a depthwise one; C_out a multiple of :data:`LANES`)."""
    return (_eligible(x) and weight.dtype == torch.float32 and weight.shape[1] > 1 and weight.shape[0] % LANES == 0
            and _per_group_within(weight.shape, groups, FORWARD_MAX_OUTPUTS_PER_GROUP, FORWARD_MAX_INPUTS_PER_GROUP))


def use_input_grad(grad_output: torch.Tensor, weight_shape, stride, padding, groups: int) -> bool:
    """Whether :func:`conv_input_grad` computes this convolution's input gradient: stride 1, odd ``k`` with padding
    ``k // 2``, and the transposed convolution (``C_out -> C_in``, ``C_out / groups`` inputs and ``C_in / groups``
    outputs per group) within the forward rule; of MA's branches that is k9 g16 at P = 64 (oneDNN's backward data
    5.8 ms, the kernel 3.7; at 2 / 8 per group and wider oneDNN is 1.3-3x faster)."""
    out_channels, per_group, k = weight_shape[:3]
    in_channels = per_group * groups
    return (_eligible(grad_output) and tuple(stride) == (1, 1) and k % 2 == 1 and tuple(padding) == (k // 2,) * 2
            and in_channels % LANES == 0 and per_group * out_channels // groups > 1
            and _per_group_within((in_channels, out_channels // groups), groups, FORWARD_MAX_OUTPUTS_PER_GROUP,
                                  FORWARD_MAX_INPUTS_PER_GROUP))


def conv_input_grad(grad_output, weight, groups) -> torch.Tensor:
    """``dx: [N, C_in, H, W]`` of ``conv2d(x, weight, None, 1, k // 2, 1, groups)`` for ``grad_output:
    [N, C_out, H, W]``: the forward kernel on ``grad_output`` with each group's weights transposed and flipped
    (float32, CPU), channels_last."""
    out_channels, per_group, k = weight.shape[:3]
    transposed = weight.view(groups, out_channels // groups, per_group, k, k).transpose(1, 2).flip(-2, -1)
    return conv_forward(grad_output, transposed.reshape(groups * per_group, out_channels // groups, k, k), 1,
                        k // 2, groups)


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
