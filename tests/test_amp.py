"""Mixed precision: under ``torch.autocast`` every statistic that feeds a gate (GAP, SRM mean / std, SoftBAN's
pooled gate and channel softmax, MA's branch softmax, EMCA's fusion) runs in float32 and only the factors are
cast back to the map's dtype. Checked on the CPU: bfloat16 autocast against float32 for every module and for
whole EMANet / EMCA-ResNet backbones (forward and backward), and float16 autocast with inputs whose squares
overflow float16 (the known failure of a half-precision sum of squares)."""
import copy

import pytest
import torch

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.models.backbones import EMANet, EMCAResNet
from mmemanet.models.layers import (EMCA, ECAGate, FcaGate, MixtureAttention, PyramidSplitAttention, SEGate, SoftBAN,
                                    SRMGate)
from mmemanet.models.layers.branches import BranchSE, branch_weights

from randomized import scramble_

# Tolerances, as relative errors of whole tensors (||amp - fp32|| / ||fp32||). bfloat16 keeps 8 significant
# bits (round-off 2^-9 = 0.2 % per rounding); a gate rounds a few times (measured 0.2-0.6 %), MA a few tens of
# times behind three training-mode batch norms (2.4 %), a backbone a few hundred times. A single parameter
# tensor is judged against its own norm plus its share of the whole gradient's norm, with a looser bound:
# gradients that nearly cancel (MA's softban.bias, behind GELU + a training-mode batch norm: measured 10 %)
# keep bfloat16 noise of that order, whatever precision the statistics use.
MODULE_TOL = 4e-2
MODULE_GRAD_TOL = 5e-2
TENSOR_GRAD_TOL = 2e-1
# Whole backbones at initialisation, batch 4 at 32 x 32: in eval mode (per-sample gate statistics, running
# batch-norm statistics) measured outputs 0.4-0.9 %, gradients 4-12 %. In training mode the last stages
# normalise over 64 values per channel and amplify round-off: outputs 3-9 %, and the gradients differ by
# 25-45 % with or without float32 statistics (the same before this change), so they are only checked finite.
NET_TOL = 3e-2
NET_GRAD_TOL = 2e-1
NET_TRAIN_TOL = 1.5e-1


def rel_err(actual, expected):
    actual, expected = actual.detach().double(), expected.detach().double()
    return float((actual - expected).norm() / expected.norm())


# (name, builder, input shape, whether the module's input arrives in the autocast dtype): the gates and
# SoftBAN sit behind a convolution, which under autocast hands them a half-precision map; MA and PSA start
# with their own convolutions, which autocast runs in half precision from a float32 input.
MODULES = [
    ('se', lambda: SEGate(64), (2, 64, 8, 8), True),
    ('eca', lambda: ECAGate(64), (2, 64, 8, 8), True),
    ('srm', lambda: SRMGate(64), (2, 64, 8, 8), True),
    ('fca', lambda: FcaGate(64, dct_size=7), (2, 64, 7, 7), True),
    ('softban', lambda: SoftBAN(64), (2, 64, 8, 8), True),
    ('softban_groups', lambda: SoftBAN(64, softmax_groups=4), (2, 64, 8, 8), True),
    ('emca_se_uniscale', lambda: EMCA(64, host='se'), (2, 64, 8, 8), True),
    ('ma_fused', lambda: MixtureAttention(64), (2, 64, 8, 8), False),
    ('ma_reference', lambda: MixtureAttention(64, impl='reference'), (2, 64, 8, 8), False),
    ('psa', lambda: PyramidSplitAttention(64), (2, 64, 8, 8), False),
]


