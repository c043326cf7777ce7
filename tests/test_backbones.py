"""EMANet / EMCA-ResNet / AttnResNet backbones: published sizes, both registries, training modes."""
import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmemanet  # noqa: F401
from mmemanet.analysis import build_target, count_parameters
from mmemanet.models.layers import SoftBAN

ECA_R50_KERNELS = [dict(type='ECAGate', kernel_size=k) for k in (3, 5, 5, 7)]

# CIFAR-10 head (10 classes), CIFAR stem: the EMANet paper's Table, true parameter counts.
CIFAR_MODELS = {
    'resnet50': (dict(type='AttnResNet', depth=50, stem='cifar'), 23_520_842),
    'eca_resnet50': (dict(type='AttnResNet', depth=50, stem='cifar', attention=ECA_R50_KERNELS),
                     23_520_922),
    'se_resnet50': (dict(type='AttnResNet', depth=50, stem='cifar',
                         attention=dict(type='SEGate', ratio=16)), 26_035_786),
    'epsanet50': (dict(type='AttnResNet', depth=50, stem='cifar', mixer=dict(type='PyramidSplitAttention')),
                  20_525_525),
    'emanet50': (dict(type='EMANet', depth=50, stem='cifar'), 21_191_061),
}


def classifier(backbone: dict, num_classes: int, in_channels: int) -> nn.Module:
    """An mmpretrain ImageClassifier, built in the mmpretrain scope whatever the current one is."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels)))


@pytest.mark.parametrize('name', sorted(CIFAR_MODELS))
def test_cifar_table_parameter_counts(name):
    backbone, expected = CIFAR_MODELS[name]
    model = classifier(backbone, num_classes=10, in_channels=2048)
    assert count_parameters(model)['true'] == expected


def test_emanet50_published_units():
    model = classifier(CIFAR_MODELS['emanet50'][0], num_classes=10, in_channels=2048)
    counts = count_parameters(model)
    softban = sum(p.numel() for m in model.modules() if isinstance(m, SoftBAN)
                  for p in m.parameters(recurse=False))
    assert softban == 15_104
    assert round(counts['true'] / 2**20, 3) == 20.209
    assert round(counts['thop'] / 2**20, 3) == 20.195  # the published 20.20M


# The EMCA paper's table: thop-visible params / 2^20 of each ImageNet classifier (1000 classes), the model of
# its config with the figure of its entry in configs/emca/metafile.yml.
EMCA_ROWS = [(host, depth) for host in ('eca', 'se', 'srm') for depth in (18, 34, 50)]


@pytest.mark.parametrize('host,depth', EMCA_ROWS)
def test_emca_published_parameter_counts(host, depth):
    built = build_target(f'emca_{host}_resnet{depth}')
    assert built.preset.published_params_m is not None
    assert round(count_parameters(built.model)['thop'] / 2**20, 3) == built.preset.published_params_m


def test_emca_adds_host_once_per_stage_plus_fusion_weights():
    plain = count_parameters(classifier(dict(type='AttnResNet', depth=50), 1000, 2048))['true']
    emca = count_parameters(classifier(dict(type='EMCAResNet', depth=50, host='se'),
                                       1000, 2048))['true']
    # SE once per stage (bias-free, r=16) + R fusion weights: R = 1, 1+3, 1+4, 1+6
    assert emca - plain == 696_320 + 17


ATTENTION_VARIANTS = {
    'plain': dict(type='AttnResNet'),
    'emanet': dict(type='EMANet'),
    'emca_se': dict(type='EMCAResNet', host='se'),
    'emca_eca': dict(type='EMCAResNet', host='eca'),
    'emca_srm': dict(type='EMCAResNet', host='srm', prev_stages='all'),
    'se': dict(type='AttnResNet', attention=dict(type='SEGate')),
    'eca': dict(type='AttnResNet', attention=dict(type='ECAGate')),
    'srm': dict(type='AttnResNet', attention=dict(type='SRMGate')),
    'fca': dict(type='AttnResNet', attention=dict(type='FcaGate')),
    'psa': dict(type='AttnResNet', mixer=dict(type='PyramidSplitAttention')),
}


@pytest.mark.parametrize('variant', sorted(ATTENTION_VARIANTS))
@pytest.mark.parametrize('stem', ['imagenet', 'cifar'])
@pytest.mark.parametrize('depth', [18, pytest.param(34, marks=pytest.mark.slow), 50,
                                   pytest.param(101, marks=pytest.mark.slow)])  # 34, 101: the full suite
def test_every_combination_builds_runs_and_has_the_right_outputs(depth, stem, variant):
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as CLS_MODELS
    cfg = dict(ATTENTION_VARIANTS[variant], depth=depth, stem=stem, out_indices=(0, 1, 2, 3))
    with torch.device('meta'):  # mmpretrain's entry: only which class it builds is checked here
        assert type(CLS_MODELS.build(copy.deepcopy(cfg))).__name__ == cfg['type']
    model = DET_MODELS.build(cfg)
    model.init_weights()
    size = 64 if stem == 'imagenet' else 32
    feats = model(torch.randn(2, 3, size, size))
    expansion = 1 if depth < 50 else 4
    first_stride = 4 if stem == 'imagenet' else 1
    assert len(feats) == 4
    for i, feat in enumerate(feats):
        side = size // (first_stride * 2**i)
        assert feat.shape == (2, 64 * 2**i * expansion, side, side)
    sum(f.mean() for f in feats).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_frozen_stages_freeze_parameters_and_norms():
    model = mmemanet.models.backbones.EMANet(depth=50, stem='imagenet', frozen_stages=2)
    model.train()
    for module in (model.conv1, model.bn1, model.layer1, model.layer2):
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert all(p.requires_grad for p in model.layer3.parameters())
    softbans = [m for m in model.layer1.modules() if isinstance(m, SoftBAN)]
    assert softbans and all(not m.training for m in softbans)
    running = model.layer1[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(model.layer1[0].bn1.running_mean, running)


def test_norm_eval_keeps_every_norm_in_eval_mode_softban_included():
    model = mmemanet.models.backbones.EMANet(depth=50, stem='imagenet', norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, (_BatchNorm, SoftBAN))]
    assert any(isinstance(m, SoftBAN) for m in norms)
    assert all(not m.training for m in norms)
    assert model.layer4.training  # the rest still trains


def test_plugins_on_basic_block_and_bottleneck():
    for depth, position in ((18, 'after_conv1'), (18, 'after_conv2'), (50, 'after_conv3')):
        plugins = [dict(cfg=dict(type='SEGate'), stages=(False, True, True, True),
                        position=position)]
        model = mmemanet.models.backbones.AttnResNet(depth=depth, plugins=plugins)
        assert not hasattr(model.layer1[0], 'se') and hasattr(model.layer2[0], 'se')
        model(torch.randn(1, 3, 64, 64))[0].sum().backward()


def test_unknown_plugin_position_names_the_valid_ones():
    plugins = [dict(cfg=dict(type='SEGate'), position='after_conv3')]
    with pytest.raises(ValueError, match=r"after_conv3.*\['after_conv1', 'after_conv2'\]"):
        mmemanet.models.backbones.AttnResNet(depth=18, plugins=plugins)


@pytest.mark.parametrize('cfg', [dict(type='EMANet', depth=50),
                                 dict(type='EMCAResNet', depth=18, host='srm')])
def test_with_cp_gives_the_same_outputs_and_gradients(cfg):
    from mmengine.registry import MODELS
    torch.manual_seed(0)
    plain = MODELS.build(dict(cfg, out_indices=(1, 3)))
    plain.init_weights()
    checkpointed = MODELS.build(dict(cfg, out_indices=(1, 3), with_cp=True))
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        inp = x.clone().requires_grad_()
        outs = model(inp)
        sum(o.square().mean() for o in outs).backward()
        grads.append((outs, inp.grad, {n: p.grad for n, p in model.named_parameters()}))
    for a, b in zip(grads[0][0], grads[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(grads[0][1], grads[1][1])
    for name, g in grads[0][2].items():
        torch.testing.assert_close(g, grads[1][2][name], msg=name)


def test_emca_routes_block_outputs_of_the_previous_stage():
    model = mmemanet.models.backbones.EMCAResNet(depth=50, host='eca')
    assert model.stage_taps == [[], [(0, 0), (0, 1), (0, 2)],
                                [(1, 0), (1, 1), (1, 2), (1, 3)],
                                [(2, b) for b in range(6)]]
    assert [len(model.get_submodule(f'layer{i}.0.attn').fusion_weight) for i in (1, 2, 3, 4)] \
        == [1, 4, 5, 7]
    assert model.get_submodule('layer1.1').attn is None
    every = mmemanet.models.backbones.EMCAResNet(depth=18, host='se', prev_stages='all',
                                                 prev_blocks=1, where='every')
    assert every.stage_taps[3] == [(0, 1), (1, 1), (2, 1)]
    assert every.get_submodule('layer4.1').attn is not None


def test_emca_gates_receive_the_pooled_block_outputs():
    """With all fusion weight on the LAST tap, stage 2's gate sees GAP(layer1 output)."""
    model = mmemanet.models.backbones.EMCAResNet(depth=18, host='se', stem='cifar',
                                                 out_indices=(0, ))
    model.eval()
    gate = model.layer2[0].attn
    with torch.no_grad():
        gate.fusion_weight.copy_(torch.tensor([0., 0., 1.]))
    seen = {}
    gate.register_forward_hook(lambda m, args, out: seen.update(taps=args[1]))
    (stage1, ) = model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(seen['taps'][1], gate.squeeze(stage1))


