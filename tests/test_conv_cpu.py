"""The compiled CPU kernels (``_mmemanet_conv_cpu``, :mod:`mmemanet.ops.conv_cpu`) compute what ``F.conv2d`` and
its backward compute, to float32 round-off, over MA's convolution shapes and odd ones; MA runs them exactly where
the shape rules say and gives the same outputs and gradients without them. No timing here: the shape rules'
figures come from measurements written down in :mod:`mmemanet.ops.conv_cpu`."""
import os
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from mmemanet.analysis.conv_kernels import KERNEL_COLUMNS, format_kernel_table, ma_conv_shapes, time_kernels
from mmemanet.models.layers import MixtureAttention
from mmemanet.ops import conv_cpu

from randomized import assert_rel_close, scramble_

CL = torch.channels_last


def test_the_extension_is_built_unless_switched_off():
    """tools/setup_env.sh compiles the kernels; a build that was expected but is missing fails here, loudly."""
    if os.environ.get('MMEMANET_WITH_OPS', '1') == '0':
        pytest.skip('MMEMANET_WITH_OPS=0: the environment was set up without the compiled kernels')
    assert conv_cpu.EXTENSION_ERROR is None, (
        f"mmemanet's compiled CPU kernels are missing ({conv_cpu.EXTENSION_ERROR}); tools/setup_env.sh builds them "
        f'into the environment, MMEMANET_WITH_OPS=0 sets up without them')
    assert conv_cpu.available()


needs_extension = pytest.mark.skipif(conv_cpu.EXTENSION_ERROR is not None, reason='built with MMEMANET_WITH_OPS=0')

# (batch, in, out, kernel, groups, height, width, stride): MA's branch and mixer shapes at EMANet-50's four stages
# (a smaller batch), then odd ones: batch 1, non-square, stride 2, fewer than 16 channels (a partly used channel
# block), 1x1 and 3x3 kernels, wider groups
SHAPES = [
    (2, 64, 64, 9, 64, 32, 32, 1),     # the 9x9 depthwise mixer, P = 64 ... 512
    (2, 128, 128, 9, 128, 16, 16, 1),
    (2, 256, 256, 9, 256, 8, 8, 1),
    (2, 512, 512, 9, 512, 4, 4, 1),
    (2, 64, 16, 9, 16, 32, 32, 1),     # branch k9 g16, k7 g8, k5 g4 at P = 64
    (2, 64, 16, 7, 8, 32, 32, 1),
    (2, 64, 16, 5, 4, 32, 32, 1),
    (2, 128, 32, 9, 16, 32, 32, 2),    # the strided first block of a stage
    (1, 64, 16, 9, 16, 7, 5, 1),       # batch 1, non-square
    (3, 48, 16, 7, 8, 9, 6, 2),        # stride 2, odd sizes
    (2, 24, 8, 3, 4, 5, 11, 1),        # 8 virtual channels: half a block
    (2, 40, 40, 5, 40, 6, 7, 1),       # 40 depthwise channels: 2.5 blocks
    (2, 32, 32, 1, 8, 5, 5, 1),        # 1x1, 4 in / 4 out per group
]
IDS = [f'b{b}-{i}to{o}-k{k}-g{g}-{h}x{w}-s{s}' for b, i, o, k, g, h, w, s in SHAPES]


