"""Each of MA's convolutions timed alone: oneDNN (``F.conv2d`` / ``convolution_backward``) against the package's
compiled kernels (:mod:`mmemanet.ops.conv_cpu`), forward, weight gradient and (stride 1) input gradient, and what
the shape rules pick.

The measurements behind the shape rules of :mod:`mmemanet.ops.conv_cpu` (``FORWARD_MAX_*_PER_GROUP``,
``WEIGHT_GRAD_MAX_*_PER_GROUP``).

- :func:`ma_conv_shapes`: the grouped branch convolutions and the depthwise mixer of MA at each stage of an
  EMANet (EMANet-50 with the CIFAR stem by default), the strided ones of each stage's first block included;
- :func:`time_kernels`: one :class:`KernelRow` per shape (medians of ``repeats`` calls, channels_last tensors);
- :func:`format_kernel_table`: the rows as a Markdown table.
"""
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..ops import conv_cpu


@dataclass(frozen=True)
class ConvShape:
    """A convolution ``in_channels -> out_channels``, ``kernel x kernel``, ``groups``, on ``size x size`` input maps."""
    in_channels: int
    out_channels: int
    kernel: int
    groups: int
    size: int
    stride: int = 1

    @property
    def name(self) -> str:
        kind = 'depthwise' if self.groups == self.in_channels == self.out_channels else 'grouped'
        return (f'{kind} k{self.kernel} g{self.groups} {self.in_channels}->{self.out_channels} '
                f'{self.size}x{self.size}' + (f' s{self.stride}' if self.stride > 1 else ''))


def ma_conv_shapes(planes: Sequence[int] = (64, 128, 256, 512), sizes: Sequence[int] = (32, 16, 8, 4),
                   kernels: Sequence[int] = (5, 7, 9), groups: Sequence[int] = (4, 8, 16),
                   mixer_kernel: int = 9) -> List[ConvShape]:
    """MA's grouped branch convolutions (``P -> P / 4``, one per kernel / group pair) and its depthwise mixer at
    stages of ``planes`` P and output ``sizes``; from the second stage on also the first block's strided branch
    convolutions (input twice the size)."""
    shapes = []
    for stage, (p, size) in enumerate(zip(planes, sizes)):
        branches = [ConvShape(p, p // 4, k, g, size) for k, g in zip(kernels, groups)]
        if stage:
            branches += [ConvShape(p, p // 4, k, g, 2 * size, 2) for k, g in zip(kernels, groups)]
        shapes += branches + [ConvShape(p, p, mixer_kernel, p, size)]
    return shapes


@dataclass
class KernelRow:
    """Milliseconds of one convolution alone (medians); ``picks_*``: whether the shape rule runs the kernel."""
    shape: ConvShape
    onednn_forward: float
    kernel_forward: float
    onednn_weight_grad: float
    kernel_weight_grad: float
    picks_forward: bool
    picks_weight_grad: bool
    onednn_input_grad: Optional[float] = None  # stride 1 and C_in a multiple of 16 only (the transposed forward)
    kernel_input_grad: Optional[float] = None
    picks_input_grad: bool = False


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def time_kernels(shapes: Sequence[ConvShape], batch_size: int = 32, repeats: int = 7) -> List[KernelRow]:
    """Time every shape (oneDNN and kernel, forward and weight gradient). A one-line ``RuntimeError`` when the
    compiled kernels are not available here."""
    if not conv_cpu.available():
        raise RuntimeError(f"mmemanet's compiled CPU kernels are not available "
                           f"({conv_cpu.EXTENSION_ERROR or 'MMEMANET_CONV_CPU=0'}); tools/setup_env.sh builds them")
    rows = []
    gen = torch.Generator().manual_seed(0)
    for s in shapes:
        k, pad = s.kernel, s.kernel // 2
        x = torch.randn(batch_size, s.in_channels, s.size, s.size, generator=gen)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = torch.randn(s.out_channels, s.in_channels // s.groups, k, k, generator=gen)
        out = (s.size + 2 * pad - k) // s.stride + 1
        grad = torch.randn(batch_size, s.out_channels, out, out, generator=gen)
        grad = grad.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            row = KernelRow(
                s,
                _median_ms(lambda: F.conv2d(x, weight, None, s.stride, pad, 1, s.groups), repeats),
                _median_ms(lambda: conv_cpu.conv_forward(x, weight, s.stride, pad, s.groups), repeats),
                _median_ms(lambda: torch.ops.aten.convolution_backward(
                    grad, x, weight, None, (s.stride,) * 2, (pad,) * 2, (1, 1), False, (0, 0), s.groups,
                    (False, True, False)), repeats),
                _median_ms(lambda: conv_cpu.conv_weight_grad(x, grad, weight.shape, s.stride, pad, s.groups),
                           repeats),
                conv_cpu.use_forward(x, weight, s.groups), conv_cpu.use_weight_grad(x, weight.shape, s.groups))
            if s.stride == 1 and s.in_channels % conv_cpu.LANES == 0:
                row.onednn_input_grad = _median_ms(lambda: torch.ops.aten.convolution_backward(
                    grad, x, weight, None, (1, 1), (pad, pad), (1, 1), False, (0, 0), s.groups,
                    (True, False, False)), repeats)
                row.kernel_input_grad = _median_ms(lambda: conv_cpu.conv_input_grad(grad, weight, s.groups), repeats)
                row.picks_input_grad = conv_cpu.use_input_grad(grad, weight.shape, (1, 1), (pad, pad), s.groups)
            rows.append(row)
    return rows


KERNEL_COLUMNS = ('conv', 'per group in / out', 'forward oneDNN ms', 'forward kernel ms', 'rule',
                  'weight grad oneDNN ms', 'weight grad kernel ms', 'rule', 'input grad oneDNN ms',
                  'input grad kernel ms', 'rule')


def format_kernel_table(rows: Sequence[KernelRow]) -> str:
    """Markdown table (:data:`KERNEL_COLUMNS`); ``rule`` is ``kernel`` or ``oneDNN``, the faster one in bold; ``-``
    where the input-gradient kernel does not apply."""
    def cells(onednn, kernel):
        fast = kernel < onednn
        return [f'**{onednn:.2f}**' if not fast else f'{onednn:.2f}', f'**{kernel:.2f}**' if fast else f'{kernel:.2f}']

    lines = ['| ' + ' | '.join(KERNEL_COLUMNS) + ' |', '|' + '---|' * len(KERNEL_COLUMNS)]
    for r in rows:
        s = r.shape
        line = [s.name, f'{s.in_channels // s.groups} / {s.out_channels // s.groups}']
        line += cells(r.onednn_forward, r.kernel_forward) + ['kernel' if r.picks_forward else 'oneDNN']
        line += cells(r.onednn_weight_grad, r.kernel_weight_grad) + ['kernel' if r.picks_weight_grad else 'oneDNN']
        if r.kernel_input_grad is None:
            line += ['-', '-', 'oneDNN']
        else:
            line += cells(r.onednn_input_grad, r.kernel_input_grad) + ['kernel' if r.picks_input_grad else 'oneDNN']
        lines.append('| ' + ' | '.join(line) + ' |')
    return '\n'.join(lines)