def test_bad_settings_fail_with_clear_messages():
    from mmemanet.models.backbones import AttnResNet, EMCAResNet
    with pytest.raises(ValueError, match=r'depth=42.*\[18, 34, 50, 101, 152\]'):
        AttnResNet(depth=42)
    with pytest.raises(ValueError, match=r"stem='tiny'"):
        AttnResNet(depth=18, stem='tiny')
    with pytest.raises(ValueError, match=r'prev_stages=2'):
        EMCAResNet(depth=18, prev_stages=2)
    with pytest.raises(ValueError, match=r'attention has 3 entries'):
        AttnResNet(depth=18, attention=[dict(type='SEGate')] * 3)
    with pytest.raises(ValueError, match=r'out_indices=\(4,\)'):
        AttnResNet(depth=18, out_indices=(4, ))


@pytest.mark.slow
@pytest.mark.parametrize('backbone', [
    dict(type='EMANet', depth=50, stem='imagenet'),
    dict(type='EMCAResNet', depth=50, host='eca'),
])
def test_stock_mmdet_faster_rcnn_with_only_the_backbone_swapped(tmp_path, backbone):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg_file = tmp_path / 'faster_rcnn_swap.py'
    cfg_file.write_text(
        "_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'\n"
        "custom_imports = dict(imports=['mmemanet'], allow_failed_imports=False)\n"
        f"model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3), frozen_stages=1, "
        f"norm_eval=True, **{backbone!r}))\n")
    cfg = Config.fromfile(str(cfg_file))
    init_default_scope('mmdet')
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    detector.train()
    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 96, 128]], num_items=[3, 2])
    data = detector.data_preprocessor(packed, True)
    losses = detector(**data, mode='loss')
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v) for k, v in losses.items()
                if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()


def test_emanet50_macs_in_published_units():
    """About 1.12 x 2^30 multiply-accumulates at 32x32 (published 1.119G), via mmengine's counter."""
    from mmemanet.analysis import measure_complexity
    model = classifier(CIFAR_MODELS['emanet50'][0], num_classes=10, in_channels=2048)
    report = measure_complexity(model, (1, 3, 32, 32))
    assert round(report.macs_g, 2) == 1.12
    assert 'aten::softmax' in report.skipped_ops  # the counter says what it does not count


@pytest.mark.parametrize('host', ['se', 'srm'])
def test_in_place_gating_in_inference_gives_the_recorded_outputs(host):
    """Blocks gate their branch in place when autograd is not recording: same outputs as when it is."""
    model = mmemanet.models.backbones.EMCAResNet(depth=18, host=host, out_indices=(0, 1, 2, 3)).eval()
    x = torch.randn(2, 3, 64, 64)
    recorded = model(x)
    with torch.inference_mode():
        in_place = model(x)
    for a, b in zip(in_place, recorded):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
