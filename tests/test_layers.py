"""Attention layers (MA, SoftBAN, PSA, SE / ECA / SRM / FcaNet gates, EMCA): the published definitions,
checked on CPU against hand-computed expectations, the stock mmcv builders and the stock mmdet ResNet."""
import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer, build_plugin_layer
from mmcv.cnn.bricks.plugin import infer_abbr
from mmengine.registry import DefaultScope
from torch import nn

import mmemanet  # noqa: F401  (registers the layers)
from mmemanet.analysis import count_parameters
from mmemanet.models.layers import (EMCA, ECAGate, FcaGate, MixtureAttention, PyramidSplitAttention, SEGate, SoftBAN,
                                    SRMGate)
from mmemanet.models.layers.branches import branch_weights

from emanet_reference_impl import RefMA, ma_views

REGISTERED = (MixtureAttention, PyramidSplitAttention, SoftBAN, SEGate, ECAGate, SRMGate, FcaGate, EMCA)
GATES = {'se': SEGate, 'eca': ECAGate, 'srm': SRMGate}


def randomize_(module, generator_seed=0):
    """Give every parameter and BN running statistic of ``module`` non-trivial random values."""
    gen = torch.Generator().manual_seed(generator_seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith('num_batches_tracked'):
                tensor.fill_(3)
            elif name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=gen)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.5)
    return module


# --------------------------------------------------------------------------------------------------
# Hand-written excitations: what each host gate computes on a descriptor, from its own weights.
# --------------------------------------------------------------------------------------------------
def batch_norm_by_hand(z, bn):
    """BatchNorm of ``z: [B, C]`` written out (batch statistics in train mode, running ones in eval)."""
    if bn.training:
        mean, var = z.mean(0), z.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    return (z - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def se_logits(gate, z):
    w1, w2 = gate.fc[0].weight, gate.fc[2].weight
    return torch.relu(z @ w1.t()) @ w2.t()


def eca_logits(gate, z):
    """``s_c = sum_j w_j z_{c + j - (k - 1) / 2}``, zero outside the channel range."""
    w = gate.conv.weight.view(-1)
    half = (len(w) - 1) // 2
    padded = F.pad(z, (half, half))
    return sum(w[j] * padded[:, j:j + z.shape[1]] for j in range(len(w)))


def srm_logits(gate, t):
    """``t: [B, C, 2]`` = [mean, std] -> BN(cfc_0 * mean + cfc_1 * std)."""
    return batch_norm_by_hand(gate.cfc[:, 0] * t[..., 0] + gate.cfc[:, 1] * t[..., 1], gate.bn)


def style_pool_by_hand(x):
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w)
    mean = flat.sum(2) / (h * w)
    var = ((flat - mean[..., None]) ** 2).sum(2) / (h * w - 1)
    return torch.stack((mean, torch.sqrt(var + 1e-5)), dim=2)


HAND = {'se': (lambda x: x.mean((2, 3)), se_logits),
        'eca': (lambda x: x.mean((2, 3)), eca_logits),
        'srm': (style_pool_by_hand, srm_logits)}


# --------------------------------------------------------------------------------------------------
# MA against the independent per-branch formulation (tests/emanet_reference_impl.py, reference key layout).
# --------------------------------------------------------------------------------------------------
def softban_channels(tensor, ch):
    """Channels ``ch`` of a SoftBAN state tensor: ``[1, C, 1, 1]`` parameters, ``[C]`` running statistics."""
    return tensor[:, ch] if tensor.dim() == 4 else tensor[ch]


def copy_into_ma(ref, ma):
    target = ma_views(ma.state_dict())
    with torch.no_grad():
        for key, value in ref.state_dict().items():
            target[key].copy_(value)


def assert_same_tensors(ref_tensors, ma_tensors):
    views = ma_views(ma_tensors)
    for key, value in ref_tensors.items():
        torch.testing.assert_close(views[key], value, msg=key)


