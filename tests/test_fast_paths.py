"""Fast paths compute exactly what the plain formulations compute: MA ``impl='fused'`` against the
per-branch ``impl='reference'`` (outputs, every gradient, running statistics, state dicts, channels_last,
autocast, torch.compile), EMANet with either, SRM's style pooling against ``torch.var``, and EMCA's descriptors pooled
once per tapped block. No timing here:
speed is measured by ``tools/analysis/benchmark.py``."""
import copy
from unittest import mock

import pytest
import torch

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.models.backbones import EMANet, EMCAResNet
from mmemanet.models.layers import EMCA, MixtureAttention, srm
from mmemanet.models.layers.mixture_attention import (POINTWISE_DENSE_MAX_PER_GROUP, branch_conv, memory_format_of,
                                                      pointwise_conv)

from randomized import assert_rel_close, scramble_

# Relative tolerance in float32. A parameter gradient is a sum over every position; behind a training-mode
# BatchNorm its terms nearly cancel (softban.bias, pw_conv.bias), so there the float32 result of EITHER
# formulation is ~1e-4 away from the float64 one. Each gradient tensor (and all of them together) is therefore
# allowed RTOL plus twice the reference's own round-off (assert_same_state); float64 runs hold all to 1e-10.
RTOL = 1e-5
CL = torch.channels_last


@pytest.fixture(autouse=True)
def seeded_inputs():
    """The same random inputs whatever ran before (the tolerances below are judged on them)."""
    torch.manual_seed(0)


def twin_modules(build, seed=0):
    """(fused, reference) built by ``build(impl)``, the reference loaded strictly from the fused one's state dict."""
    fused = scramble_(build('fused'), seed)
    reference = build('reference')
    reference.load_state_dict(fused.state_dict(), strict=True)
    return fused, reference


def run_both(fused, reference, x, training):
    """Forward + backward of both with the same input and output gradient, and of a float64 copy of the
    reference: the exact result that float32 round-off is judged against. Returns
    ``((y_fused, y_reference), (input grad fused, input grad reference), float64 reference)``."""
    exact = copy.deepcopy(reference).double()
    grad = None
    outs, in_grads = [], []
    for module, inp in ((fused, x), (reference, x.contiguous()), (exact, x.double())):
        module.train(training)
        inp = inp.clone().requires_grad_()
        y = module(inp)
        if grad is None:
            grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
        y.backward(grad.to(y.dtype).contiguous(memory_format=memory_format_of(y)))
        outs.append(y)
        in_grads.append(inp.grad)
    return tuple(outs[:2]), tuple(in_grads[:2]), exact


def assert_same_state(fused, reference, exact, rtol=RTOL):
    """Every buffer (running statistics to ``rtol``, batch counters exactly) and every parameter gradient
    agree: each gradient tensor, and all of them together, to ``rtol`` plus twice the reference's own
    round-off there (its distance to the float64 result ``exact``)."""
    grads_r = {name: p.grad for name, p in reference.named_parameters()}
    grads_x = {name: p.grad for name, p in exact.named_parameters()}
    grads_f = {name: p.grad for name, p in fused.named_parameters()}
    assert all(g is not None for g in grads_f.values())
    grads_f['all'], grads_r['all'], grads_x['all'] = (torch.cat([g[name].flatten() for name in grads_r])
                                                      for g in (grads_f, grads_r, grads_x))
    for name, g_r in grads_r.items():
        round_off = float((g_r.double() - grads_x[name]).norm() / g_r.double().norm())
        assert_rel_close(grads_f[name], g_r, rtol=rtol + 2 * round_off, name=f'grad {name}')
    buffers_r = dict(reference.named_buffers())
    for name, b in fused.named_buffers():
        if b.is_floating_point():
            assert_rel_close(b, buffers_r[name], rtol=rtol, name=name)
        else:
            assert torch.equal(b, buffers_r[name]), name


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('in_channels,p,stride', [(64, 64, 1), (64, 64, 2), (128, 128, 1), (128, 64, 2),
                                                  (64, 128, 1)])