def case(batch, cin, cout, k, groups, h, w, stride, fmt, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cin, h, w, generator=gen).contiguous(memory_format=fmt)
    weight = torch.randn(cout, cin // groups, k, k, generator=gen)
    y = F.conv2d(x, weight, None, stride, k // 2, 1, groups)
    grad = torch.randn(y.shape, generator=gen).contiguous(memory_format=fmt)
    return x, weight, y, grad


@needs_extension
@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', SHAPES, ids=IDS)
def test_weight_grad_equals_convolution_backward(shape, fmt):
    *dims, stride = shape
    x, weight, _, grad = case(*dims, stride, fmt)
    k, groups = dims[3], dims[4]
    expected = torch.ops.aten.convolution_backward(grad, x, weight, None, (stride, stride), (k // 2, k // 2),
                                                   (1, 1), False, (0, 0), groups, (False, True, False))[1]
    got = conv_cpu.conv_weight_grad(x, grad, weight.shape, stride, k // 2, groups)
    assert got.shape == weight.shape and got.is_contiguous()
    assert_rel_close(got, expected, rtol=1e-6, name='weight grad')


@needs_extension
@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', [s for s in SHAPES if s[2] % conv_cpu.LANES == 0], ids=[
    i for s, i in zip(SHAPES, IDS) if s[2] % conv_cpu.LANES == 0])
def test_forward_equals_conv2d(shape, fmt):
    *dims, stride = shape
    x, weight, expected, _ = case(*dims, stride, fmt)
    got = conv_cpu.conv_forward(x, weight, stride, dims[3] // 2, dims[4])
    assert got.is_contiguous(memory_format=CL)
    assert_rel_close(got, expected, rtol=1e-6, name='output')


STRIDE_1 = [(s, i) for s, i in zip(SHAPES, IDS) if s[-1] == 1 and s[1] % conv_cpu.LANES == 0]


@needs_extension
@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', [s for s, _ in STRIDE_1], ids=[i for _, i in STRIDE_1])
def test_input_grad_equals_convolution_backward(shape, fmt):
    """The transposed forward (:func:`conv_cpu.conv_input_grad`) gives ``convolution_backward``'s input gradient for
    every stride-1 shape whose C_in fits the forward kernel, whether or not the rule picks it."""
    *dims, stride = shape
    x, weight, _, grad = case(*dims, stride, fmt)
    k, groups = dims[3], dims[4]
    expected = torch.ops.aten.convolution_backward(grad, x, weight, None, (1, 1), (k // 2, k // 2), (1, 1), False,
                                                   (0, 0), groups, (True, False, False))[0]
    assert_rel_close(conv_cpu.conv_input_grad(grad, weight, groups), expected, rtol=1e-6, name='input grad')


@needs_extension
@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('batch,channels,k,height,width', [(2, 64, 9, 32, 32), (1, 24, 5, 7, 3), (3, 512, 9, 4, 4)])
def test_depthwise_conv_equals_the_module(batch, channels, k, height, width, fmt):
    """Output and input, weight and bias gradients of :func:`conv_cpu.depthwise_conv` equal the module's."""
    conv = scramble_(torch.nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels), seed=3)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(batch, channels, height, width, generator=gen).contiguous(memory_format=fmt).requires_grad_()
    grad = torch.randn(batch, channels, height, width, generator=gen)
    params = (x, conv.weight, conv.bias)
    with mock.patch.object(conv_cpu, 'conv_weight_grad', wraps=conv_cpu.conv_weight_grad) as kernel:
        y = conv_cpu.depthwise_conv(x, conv)
        grads = torch.autograd.grad(y, params, grad)
    assert kernel.call_count == 1
    y_ref = conv(x)
    assert_rel_close(y, y_ref, rtol=1e-6, name='output')
    for name, a, b in zip(('input grad', 'weight grad', 'bias grad'), grads, torch.autograd.grad(y_ref, params, grad)):
        assert_rel_close(a, b, rtol=1e-6, name=name)


@needs_extension
def test_the_shape_rules():
    """The kernels take float32 CPU tensors of the measured shapes, nothing else."""
    x = torch.randn(2, 64, 8, 8)
    narrow, wide = torch.randn(16, 8, 7, 7), torch.randn(16, 16, 5, 5)  # k7 g8: 8 in / 2 out; k5 g4: 16 in / 4 out
    wider = torch.randn(32, 32, 5, 5)  # k5 g4 at P = 128: 32 in / 8 out
    assert conv_cpu.use_forward(x, narrow, 8) and conv_cpu.use_forward(x, wide, 4)
    assert not conv_cpu.use_forward(torch.randn(2, 128, 8, 8), wider, 4)
    assert conv_cpu.use_weight_grad(x, (64, 1, 9, 9), 64) and conv_cpu.use_weight_grad(x, (16, 4, 9, 9), 16)
    assert conv_cpu.use_weight_grad(x, narrow.shape, 8) and not conv_cpu.use_weight_grad(x, wide.shape, 4)
    assert not conv_cpu.use_forward(x, torch.randn(64, 1, 9, 9), 64)  # oneDNN's depthwise forward is faster
    grad = torch.randn(2, 16, 8, 8)  # input gradient: the transposed k9 g16 (1 in / 4 out per group) only
    assert conv_cpu.use_input_grad(grad, (16, 4, 9, 9), (1, 1), (4, 4), 16)
    assert not conv_cpu.use_input_grad(grad, narrow.shape, (1, 1), (3, 3), 8)
    assert not conv_cpu.use_input_grad(grad, (16, 4, 9, 9), (2, 2), (4, 4), 16)
    assert not conv_cpu.use_forward(x.double(), narrow.double(), 8)
    assert not conv_cpu.use_weight_grad(x.double(), (64, 1, 9, 9), 64)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not conv_cpu.use_forward(x, narrow, 8) and not conv_cpu.use_weight_grad(x, (64, 1, 9, 9), 64)
    with mock.patch.dict(os.environ, {'MMEMANET_CONV_CPU': '0'}):
        assert not conv_cpu.available() and not conv_cpu.use_weight_grad(x, (64, 1, 9, 9), 64)


def test_non_square_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r'conv_cpu: stride=\(1, 2\) must be the same along both axes'):
        conv_cpu.conv_forward(torch.randn(1, 16, 4, 4), torch.randn(16, 2, 3, 3), (1, 2), 1, 8)


def ma_training_step(ma, x):
    """(output, input gradient, parameter gradients) of one forward + backward of ``ma`` in training mode."""
    ma.zero_grad()
    x = x.clone().requires_grad_()
    y = ma(x)
    y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(9)))
    return y.detach(), x.grad, {name: p.grad.clone() for name, p in ma.named_parameters()}


