"""Per-convolution oneDNN profile of one training step: for every convolution shape of MA (branch convs,
depthwise mixer, grouped 1x1), the implementation oneDNN picks and its time in forward, backward-data and
weight gradient, read from ``ONEDNN_VERBOSE=profile`` in a child process (oneDNN reads the variable once).

- :func:`parse_onednn_verbose`: verbose lines -> :class:`ConvRow` per convolution problem;
- :func:`profile_training_step`: run the child, return the rows of MA's convolutions;
- :func:`format_profile`: the rows as a Markdown table.

The package's compiled kernels (:mod:`mmemanet.ops.conv_cpu`) are listed too, as implementation
``mmemanet:direct``: the child times each call and prints a line in oneDNN's format (prefix
:data:`KERNEL_PREFIX`). What is neither is not listed: MA's grouped 1x1 where it runs as a block-diagonal matmul
(P = 64), the forward of a one-output-per-group branch where it runs as the depthwise convolution of its shape
(without the kernels; that row then counts both).
"""
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from .build import check_target

PASSES = ('forward', 'backward_data', 'backward_weights')
MARKER = 'mmemanet-profiled-step'
KERNEL_PREFIX = 'mmemanet_verbose'  # the lines of the package's kernels, in oneDNN's format
_PROBLEM = re.compile(r'(?:g(?P<g>\d+))?mb(?P<mb>\d+)_ic(?P<ic>\d+)oc(?P<oc>\d+)_ih(?P<ih>\d+)oh(?P<oh>\d+)'
                      r'kh(?P<kh>\d+)sh(?P<sh>\d+)')


@dataclass
class ConvRow:
    """One convolution problem (oneDNN's descriptor, e.g. ``g4mb32_ic64oc64_ih32oh32kh1sh1...``): its
    calls per pass, implementation per pass and summed milliseconds per pass."""
    problem: str
    groups: int
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    kernel: int
    stride: int
    calls: Dict[str, int] = field(default_factory=dict)
    impl: Dict[str, str] = field(default_factory=dict)
    ms: Dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """'depthwise', 'grouped' or 'dense'."""
        if self.groups == self.in_channels == self.out_channels and self.groups > 1:
            return 'depthwise'
        return 'grouped' if self.groups > 1 else 'dense'


def parse_onednn_verbose(lines: Iterable[str]) -> List[ConvRow]:
    """``exec`` lines of convolution primitives -> one :class:`ConvRow` per problem descriptor, in order of
    first appearance. ``forward_training`` and ``forward_inference`` both count as ``forward``."""
    rows: Dict[str, ConvRow] = {}
    for line in lines:
        fields = line.strip().split(',')
        if len(fields) < 10 or fields[0] not in ('onednn_verbose', KERNEL_PREFIX) or 'exec' not in fields[:4] \
                or 'convolution' not in fields[:6]:
            continue
        start = fields.index('convolution')
        impl, prop, problem, ms = fields[start + 1], fields[start + 2], fields[-2], float(fields[-1])
        match = _PROBLEM.search(problem)
        if match is None:
            continue
        key = 'forward' if prop.startswith('forward') else prop
        if key not in PASSES:
            continue
        if problem not in rows:
            d = match.groupdict()
            rows[problem] = ConvRow(problem, int(d['g'] or 1), int(d['ic']), int(d['oc']), int(d['ih']),
                                    int(d['oh']), int(d['kh']), int(d['sh']))
        row = rows[problem]
        row.calls[key] = row.calls.get(key, 0) + 1
        row.impl[key] = impl
        row.ms[key] = row.ms.get(key, 0.0) + ms
    return list(rows.values())


def is_ma_conv(row: ConvRow, image_channels: int = 3) -> bool:
    """MA's convolutions in EMANet: every grouped or k > 1 convolution except the stem's (on the image); the
    ResNet 1x1 convolutions and the SE's are dense 1x1."""
    return (row.groups > 1 or row.kernel > 1) and row.in_channels != image_channels


def kernel_line(prop: str, x_shape, weight_shape, out_size: Tuple[int, int], stride: int, padding: int, groups: int,
                ms: float) -> str:
    """A verbose line in oneDNN's format for one call of the package's kernel computing pass ``prop``
    (``forward_training``, ``backward_data`` or ``backward_weights``) of the convolution with input ``x_shape:
    [N, C_in, H, W]`` and ``weight_shape: [C_out, C_in / groups, k, k]``."""
    n, cin, h, w = x_shape
    k = weight_shape[2]
    problem = (f'{f"g{groups}" if groups > 1 else ""}mb{n}_ic{cin}oc{weight_shape[0]}_ih{h}oh{out_size[0]}kh{k}'
               f'sh{stride}dh0ph{padding}_iw{w}ow{out_size[1]}kw{k}sw{stride}dw0pw{padding}')
    return f'{KERNEL_PREFIX},v1,primitive,exec,cpu,convolution,mmemanet:direct,{prop},src:f32 dst:f32,,,{problem},{ms}'