def test_fused_ma_equals_reference(in_channels, p, stride, training):
    fused, reference = twin_modules(lambda impl: MixtureAttention(in_channels, p, stride=stride, impl=impl))
    x = torch.randn(4, in_channels, 12, 12, generator=torch.Generator().manual_seed(2))
    (yf, yr), (gf, gr), exact = run_both(fused, reference, x, training)
    assert yf.shape == (4, p, 12 // stride, 12 // stride)
    assert_rel_close(yf, yr, name='output')
    assert_rel_close(gf, gr, name='input grad')
    assert_same_state(fused, reference, exact)
    if training:  # one batch counted once per fused norm, as by one BatchNorm per branch
        assert int(fused.bn1.num_batches_tracked) == int(fused.softban.num_batches_tracked) == 1


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('in_channels,p,stride', [(64, 64, 2), (128, 64, 1)])
def test_fused_ma_equals_reference_in_float64(in_channels, p, stride, training):
    """Same function: in float64 every output, gradient and statistic agrees to 1e-10."""
    fused, reference = twin_modules(
        lambda impl: MixtureAttention(in_channels, p, stride=stride, impl=impl).double())
    x = torch.randn(3, in_channels, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    (yf, yr), (gf, gr), exact = run_both(fused, reference, x, training)
    assert_rel_close(yf, yr, rtol=1e-10, name='output')
    assert_rel_close(gf, gr, rtol=1e-10, name='input grad')
    assert_same_state(fused, reference, exact, rtol=1e-10)


def test_fused_ma_equals_reference_with_other_branches():
    """Non-default kernels / groups / mixer kernel / SE ratio (three branches)."""
    def build(impl):
        return MixtureAttention(48, 96, stride=2, kernels=(3, 5, 7), groups=(1, 2, 4), mixer_kernel=5,
                                se_ratio=4, impl=impl)
    fused, reference = twin_modules(build, seed=3)
    x = torch.randn(3, 48, 9, 9, generator=torch.Generator().manual_seed(4))
    (yf, yr), (gf, gr), exact = run_both(fused, reference, x, training=True)
    assert_rel_close(yf, yr, name='output')
    assert_rel_close(gf, gr, name='input grad')
    assert_same_state(fused, reference, exact)


@pytest.mark.slow
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_compiled_fused_ma_equals_reference(training):
    """torch.compile captures the fused path in one graph (its autograd Functions included: ``fullgraph``);
    ``aot_eager`` runs the captured forward and backward graphs without code generation, which keeps this
    fast (inductor on CPU agreed as well when checked by hand, output max |diff| 1.4e-6, but takes ~30 s to
    compile here)."""
    fused, reference = twin_modules(lambda impl: MixtureAttention(64, stride=2, impl=impl))
    compiled = torch.compile(fused, backend='aot_eager', fullgraph=True)
    x = torch.randn(3, 64, 10, 10, generator=torch.Generator().manual_seed(2))
    (yf, yr), (gf, gr), exact = run_both(compiled, reference, x, training)
    assert_rel_close(yf, yr, name='output')
    assert_rel_close(gf, gr, name='input grad')
    assert_same_state(fused, reference, exact)


def grouped_conv2d(x, weight, stride, padding, groups):
    return torch.nn.functional.conv2d(x, weight, None, stride, padding, 1, groups)


@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('in_channels,out_channels,kernel,stride,groups', [
    (64, 16, 9, 1, 16),   # MA's k = 9 branch at P = 64: one output per group, 4 inputs -> depthwise + sum
    (48, 8, 5, 2, 8),     # strided, 6 inputs per group
    (64, 16, 7, 1, 8),    # two outputs per group: the plain grouped conv
    (16, 16, 3, 1, 16),   # depthwise already
])
def test_branch_conv_equals_grouped_conv2d(in_channels, out_channels, kernel, stride, groups, fmt):
    """Output, input gradient and weight gradient of :func:`branch_conv` equal ``F.conv2d``'s; the output
    keeps the input's memory format."""
    x = torch.randn(3, in_channels, 11, 11).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(out_channels, in_channels // groups, kernel, kernel, requires_grad=True)
    grad = torch.randn(3, out_channels, (11 - 1) // stride + 1, (11 - 1) // stride + 1)
    results = []
    for conv in (branch_conv, grouped_conv2d):
        y = conv(x, w, (stride, stride), (kernel // 2, kernel // 2), groups)
        gx, gw = torch.autograd.grad(y, (x, w), grad.contiguous(memory_format=memory_format_of(y)))
        results.append((y, gx, gw))
    (y, gx, gw), (y_ref, gx_ref, gw_ref) = results
    assert memory_format_of(y) == memory_format_of(x)
    for name, a, b in (('output', y, y_ref), ('input grad', gx, gx_ref), ('weight grad', gw, gw_ref)):
        assert_rel_close(a, b, rtol=1e-6, name=name)


@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL], ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('batch,channels,groups,height,width', [
    (4, 64, 4, 32, 32),   # EMANet-50's four MA stages (CIFAR stem): 16 per group -> block-diagonal matmul
    (4, 128, 4, 16, 16),  # 32 per group and more: the grouped conv
    (4, 256, 4, 8, 8),
    (4, 512, 4, 4, 4),
    (1, 64, 4, 7, 5),     # batch 1, non-square
    (3, 24, 3, 1, 9),     # 8 per group, one row
    (2, 32, 32, 6, 6),    # depthwise 1x1 (1 per group)
])
def test_pointwise_conv_equals_grouped_conv2d(batch, channels, groups, height, width, fmt):
    """Output and the input, weight and bias gradients of :func:`pointwise_conv` equal ``F.conv2d``'s with
    ``groups``; the block-diagonal matmul runs exactly where the shape rule says (NCHW, few per group)."""
    conv = torch.nn.Conv2d(channels, channels, 1, groups=groups)
    x = torch.randn(batch, channels, height, width).contiguous(memory_format=fmt).requires_grad_()
    grad = torch.randn(batch, channels, height, width)
    params = (x, conv.weight, conv.bias)
    with mock.patch.object(torch, 'block_diag', wraps=torch.block_diag) as block_diag:
        y = pointwise_conv(x, conv)
    dense = fmt == torch.contiguous_format and channels // groups <= POINTWISE_DENSE_MAX_PER_GROUP
    assert block_diag.called == dense
    y_ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, groups=groups)
    grads = torch.autograd.grad(y, params, grad)
    grads_ref = torch.autograd.grad(y_ref, params, grad)
    assert_rel_close(y, y_ref, rtol=1e-6, name='output')
    for name, a, b in zip(('input grad', 'weight grad', 'bias grad'), grads, grads_ref):
        assert_rel_close(a, b, name=name)  # weight and bias: sums over B * H * W positions


def test_pointwise_conv_keeps_the_grouped_conv_off_float32_cpu():
    """float64 and bfloat16 autocast keep the plain grouped convolution."""
    conv = torch.nn.Conv2d(64, 64, 1, groups=4)
    with mock.patch.object(torch, 'block_diag', wraps=torch.block_diag) as block_diag:
        pointwise_conv(torch.randn(2, 64, 4, 4), conv)
        assert block_diag.call_count == 1
        pointwise_conv(torch.randn(2, 64, 4, 4, dtype=torch.float64), conv.double())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            pointwise_conv(torch.randn(2, 64, 4, 4), conv.float())
        assert block_diag.call_count == 1


def test_running_statistics_equal_after_train_steps_then_eval():
    fused, reference = twin_modules(lambda impl: MixtureAttention(64, impl=impl))
    for seed in range(3):
        fused.zero_grad()
        reference.zero_grad()
        x = torch.randn(4, 64, 8, 8, generator=torch.Generator().manual_seed(seed))
        _, _, exact = run_both(fused, reference, x, training=True)
    # three steps, then the gradients of the last: se.fc.0.bias (a sum across the softmax-coupled branches, whose
    # terms nearly cancel) ends 2.3e-5 from float64 on the path with the compiled CPU kernels (7.9e-6 without,
    # 2.6e-6 on the reference), as softban.bias and pw_conv.bias do on every path; single steps agree to 1e-5
    assert_same_state(fused, reference, exact, rtol=3e-5)
    assert int(fused.bn3.num_batches_tracked) == int(reference.bn3.num_batches_tracked) == 3
    (yf, yr), _, _ = run_both(fused, reference, torch.randn(2, 64, 8, 8), training=False)
    assert_rel_close(yf, yr, name='eval output after training')


@pytest.mark.parametrize('src,dst', [('fused', 'reference'), ('reference', 'fused')])
def test_state_dict_of_one_impl_loads_strictly_into_the_other(src, dst):
    a = scramble_(MixtureAttention(64, 128, impl=src), seed=5).eval()
    b = MixtureAttention(64, 128, impl=dst).eval()
    b.load_state_dict(a.state_dict(), strict=True)
    assert list(a.state_dict()) == list(b.state_dict())
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        assert_rel_close(b(x), a(x), name='output')


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_channels_last_input_gives_equal_outputs_in_its_format(training):
    fused, reference = twin_modules(lambda impl: MixtureAttention(64, stride=2, impl=impl))
    x = torch.randn(3, 64, 10, 10).contiguous(memory_format=CL)
    (yf, yr), (gf, gr), exact = run_both(fused, reference, x, training)
    assert yf.is_contiguous(memory_format=CL)
    assert_rel_close(yf, yr, name='output')
    assert_rel_close(gf, gr, name='input grad')
    assert_same_state(fused, reference, exact)


def test_contiguous_input_gives_contiguous_output():
    ma = MixtureAttention(64).eval()
    with torch.no_grad():
        assert ma(torch.randn(2, 64, 6, 6)).is_contiguous()


def saved_for_backward_mib(module, x):
    """MiB of the distinct storages autograd keeps for the backward of ``module(x)``."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values()) / 2**20


def test_fused_ma_keeps_no_more_for_backward_than_reference():
    """As in the block (a ReLU keeps the MA input anyway), the fused path keeps no extra copy of it."""
    fused, reference = twin_modules(lambda impl: MixtureAttention(64, impl=impl))
    x = torch.randn(4, 64, 16, 16, requires_grad=True)
    kept = {impl: saved_for_backward_mib(torch.nn.Sequential(torch.nn.ReLU(), m).train(), x)
            for impl, m in (('fused', fused), ('reference', reference))}
    assert kept['fused'] <= kept['reference'], kept


def test_input_gradient_keeps_the_input_format():
    ma = MixtureAttention(64).train()
    for fmt in (torch.contiguous_format, CL):
        x = torch.randn(2, 64, 6, 6).contiguous(memory_format=fmt).requires_grad_()
        ma(x).sum().backward()
        assert x.grad.is_contiguous(memory_format=fmt)


def test_fused_ma_under_cpu_autocast_follows_fp32():
    """AMP on CPU (bfloat16 autocast): runs forward and backward and stays near the fp32 result."""
    fused, reference = twin_modules(lambda impl: MixtureAttention(64, impl=impl))
    fused.train()
    reference.train()
    x = torch.randn(2, 64, 8, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = fused(x)
    y.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in fused.parameters())
    assert_rel_close(y.float(), reference(x), rtol=5e-2, name='bf16 output')


def emanet_twins(dtype):
    torch.manual_seed(0)
    fused, reference = (EMANet(depth=50, stem='cifar', ma_impl=impl, out_indices=(0, 1, 2, 3)).to(dtype)
                        for impl in ('fused', 'reference'))
    fused.init_weights()
    reference.load_state_dict(fused.state_dict(), strict=True)
    return fused, reference


@pytest.mark.slow
def test_emanet_fused_equals_reference_in_training():
    """Training mode, every stage output and every parameter gradient, in float64: with batch 2 at 16x16
    the last stages normalise over 8 to 32 values per channel, which amplifies float32 round-off
    through 16 blocks far beyond 1e-5 for BOTH formulations."""
    fused, reference = emanet_twins(torch.float64)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    outs_f, outs_r = fused(x), reference(x)
    for i, (of, o_r) in enumerate(zip(outs_f, outs_r)):
        assert_rel_close(of, o_r, rtol=1e-10, name=f'stage {i + 1} output')
    sum(o.square().mean() for o in outs_f).backward()
    sum(o.square().mean() for o in outs_r).backward()
    grads_r = dict(reference.named_parameters())
    for name, p in fused.named_parameters():
        assert_rel_close(p.grad, grads_r[name].grad, rtol=1e-10, name=name)
    for (name, b), b_r in zip(fused.named_buffers(), reference.buffers()):  # some running means are ~1e-16
        assert_rel_close(b, b_r, rtol=1e-10, atol=1e-12, name=name)


@pytest.mark.parametrize('channels_last', [False, True], ids=['nchw', 'channels_last'])
def test_emanet_fused_equals_reference_in_eval(channels_last):
    fused, reference = emanet_twins(torch.float32)
    scramble_(fused)  # non-trivial running statistics
    reference.load_state_dict(fused.state_dict(), strict=True)
    fused.eval()
    reference.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        outs_r = reference(x)
        if channels_last:
            fused = fused.to(memory_format=CL)
            x = x.contiguous(memory_format=CL)
        outs_f = fused(x)
    for i, (of, o_r) in enumerate(zip(outs_f, outs_r)):
        assert_rel_close(of, o_r, name=f'stage {i + 1} output')


def count_squeezes(model, x):
    """Number of EMCA.squeeze calls in one forward, and the number of EMCA gates."""
    with mock.patch.object(EMCA, 'squeeze', autospec=True, side_effect=EMCA.squeeze) as squeeze:
        model(x)
    return squeeze.call_count, sum(isinstance(m, EMCA) for m in model.modules())


@pytest.mark.parametrize('host', ['se', 'eca', 'srm'])
@pytest.mark.parametrize('prev_stages,prev_blocks', [(1, 'all'), ('all', 'all'), (1, 1), (0, 0)])
def test_emca_descriptors_are_pooled_once_per_tapped_block(host, prev_stages, prev_blocks):
    """Each tapped block output is squeezed exactly once, however many gates use it; each gate squeezes
    only its own input."""
    model = EMCAResNet(depth=18, host=host, prev_stages=prev_stages, prev_blocks=prev_blocks).eval()
    calls, gates = count_squeezes(model, torch.randn(2, 3, 64, 64))
    assert gates == 4
    tapped = {src for stage in range(4) for src in model.tap_sources(stage)}
    assert calls == len(tapped) + gates
    uses = sum(len(model.tap_sources(stage)) for stage in range(4))
    if prev_stages == 'all':
        assert uses > len(tapped)  # descriptors are shared, not recomputed


def style_pool_by_torch_var(x):
    flat = x.flatten(2)
    return torch.stack((flat.mean(2), (flat.var(2) + 1e-5).sqrt()), dim=2)


@pytest.mark.parametrize('slice_bytes', [srm._CPU_SLICE_BYTES, 2 * 6 * 7 * 8 * 8])  # one slice; 2 + 2 + 1 samples
@pytest.mark.parametrize('fmt', [torch.contiguous_format, CL])
def test_style_pool_equals_torch_var_with_gradients(monkeypatch, slice_bytes, fmt):
    """The sliced two-pass style pooling and its closed-form backward against autograd through torch.var."""
    monkeypatch.setattr(srm, '_CPU_SLICE_BYTES', slice_bytes)
    x = (torch.randn(5, 6, 7, 8, dtype=torch.float64) * 0.5 + 3).contiguous(memory_format=fmt)
    grad = torch.randn(5, 6, 2, dtype=torch.float64)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    for pool, xi in zip((srm.style_pool, style_pool_by_torch_var), xs):
        pool(xi).backward(grad)
    torch.testing.assert_close(srm.style_pool(x), style_pool_by_torch_var(x), rtol=1e-12, atol=0)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(srm.style_pool, (xs[0].detach()[:2, :3, :4, :5].requires_grad_(), ))


def test_style_pool_is_accurate_far_from_zero_in_float32():
    """Two-pass: a mean 200 standard deviations away from zero costs no accuracy (a one-pass E[x^2] - E[x]^2
    would lose about half of the digits)."""
    x = torch.randn(4, 8, 16, 16, dtype=torch.float64) * 0.5 + 100
    expected = style_pool_by_torch_var(x)
    assert_rel_close(srm.style_pool(x.float())[..., 1], expected[..., 1], rtol=1e-6)