def forward_backward(module, x, grad_out, dtype=None):
    """``(output, input gradient, {name: parameter gradient})`` of one training-mode forward + backward,
    under CPU autocast to ``dtype`` (None: float32, no autocast)."""
    module.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        y = module(x)
    y.backward(grad_out.to(y.dtype))
    return y, x.grad, {n: p.grad for n, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('name,build,shape,half_input', MODULES, ids=[m[0] for m in MODULES])
def test_module_under_bf16_autocast_follows_fp32(name, build, shape, half_input):
    """Output, input gradient and every parameter gradient within the stated tolerances of float32 (computed
    from the same bfloat16-rounded input), and the output in the map's half-precision dtype."""
    torch.manual_seed(0)
    module = scramble_(build()).train()
    amp_module = copy.deepcopy(module)
    x = torch.randn(shape).bfloat16().float()  # representable in bfloat16: only the module's round-off counts
    grad_out = torch.randn(module(x).shape).bfloat16().float()
    y32, gx32, gp32 = forward_backward(module, x, grad_out)
    y16, gx16, gp16 = forward_backward(amp_module, x.bfloat16() if half_input else x, grad_out, torch.bfloat16)
    assert y16.dtype == torch.bfloat16
    assert rel_err(y16, y32) < MODULE_TOL, f'{name} output'
    assert rel_err(gx16, gx32) < MODULE_GRAD_TOL, f'{name} input gradient'
    assert gp16.keys() == gp32.keys()
    all32, all16 = (torch.cat([g[key].flatten() for key in gp32]) for g in (gp32, gp16))
    assert rel_err(all16, all32) < MODULE_GRAD_TOL, f'{name} parameter gradients'
    for key in gp32:
        assert gp16[key].dtype == torch.float32, key  # parameters and their gradients stay float32
        share = all32.norm() * (gp32[key].numel() / all32.numel())**0.5
        err = (gp16[key] - gp32[key]).norm() / (gp32[key].norm() + share)
        assert err < TENSOR_GRAD_TOL, f'{name} gradient of {key}: {float(err):.3g}'


@pytest.mark.parametrize('gate', [SEGate(32), ECAGate(32), SRMGate(32), EMCA(32, host='srm', tap_channels=(16, )),
                                  EMCA(32, host='eca', tap_channels=(16, ))],
                         ids=['se', 'eca', 'srm', 'emca_srm', 'emca_eca'])
def test_gate_statistics_are_float32_and_factors_follow_the_map(gate):
    """The descriptor a gate pools (also what EMCA taps are) is float32; the factors it applies are in the map's
    dtype, so the gated map stays half precision (no float32 copy of a feature map)."""
    x = torch.randn(2, 32, 6, 6, dtype=torch.bfloat16)
    taps = (gate.squeeze(torch.randn(2, 16, 12, 12, dtype=torch.bfloat16)), ) if isinstance(gate, EMCA) else ()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert gate.squeeze(x).dtype == torch.float32
        assert all(t.dtype == torch.float32 for t in taps)
        scale = gate.scale(x, taps) if taps else gate.scale(x)
        assert scale.dtype == torch.bfloat16 and scale.shape == (2, 32, 1, 1)
        assert gate(x, taps).dtype == torch.bfloat16 if taps else gate(x).dtype == torch.bfloat16


def test_branch_softmax_runs_in_float32():
    """MA's / PSA's branch weights: the shared SE returns float32 weights from a half-precision map, the
    softmax across branches runs on them, and the result comes back in the map's dtype, summing to 1."""
    se = BranchSE(16, ratio=4)
    feats = torch.randn(2, 64, 5, 5, dtype=torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert se(feats[:, :16]).dtype == torch.float32
        w = branch_weights(feats, se, 4)
    assert w.dtype == torch.bfloat16
    sums = w.float().view(2, 4, 16).sum(1)
    torch.testing.assert_close(sums, torch.ones_like(sums), atol=1e-2, rtol=0)  # bfloat16 weights


FP16_CASES = [(name, build, shape) for name, build, shape, half_input in MODULES if half_input]


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
@pytest.mark.parametrize('name,build,shape', FP16_CASES, ids=[c[0] for c in FP16_CASES])
def test_large_inputs_stay_finite(name, build, shape, dtype):
    """Maps of magnitude ~3e3 (squares ~1e7, beyond float16's 65504): the output stays finite and within the
    tolerance of float32 (a float16 sum of squares would be inf, and SRM's std with it); in bfloat16 the
    gradients stay finite too. (In float16 the backward of ``x * factors`` sums ``grad * x`` over H x W in
    float16, which overflows at this magnitude: there GradScaler's inf check is what catches it.)"""
    torch.manual_seed(0)
    module = scramble_(build()).train()
    x = (torch.randn(shape) * 3000 + 1000).to(dtype).float()
    grad_out = torch.randn(module(x).shape)
    y32, _, _ = forward_backward(copy.deepcopy(module), x, grad_out)
    y, gx, gp = forward_backward(module, x.to(dtype), grad_out, dtype)
    assert torch.isfinite(y).all(), name
    assert rel_err(y, y32) < MODULE_TOL, name
    if dtype == torch.bfloat16:
        assert torch.isfinite(gx).all() and all(torch.isfinite(g).all() for g in gp.values()), name


NETS = {
    'emanet18': lambda: EMANet(depth=18, stem='cifar', out_indices=(0, 1, 2, 3)),
    'emanet18_reference_ma': lambda: EMANet(depth=18, stem='cifar', ma_impl='reference', out_indices=(0, 1, 2, 3)),
    'emca_srm_resnet18': lambda: EMCAResNet(depth=18, host='srm', stem='cifar', out_indices=(0, 1, 2, 3)),
    'emca_se_resnet18': lambda: EMCAResNet(depth=18, host='se', stem='cifar', out_indices=(0, 1, 2, 3)),
}


def backbone_run(model, x, dtype=None):
    """Stage outputs, input gradient and all parameter gradients (concatenated) of one forward + backward of
    ``sum_i <out_i, r_i>`` with fixed random ``r_i``, under CPU autocast to ``dtype`` (None: float32)."""
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        outs = model(x)
    gen = torch.Generator().manual_seed(1)
    sum((o.float() * torch.randn(o.shape, generator=gen)).sum() for o in outs).backward()
    return outs, x.grad, torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize('name', [pytest.param(name, marks=pytest.mark.slow) if name.startswith('emanet') else name
                                  for name in NETS])  # the EMANets: ~5 s each
def test_backbone_under_bf16_autocast_follows_fp32(name):
    """A whole backbone, forward + backward. Eval mode: every stage output, the input gradient and all
    parameter gradients together within the stated tolerances of float32. Training mode: stage outputs
    within the looser tolerance, every gradient finite."""
    torch.manual_seed(0)
    net = NETS[name]()
    net.init_weights()
    x = torch.randn(4, 3, 32, 32).bfloat16().float()
    for training in (False, True):
        net.train(training)
        amp_net = copy.deepcopy(net)
        outs32, gx32, gp32 = backbone_run(net, x)
        outs16, gx16, gp16 = backbone_run(amp_net, x, torch.bfloat16)
        for i, (o16, o32) in enumerate(zip(outs16, outs32)):
            assert o16.dtype == torch.bfloat16
            assert rel_err(o16, o32) < (NET_TRAIN_TOL if training else NET_TOL), f'{name} stage {i}'
        assert torch.isfinite(gx16).all() and torch.isfinite(gp16).all()
        if not training:
            assert rel_err(gx16, gx32) < NET_GRAD_TOL, f'{name} input gradient'
            assert rel_err(gp16, gp32) < NET_GRAD_TOL, f'{name} parameter gradients'