def _print_kernel_calls() -> None:
    """Wrap :mod:`mmemanet.ops.conv_cpu`'s three kernel functions (in this child process) so that each call prints
    its :func:`kernel_line`, under the convolution whose pass it computes; a call inside another (the input
    gradient's transposed forward) counts in the outer one."""
    import time

    from mmemanet.ops import conv_cpu
    running = []  # the wrapped calls in progress

    def one(v):
        return v if isinstance(v, int) else v[0]

    def timed(function, prop, convolution):
        """``function`` printing its line; ``convolution(result, *args)``: ``kernel_line``'s arguments from
        ``x_shape`` to ``groups``."""
        def call(*args):
            running.append(prop)
            start = time.perf_counter()
            try:
                result = function(*args)
            finally:
                running.pop()
            ms = (time.perf_counter() - start) * 1e3
            if not running:
                print(kernel_line(prop, *convolution(result, *args), ms))
            return result
        return call

    conv_cpu.conv_forward = timed(
        conv_cpu.conv_forward, 'forward_training', lambda y, x, weight, stride, padding, groups:
        (x.shape, weight.shape, y.shape[2:], one(stride), one(padding), groups))
    conv_cpu.conv_weight_grad = timed(
        conv_cpu.conv_weight_grad, 'backward_weights', lambda _, x, grad_output, weight_shape, stride, padding, groups:
        (x.shape, weight_shape, grad_output.shape[2:], one(stride), one(padding), groups))
    conv_cpu.conv_input_grad = timed(  # stride 1, padding k // 2: the input has the output's size
        conv_cpu.conv_input_grad, 'backward_data', lambda grad_x, grad_output, weight, groups:
        (grad_x.shape, weight.shape, grad_output.shape[2:], 1, weight.shape[2] // 2, groups))


def _child(target: str, batch_size: int, input_size: Tuple[int, int], threads: Optional[int]) -> None:
    """One warm-up training step, the marker line, one profiled training step (stdout: oneDNN's lines and the
    package's kernels')."""
    import torch

    import mmemanet  # noqa: F401  (registers the models)
    from mmemanet.analysis.benchmark import BenchSettings, ModelUnderTest
    _print_kernel_calls()
    if threads:
        torch.set_num_threads(threads)
    model = ModelUnderTest(target, BenchSettings(mode='train', batch_size=batch_size, input_size=input_size))
    model.step()
    print(MARKER, flush=True)
    model.step()
    sys.stdout.flush()


def profile_training_step(target: str = 'cifar_emanet50', batch_size: int = 32,
                          input_size: Tuple[int, int] = (32, 32), threads: Optional[int] = None,
                          ma_only: bool = True) -> List[ConvRow]:
    """The :class:`ConvRow` s of one training step of preset / config ``target`` after one warm-up step (MA's
    convolutions only unless ``ma_only=False``). Runs a child Python with ``ONEDNN_VERBOSE=profile``; an unknown
    ``target`` is a one-line ``ValueError`` before it starts."""
    check_target(target)
    code = (f'from mmemanet.analysis.conv_profile import _child; '
            f'_child({target!r}, {batch_size}, {tuple(input_size)!r}, {threads!r})')
    env = dict(os.environ, ONEDNN_VERBOSE='profile')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=False)
    if out.returncode or MARKER not in out.stdout:
        raise RuntimeError(f'the profiled child failed ({out.returncode}):\n{out.stderr[-4000:]}')
    rows = parse_onednn_verbose(out.stdout.split(MARKER, 1)[1].splitlines())
    return [r for r in rows if is_ma_conv(r)] if ma_only else rows


COLUMNS = ('conv', 'in -> out size', 'calls', 'forward impl', 'forward ms', 'backward_data impl',
           'backward_data ms', 'backward_weights impl', 'backward_weights ms')


def format_profile(rows: List[ConvRow]) -> str:
    """Markdown table, one line per convolution problem (:data:`COLUMNS`), sorted by output size (stage)
    then kind, plus a total line of milliseconds."""
    lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
    for r in sorted(rows, key=lambda r: (-r.out_size, r.in_channels, r.kind, r.kernel, r.groups)):
        name = f'{r.kind} k{r.kernel} g{r.groups} {r.in_channels}->{r.out_channels}' + \
            (f' s{r.stride}' if r.stride > 1 else '')
        cells = [name, f'{r.in_size}->{r.out_size}', str(max(r.calls.values()))]
        for p in PASSES:
            cells += [r.impl.get(p, '-'), f'{r.ms[p]:.2f}' if p in r.ms else '-']
        lines.append('| ' + ' | '.join(cells) + ' |')
    totals = [f'{sum(r.ms.get(p, 0.0) for r in rows):.2f}' for p in PASSES]
    lines.append('| total | | | | ' + totals[0] + ' | | ' + totals[1] + ' | | ' + totals[2] + ' |')
    return '\n'.join(lines)