@needs_extension
@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
def test_ma_runs_the_kernels_where_the_rules_say_and_equals_itself_without(fmt):
    """EMANet-50's stage-1 MA (P = 64): the branch forwards of k5 g4, k7 g8 and k9 g16, the weight gradients of
    k7 g8, k9 g16 and the 9x9 depthwise mixer and the input gradient of k9 g16 come from the kernels, in training
    and (the forwards) in inference; with
    ``MMEMANET_CONV_CPU=0`` the same MA gives the same outputs and gradients through oneDNN alone."""
    ma = scramble_(MixtureAttention(64), seed=1).train()
    state = {k: v.clone() for k, v in ma.state_dict().items()}
    x = torch.randn(2, 64, 12, 10, generator=torch.Generator().manual_seed(4)).contiguous(memory_format=fmt)
    with mock.patch.object(conv_cpu, 'conv_forward', wraps=conv_cpu.conv_forward) as forward, \
            mock.patch.object(conv_cpu, 'conv_weight_grad', wraps=conv_cpu.conv_weight_grad) as weight_grad, \
            mock.patch.object(conv_cpu, 'conv_input_grad', wraps=conv_cpu.conv_input_grad) as input_grad:
        with_kernels = ma_training_step(ma, x)
        assert [c.args[1].shape[:2] for c in input_grad.call_args_list] == [(16, 4)]
        # the three branch forwards, then the input gradient's transposed forward (64 outputs, 1 input per group)
        assert [c.args[1].shape[:2] for c in forward.call_args_list] == [(16, 4), (16, 8), (16, 16), (64, 1)]
        assert sorted(c.args[2][:2] for c in weight_grad.call_args_list) == [(16, 4), (16, 8), (64, 1)]
        with torch.no_grad():
            ma.eval()(x)
        assert forward.call_count == 4 + 3
    ma.train().load_state_dict(state)
    with mock.patch.dict(os.environ, {'MMEMANET_CONV_CPU': '0'}), \
            mock.patch.object(conv_cpu, '_extension', wraps=conv_cpu._extension) as extension:
        without = ma_training_step(ma, x)
        assert not extension.method_calls
    assert_rel_close(with_kernels[0], without[0], rtol=1e-6, name='output')
    assert_rel_close(with_kernels[1], without[1], rtol=1e-6, name='input grad')
    # the weight gradients the kernels compute to 1e-5; behind training-mode BatchNorms the terms of some other
    # parameters' gradients nearly cancel (softban.bias, pw_conv.bias: see tests/test_fast_paths.py), where the
    # round-off of the kernels' forward shows as ~1e-5 relative: 1e-4 there
    for name, grad in with_kernels[2].items():
        kernel_made = name in ('dw_conv.weight', 'branch_convs.2.weight', 'branch_convs.3.weight')
        assert_rel_close(grad, without[2][name], rtol=1e-5 if kernel_made else 1e-4, name=name)


@needs_extension
def test_the_timing_tool_lists_every_shape_with_the_rules_choice():
    """tools/analysis/conv_kernels.py on EMANet-50's MA shapes at tiny maps: one row per shape, the columns, and the
    rule's choice as :func:`conv_cpu.use_forward` / ``use_weight_grad`` make it (no times are judged)."""
    shapes = ma_conv_shapes(sizes=(4, 2, 2, 1))
    assert len(shapes) == 4 * 4 + 3 * 3  # per stage 3 branches + the mixer; stages 2-4 add 3 strided branches
    rows = time_kernels(shapes, batch_size=2, repeats=1)
    lines = format_kernel_table(rows).splitlines()
    assert lines[0] == '| ' + ' | '.join(KERNEL_COLUMNS) + ' |' and len(lines) == len(shapes) + 2
    picks = {(r.shape.kernel, r.shape.groups, r.shape.in_channels): (r.picks_forward, r.picks_weight_grad)
             for r in rows if r.shape.stride == 1}
    assert picks[9, 16, 64] == (True, True) and picks[5, 4, 64] == (True, False)
    assert picks[5, 4, 128] == (False, False)
    assert all(r.picks_weight_grad and not r.picks_forward for r in rows if r.shape.groups == r.shape.in_channels)
    input_grad = {r.shape for r in rows if r.picks_input_grad}
    assert input_grad == {s for s in shapes if (s.in_channels, s.kernel, s.groups, s.stride) == (64, 9, 16, 1)}
    assert all((r.kernel_input_grad is None) == (r.shape.stride > 1) for r in rows)


def test_the_timing_tool_says_when_the_kernels_are_missing():
    with mock.patch.dict(os.environ, {'MMEMANET_CONV_CPU': '0'}):
        with pytest.raises(RuntimeError, match=r"^mmemanet's compiled CPU kernels are not available \("):
            time_kernels(ma_conv_shapes()[:1])