@pytest.mark.parametrize('impl', MixtureAttention.IMPLS)
@pytest.mark.parametrize('in_channels,p,stride', [(64, 64, 1), (128, 64, 2)])
def test_ma_equals_independent_per_branch_formulation(impl, in_channels, p, stride):
    torch.manual_seed(0)
    # float64: the two formulations sum in different orders, and float32 round-off in gradients summed
    # over many positions would hide a real difference behind loose tolerances
    ref = randomize_(RefMA(in_channels, p, stride)).double()
    ma = MixtureAttention(in_channels, p, stride=stride, impl=impl).double()
    copy_into_ma(ref, ma)
    x = torch.randn(3, in_channels, 10, 10, dtype=torch.float64)

    for training in (True, False):
        ref.train(training)
        ma.train(training)
        x_ref, x_ma = x.clone().requires_grad_(), x.clone().requires_grad_()
        y_ref, y_ma = ref(x_ref), ma(x_ma)
        assert y_ma.shape == (3, p, 10 // stride, 10 // stride)
        torch.testing.assert_close(y_ma, y_ref)
        grad_out = torch.randn_like(y_ref)
        y_ref.backward(grad_out)
        y_ma.backward(grad_out)
        torch.testing.assert_close(x_ma.grad, x_ref.grad)
        assert_same_tensors({k: v.grad for k, v in ref.named_parameters()},
                            {k: v.grad for k, v in ma.named_parameters()})
        ref.zero_grad()
        ma.zero_grad()
        # running statistics and num_batches_tracked move (train) or stay (eval) exactly alike
        assert_same_tensors(ref.state_dict(), ma.state_dict())
    assert int(ma.bn1.num_batches_tracked) == 4 and int(ma.softban.num_batches_tracked) == 4


def test_ma_output_channel_order_is_reversed_branches():
    """With the SE's last conv zeroed every branch weight is 1/4, so output block j is 1/4 of branch n-1-j:
    changing branch 1 (k = 3) must change only the LAST 16 of the 64 channels."""
    torch.manual_seed(0)
    ma = MixtureAttention(64).eval()
    with torch.no_grad():
        ma.se.fc[2].weight.zero_()
    x = torch.randn(2, 64, 6, 6)
    base = ma(x)
    with torch.no_grad():
        ma.branch_convs[0].weight.mul_(2)
    changed = (ma(x) - base).abs().amax(dim=(0, 2, 3)) > 0
    assert changed[48:].all() and not changed[:48].any()


def test_branch_softmax_sums_to_one_per_channel():
    torch.manual_seed(0)
    ma = MixtureAttention(128)
    feats = torch.randn(3, 128, 5, 5)
    w = branch_weights(feats, ma.se, 4).view(3, 4, 32)
    torch.testing.assert_close(w.sum(1), torch.ones(3, 32))
    logits = torch.stack([ma.se.fc(feats[:, 32 * j:32 * (j + 1)].mean((2, 3), keepdim=True)).sigmoid()
                          for j in range(4)], dim=1).view(3, 4, 32)
    torch.testing.assert_close(w, logits.exp() / logits.exp().sum(1, keepdim=True))


# --------------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------------
def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_ma_parameter_counts_at_p64():
    ma = MixtureAttention(64)
    assert count_parameters(ma) == dict(true=34_097, thop=33_841)
    assert n_params(ma.softban) == 4 * 64 == 256
    # per branch, c = 16: conv 64/g * 16 * k^2; BN 32; depthwise 16 * 81 + 16; BN 32; SoftBAN 64;
    # 1x1 16 * 16 + 16; BN 32  ->  64/g * 16 * k^2 + 1,744
    per_branch = [n_params(getattr(RefMA(64, 64), f'conv_{i}')) for i in range(1, 5)]
    assert per_branch == [10_960, 8_144, 8_016, 6_928]
    assert [64 // g * 16 * k * k + 1_744 for k, g in zip((3, 5, 7, 9), (1, 4, 8, 16))] == per_branch
    assert n_params(ma.se) == (16 * 1 + 1) + (1 * 16 + 16) == 49
    assert sum(per_branch) + 49 == n_params(ma)


def test_psa_parameter_count():
    # four bias-free branch convs 64/g * 16 * k^2, plus the shared SE with biases (49)
    assert n_params(PyramidSplitAttention(64)) == 9_216 + 6_400 + 6_272 + 5_184 + 49


@pytest.mark.parametrize('channels,ratio', [(64, 16), (256, 16), (512, 8)])
def test_se_parameter_count(channels, ratio):
    assert n_params(SEGate(channels, ratio=ratio)) == 2 * channels ** 2 // ratio
    assert n_params(FcaGate(channels, ratio=ratio)) == 2 * channels ** 2 // ratio  # DCT basis is a buffer


@pytest.mark.parametrize('channels,kernel', [(64, None), (2048, None), (256, 7)])
def test_eca_parameter_count(channels, kernel):
    gate = ECAGate(channels, kernel_size=kernel)
    assert n_params(gate) == gate.conv.kernel_size[0] == (kernel or ECAGate.adaptive_kernel_size(channels))


@pytest.mark.parametrize('channels', [64, 512])
def test_srm_parameter_count(channels):
    assert count_parameters(SRMGate(channels)) == dict(true=4 * channels, thop=2 * channels)


@pytest.mark.parametrize('host', sorted(GATES))
@pytest.mark.parametrize('tap_channels', [(), (64,), (64, 128, 128)])
def test_emca_adds_r_fusion_weights_to_its_host(host, tap_channels):
    emca = EMCA(256, host=host, tap_channels=tap_channels)
    r = 1 + len(tap_channels)
    host_counts = count_parameters(GATES[host](256))
    # the fusion weights are a Conv1d(1, 1, R, stride R): thop sees them, as in the published EMCA counts
    assert count_parameters(emca) == dict(true=host_counts['true'] + r, thop=host_counts['thop'] + r)
    assert emca.fusion_weight.shape == (1 + len(tap_channels),)


# --------------------------------------------------------------------------------------------------
# SoftBAN
# --------------------------------------------------------------------------------------------------
def bn_by_hand(x, mean, var, eps=1e-5):
    return (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + eps)


def test_softban_at_init_is_bn_over_c_in_train_and_eval():
    torch.manual_seed(0)
    layer = SoftBAN(8)
    x = torch.randn(4, 8, 5, 5) * 3 + 1
    batch_mean, batch_var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    torch.testing.assert_close(layer(x), bn_by_hand(x, batch_mean, batch_var) / 8)

    layer.eval()
    with torch.no_grad():
        layer.running_mean.copy_(torch.linspace(-1, 1, 8))
        layer.running_var.copy_(torch.linspace(0.5, 4, 8))
    torch.testing.assert_close(layer(x), bn_by_hand(x, layer.running_mean, layer.running_var) / 8)


def test_softban_formula_with_trained_tensors():
    torch.manual_seed(0)
    layer = randomize_(SoftBAN(6)).eval()
    x = torch.randn(3, 6, 4, 4)
    gate = torch.sigmoid(x.mean((2, 3), keepdim=True) * layer.weight_readjust + layer.bias_readjust)
    scale = layer.weight * gate.exp() / gate.exp().sum(1, keepdim=True)
    expected = bn_by_hand(x, layer.running_mean, layer.running_var) * scale + layer.bias
    torch.testing.assert_close(layer(x), expected)


def test_softban_initial_tensors_and_softmax_groups():
    layer = SoftBAN(4)
    for name, value in (('weight', 1.0), ('bias', 0.0), ('weight_readjust', 0.0), ('bias_readjust', -1.0)):
        assert torch.equal(getattr(layer, name), torch.full((1, 4, 1, 1), value))
    torch.manual_seed(0)
    grouped, halves = randomize_(SoftBAN(8, softmax_groups=2)), [SoftBAN(4), SoftBAN(4)]
    for j, half in enumerate(halves):
        for name, tensor in half.state_dict().items():
            if name != 'num_batches_tracked':
                tensor.copy_(softban_channels(grouped.state_dict()[name], slice(4 * j, 4 * j + 4)))
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(grouped(x), torch.cat([half(x[:, 4 * j:4 * j + 4]) for j, half in enumerate(halves)], 1))


@pytest.mark.parametrize('momentum', [0.1, None])
def test_softban_running_stats_follow_batchnorm2d(momentum):
    torch.manual_seed(0)
    layer, bn = SoftBAN(5, momentum=momentum), nn.BatchNorm2d(5, momentum=momentum, affine=False)
    for _ in range(3):
        x = torch.randn(4, 5, 3, 3) * 2 + 0.5
        layer(x), bn(x)
    for name in ('running_mean', 'running_var', 'num_batches_tracked'):
        torch.testing.assert_close(getattr(layer, name), getattr(bn, name))
    assert int(layer.num_batches_tracked) == 3
    layer.eval(), bn.eval()
    x = torch.randn(2, 5, 3, 3)
    torch.testing.assert_close(layer(x), bn(x) / 5)
    assert int(layer.num_batches_tracked) == 3


@pytest.mark.parametrize('scope', [None, 'mmdet', 'mmpretrain'])
def test_softban_through_build_norm_layer(scope, default_scope):
    with default_scope(scope):
        name, layer = build_norm_layer(dict(type='SoftBAN'), 32, postfix=1)
    assert name == 'softban1' and type(layer) is SoftBAN and layer.num_features == 32
    assert n_params(layer) == 4 * 32


# --------------------------------------------------------------------------------------------------
# Gates and EMCA
# --------------------------------------------------------------------------------------------------
def test_eca_adaptive_and_explicit_kernels():
    assert [ECAGate(c).conv.kernel_size[0] for c in (64, 256, 512, 1024, 2048)] == [3, 5, 5, 5, 7]
    # the published ECA-ResNet-50 passes 3, 5, 5, 7 for its four stages
    assert [ECAGate(c, kernel_size=k).conv.kernel_size[0]
            for c, k in zip((256, 512, 1024, 2048), (3, 5, 5, 7))] == [3, 5, 5, 7]


@pytest.mark.parametrize('host', sorted(GATES))
def test_gate_alone_matches_hand_computation(host):
    torch.manual_seed(0)
    gate = randomize_(GATES[host](32))
    x = torch.randn(4, 32, 5, 5)
    x[:, 0] = 1.5  # a constant channel: its SRM std is sqrt(0 + 1e-5)
    pool, logits = HAND[host]
    for training in (True, False):  # SRM's BatchNorm: batch statistics, then running ones
        gate.train(training)
        torch.testing.assert_close(gate(x), x * torch.sigmoid(logits(gate, pool(x)))[:, :, None, None])


def dct_1d(freq, size):
    return torch.tensor([math.cos(math.pi * freq * (i + 0.5) / size) for i in range(size)]) * \
        math.sqrt((1 if freq == 0 else 2) / size)


def test_fca_gate_dct_squeeze():
    torch.manual_seed(0)
    gate = randomize_(FcaGate(32, dct_size=14))  # 16 groups of 2 channels; frequencies scaled by 14 // 7 = 2
    x = torch.randn(2, 32, 28, 28)
    pooled = F.avg_pool2d(x, 2)  # adaptive pooling 28 -> 14
    # group 0: (u, v) = (0, 0), the constant basis 1/14; group 2: (u, v) = (6, 0) -> (12, 0)
    torch.testing.assert_close(gate.squeeze(x)[:, :2], pooled[:, :2].sum((2, 3)) / 14)
    basis = dct_1d(12, 14)[:, None] * dct_1d(0, 14)[None]
    torch.testing.assert_close(gate.squeeze(x)[:, 4:6], (pooled[:, 4:6] * basis).sum((2, 3)))
    z = gate.squeeze(x)
    torch.testing.assert_close(gate(x), x * torch.sigmoid(se_logits(gate, z))[:, :, None, None])


@pytest.mark.parametrize('host', sorted(GATES))
def test_emca_with_all_weight_on_z0_is_host_on_relu_gap(host):
    torch.manual_seed(0)
    emca = randomize_(EMCA(32, host=host, tap_channels=(16, 32)))
    with torch.no_grad():
        emca.fusion_weight.copy_(torch.tensor([1.0, 0.0, 0.0]))
    x = torch.randn(4, 32, 5, 5)
    taps = [emca.squeeze(torch.randn(4, 16, 9, 9)), emca.squeeze(torch.randn(4, 32, 7, 7))]
    pool, logits = HAND[host]
    s = torch.sigmoid(logits(emca.host, torch.relu(pool(x))))[:, :, None, None]
    torch.testing.assert_close(emca(x, taps), x * s)
    emca.scaling = 'one_plus'
    torch.testing.assert_close(emca(x, taps), x * (1 + s))


@pytest.mark.parametrize('host', sorted(GATES))
def test_emca_tiles_earlier_descriptors_by_repeat(host):
    torch.manual_seed(0)
    emca = randomize_(EMCA(48, host=host, tap_channels=(16,))).eval()
    with torch.no_grad():
        emca.fusion_weight.copy_(torch.tensor([0.25, 0.75]))
    x, earlier = torch.randn(2, 48, 5, 5), torch.randn(2, 16, 8, 8)
    pool, logits = HAND[host]
    tiled = torch.cat([pool(earlier)] * 3, dim=1)  # channel c of the C-vector is channel c % 16 of the tap
    m = torch.relu(0.25 * pool(x) + 0.75 * tiled)
    expected = x * torch.sigmoid(logits(emca.host, m))[:, :, None, None]
    torch.testing.assert_close(emca(x, [emca.squeeze(earlier)]), expected)
    interleaved = torch.relu(0.25 * pool(x) + 0.75 * pool(earlier).repeat_interleave(3, dim=1))
    assert not torch.allclose(expected, x * torch.sigmoid(logits(emca.host, interleaved))[:, :, None, None])


def test_emca_uniscale_is_explicit_and_multiscale_needs_its_taps():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 4, 4)
    uni = EMCA(16)
    assert uni.tap_channels == () and uni.fusion_weight.tolist() == [1.0]
    assert uni(x).shape == x.shape
    multi = EMCA(16, tap_channels=(8, 16))
    with pytest.raises(ValueError, match=r'built for 2 earlier descriptors .*got 0'):
        multi(x)
    with pytest.raises(ValueError, match=r'has 16 channels where tap_channels says 8'):
        multi(x, [multi.squeeze(x), multi.squeeze(x)])


def test_emca_fusion_init():
    assert EMCA(16, tap_channels=(8, 8, 16)).fusion_weight.tolist() == [0.25] * 4
    torch.manual_seed(0)
    weight = EMCA(16, tap_channels=(8, 8, 16), fusion_init='default').fusion_weight
    assert weight.abs().max() <= 0.5 and len(set(weight.tolist())) == 4


# --------------------------------------------------------------------------------------------------
# Bad settings fail at construction, naming the numbers
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('build,match', [
    (lambda: MixtureAttention(96), r'out_channels=96 .*multiple of 64'),
    (lambda: PyramidSplitAttention(32), r'out_channels=32 .*multiple of 64'),
    (lambda: MixtureAttention(64, kernels=(3, 5, 7), groups=(1, 4, 8, 16)), r'kernels=\(3, 5, 7\).*got 3 and 4'),
    (lambda: MixtureAttention(64, kernels=(3, 4, 7, 9)), r'contains \[4\].*must be odd'),
    (lambda: MixtureAttention(64, mixer_kernel=8), r'mixer_kernel=8'),
    (lambda: MixtureAttention(64, impl='fast'), r"impl='fast'.*'fused', 'reference'"),
    (lambda: EMCA(64, host='cbam'), r"host='cbam'.*'se', 'eca', 'srm'"),
    (lambda: EMCA(64, tap_channels=(32, 48)), r'in_channels=64 cannot be tiled .*\[48\]'),
    (lambda: EMCA(64, scaling='add'), r"scaling='add'.*'mul', 'one_plus'"),
    (lambda: ECAGate(64, kernel_size=4), r'kernel_size=4 must be a positive odd'),
    (lambda: EMCA(64, host='eca', host_cfg=dict(kernel_size=6)), r'kernel_size=6'),
    (lambda: SEGate(8, ratio=16), r'in_channels=8 // ratio=16'),
    (lambda: FcaGate(40), r'in_channels=40 must be a multiple of 16'),
    (lambda: SoftBAN(10, softmax_groups=4), r'softmax_groups=4 .*num_features=10'),
])
def test_bad_settings_fail_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_srm_refuses_a_single_position():
    with pytest.raises(ValueError, match=r'1 x 1 map'):
        SRMGate(8)(torch.randn(2, 8, 1, 1))


# --------------------------------------------------------------------------------------------------
# Gradients, registry, mmdet ResNet plugins, docstrings
# --------------------------------------------------------------------------------------------------
MODULE_CASES = {  # name -> (builder, input shape)
    'ma_fused': (lambda: MixtureAttention(64), (2, 64, 6, 6)),
    'ma_reference': (lambda: MixtureAttention(64, impl='reference'), (2, 64, 6, 6)),
    'psa': (lambda: PyramidSplitAttention(64), (2, 64, 6, 6)),
    'softban': (lambda: SoftBAN(8), (2, 8, 4, 4)),
    'se': (lambda: SEGate(32), (2, 32, 4, 4)),
    'eca': (lambda: ECAGate(32), (2, 32, 4, 4)),
    'srm': (lambda: SRMGate(32), (2, 32, 4, 4)),
    'fca': (lambda: FcaGate(32), (2, 32, 7, 7)),
    **{f'emca_{host}': (lambda host=host: EMCA(32, host=host, tap_channels=(16, 32)), (2, 32, 4, 4))
       for host in GATES},
}


@pytest.mark.parametrize('case', sorted(MODULE_CASES))
def test_gradients_reach_every_parameter(case):
    torch.manual_seed(0)
    build, shape = MODULE_CASES[case]
    module = randomize_(build())
    x = torch.randn(shape, requires_grad=True)
    if isinstance(module, EMCA):
        taps = [module.squeeze(torch.randn(shape[0], c, 5, 5)) for c in module.tap_channels]
        y = module(x, taps)
    else:
        y = module(x)
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, param in module.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


PLUGIN_CHANNELS = {MixtureAttention: 64, PyramidSplitAttention: 128, SEGate: 256, ECAGate: 256, SRMGate: 256,
                   FcaGate: 256, EMCA: 256}  # SoftBAN, a norm layer: see test_softban_through_build_norm_layer


@pytest.fixture
def default_scope(monkeypatch):
    """``default_scope(name)``: a context with mmengine's DefaultScope set to ``name`` (None: no scope at all,
    whatever other tests in this process have initialised)."""
    monkeypatch.setattr(DefaultScope, '_instance_dict', OrderedDict())

    def scope(name):
        return DefaultScope.overwrite_default_scope(name)
    return scope


@pytest.mark.parametrize('scope', [None, 'mmdet', 'mmpretrain'])
def test_build_plugin_layer_in_every_scope(scope, default_scope):
    for cls, channels in PLUGIN_CHANNELS.items():
        with default_scope(scope):
            assert (DefaultScope.get_current_instance() is None) == (scope is None)
            name, layer = build_plugin_layer(dict(type=cls.__name__), in_channels=channels, postfix='_1')
        assert name == f'{cls._abbr_}_1' and type(layer) is cls
        x = torch.randn(2, channels, 8, 8)
        assert layer(x).shape == x.shape


RESNET_PLUGINS = [
    (dict(type='MixtureAttention'), 'after_conv2'),
    (dict(type='PyramidSplitAttention'), 'after_conv2'),
    (dict(type='SEGate'), 'after_conv3'),
    (dict(type='ECAGate'), 'after_conv3'),
    (dict(type='SRMGate'), 'after_conv3'),
    (dict(type='FcaGate'), 'after_conv3'),
    (dict(type='EMCA', host='se'), 'after_conv3'),
    (dict(type='EMCA', host='eca'), 'after_conv3'),
    (dict(type='EMCA', host='srm', scaling='one_plus'), 'after_conv3'),
]


@pytest.mark.parametrize('cfg,position', RESNET_PLUGINS,
                         ids=[f"{c['type']}-{c.get('host', '')}" for c, _ in RESNET_PLUGINS])
def test_plugin_in_stock_mmdet_resnet50(cfg, position):
    from mmdet.models.backbones import ResNet
    torch.manual_seed(0)
    model = ResNet(depth=50, out_indices=(0, 1, 2, 3),
                   plugins=[dict(cfg=cfg, stages=(True, True, True, True), position=position)])
    model.init_weights()
    model.train()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    sum(o.mean() for o in outs).backward()
    cls = {c.__name__: c for c in REGISTERED}[cfg['type']]
    plugins = [m for m in model.modules() if type(m) is cls]
    assert len(plugins) == 16
    for plugin in (plugins[0], plugins[-1]):
        for name, param in plugin.named_parameters():
            assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_abbreviations_and_docstrings():
    abbrs = [cls.__dict__.get('_abbr_') for cls in REGISTERED]
    assert abbrs == ['ma', 'psa', 'softban', 'se', 'eca', 'srm', 'fca', 'emca']
    assert [infer_abbr(cls) for cls in REGISTERED] == abbrs
    for cls in REGISTERED:
        assert cls.__doc__ and '[B, ' in cls.__doc__ and 'Args:' in cls.__doc__, cls.__name__


@pytest.mark.parametrize('build', [lambda: SEGate(16), lambda: SRMGate(16), lambda: EMCA(16, host='eca')],
                         ids=['se', 'srm', 'emca'])
def test_gates_overwrite_their_input_only_when_autograd_is_not_recording(build):
    """``inplace=True`` (what the residual blocks pass) reuses the input's memory in inference only."""
    gate = build().eval()
    x = torch.randn(2, 16, 5, 5)
    expected = gate(x)
    with torch.no_grad():
        y = gate(x.clone(), inplace=True)
        z = x.clone()
        assert gate(z, inplace=True).data_ptr() == z.data_ptr()
    torch.testing.assert_close(y, expected)
    leaf = x.clone().requires_grad_()
    y = gate(leaf, inplace=True)
    assert y.data_ptr() != leaf.data_ptr() and torch.equal(leaf.detach(), x)
    y.sum().backward()
    assert leaf.grad is not None
