"""Plain AttnResNet is THE SAME MODULE as mmdet 3.3's ResNet and mmpretrain 1.2's ResNet family.

For every option setting of a grid: the same state-dict keys (in the same order) and shapes, and, from
the same weights, the same outputs, input and parameter gradients and running statistics, bitwise.
Small widths (base_channels 16) keep the grid fast; the options are the ones stock configs use.
"""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope

import mmemanet  # noqa: F401
from mmemanet.models.backbones import AttnResNet, DetAttnResNet

SMALL = dict(base_channels=16, stem_channels=16)

#: mmdet ResNet options (besides depth) -> the same options for AttnResNet
MMDET_GRID = {
    'r18': dict(depth=18),
    'r18_dilated_frozen': dict(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), frozen_stages=1),
    'r50_pytorch': dict(depth=50),
    'r50_caffe_frozen_bn': dict(depth=50, style='caffe', frozen_stages=1, norm_eval=True,
                                norm_cfg=dict(type='BN', requires_grad=False)),
    'r50_deep_stem': dict(depth=50, deep_stem=True),
    'r50_v1d': dict(depth=50, deep_stem=True, avg_down=True, frozen_stages=2),
    'r50_avg_down': dict(depth=50, avg_down=True),
    'r50_dc5_caffe': dict(depth=50, style='caffe', strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                          num_stages=4, out_indices=(3, )),
    'r50_c4': dict(depth=50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, )),
    'r50_gn_ws': dict(depth=50, norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
                      conv_cfg=dict(type='ConvWS')),
    'r50_with_cp': dict(depth=50, with_cp=True),
    'r50_dcn': dict(depth=50, dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
                    stage_with_dcn=(False, True, True, True)),
    'r50_dcnv2': dict(depth=50, dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
                      stage_with_dcn=(False, False, True, True)),
    'r50_plugins': dict(depth=50, plugins=[
        dict(cfg=dict(type='ContextBlock', ratio=1. / 4), stages=(False, True, True, True),
             position='after_conv3'),
        dict(cfg=dict(type='GeneralizedAttention', spatial_range=-1, num_heads=8, attention_type='0010',
                      kv_stride=2), stages=(False, False, True, True), position='after_conv2')]),
}

#: (mmpretrain type, options) -> AttnResNet options added to the same options
MMPRETRAIN_GRID = {
    'resnet18': ('ResNet', dict(depth=18), {}),
    'resnet50_caffe_frozen': ('ResNet', dict(depth=50, style='caffe', frozen_stages=2, norm_eval=True), {}),
    'resnet50_dilated': ('ResNet', dict(depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 2, 4)), {}),
    'resnet50_expansion2': ('ResNet', dict(depth=50, expansion=2), {}),
    'resnet50_drop_path': ('ResNet', dict(depth=50, drop_path_rate=0.2), {}),
    'resnet50_with_cp': ('ResNet', dict(depth=50, with_cp=True), {}),
    'resnet50_v1c': ('ResNetV1c', dict(depth=50), dict(deep_stem=True)),
    'resnet50_v1d': ('ResNetV1d', dict(depth=50, frozen_stages=1), dict(deep_stem=True, avg_down=True)),
    'resnet18_cifar': ('ResNet_CIFAR', dict(depth=18), dict(stem='cifar')),
    'resnet50_cifar_gn': ('ResNet_CIFAR', dict(depth=50, norm_cfg=dict(type='GN', num_groups=4)),
                          dict(stem='cifar')),
}


def assert_same_module(theirs, ours, size=64, seed=0):
    """Same keys/shapes; ours loaded from theirs computes the same outputs, gradients and statistics."""
    their_state, our_state = theirs.state_dict(), ours.state_dict()
    assert [(k, tuple(v.shape)) for k, v in our_state.items()] == \
        [(k, tuple(v.shape)) for k, v in their_state.items()]
    ours.load_state_dict(their_state, strict=True)
    for mode in ('train', 'eval'):
        theirs.train(mode == 'train')
        ours.train(mode == 'train')
        assert [m.training for m in ours.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] \
            == [m.training for m in theirs.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        results = []
        for model in (theirs, ours):
            x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed), requires_grad=True)
            torch.manual_seed(seed)  # drop path draws the same random numbers in both
            outs = model(x)
            sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            model.zero_grad()
            results.append((outs, x.grad, grads, model.state_dict()))
        (their_outs, their_gx, their_grads, their_after), (our_outs, our_gx, our_grads, our_after) = results
        assert len(our_outs) == len(their_outs)
        for a, b in zip(our_outs, their_outs):
            assert torch.equal(a, b)
        assert torch.equal(our_gx, their_gx)
        assert our_grads.keys() == their_grads.keys()
        for name in their_grads:
            assert torch.equal(our_grads[name], their_grads[name]), name
        for name in their_after:
            assert torch.equal(our_after[name], their_after[name]), name
    assert [n for n, p in ours.named_parameters() if p.requires_grad] == \
        [n for n, p in theirs.named_parameters() if p.requires_grad]


@pytest.mark.parametrize('name', sorted(MMDET_GRID))
def test_same_module_as_mmdet_resnet(name):
    from mmdet.models.backbones import ResNet
    options = dict(MMDET_GRID[name], **SMALL)
    torch.manual_seed(0)
    theirs = ResNet(**copy.deepcopy(options))
    theirs.init_weights()
    ours = DetAttnResNet(**copy.deepcopy(options))  # what mmdet's registry builds: mmdet's defaults
    assert ours.key_layout == 'mmdet'
    # mmcv's deformable conv refuses maps smaller than its kernel (2x2 at stage 4 of a 64x64 input)
    assert_same_module(theirs, ours, size=128 if 'dcn' in options else 64)


@pytest.mark.parametrize('name', sorted(MMPRETRAIN_GRID))
def test_same_module_as_mmpretrain_resnet(name):
    from mmpretrain.registry import MODELS
    kind, options, ours_extra = MMPRETRAIN_GRID[name]
    options = dict(options, **SMALL)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # whatever scope an earlier test left
        theirs = MODELS.build(dict(copy.deepcopy(options), type=kind))
        ours = AttnResNet(**options, **ours_extra)
    theirs.init_weights()
    assert ours.key_layout == 'mmpretrain'
    assert_same_module(theirs, ours, size=32 if 'cifar' in name else 64)


@pytest.mark.parametrize('layout', ['mmdet', 'mmpretrain'])
def test_either_layout_loads_into_either(layout):
    """A ResNetV1d checkpoint of mmdet's layout loads into an mmpretrain-layout model and vice versa."""
    from mmdet.models.backbones import ResNetV1d as DetV1d
    from mmpretrain.models.backbones import ResNetV1d as ClsV1d
    theirs = (DetV1d if layout == 'mmdet' else ClsV1d)(depth=50, out_indices=(0, 1, 2, 3), **SMALL)
    theirs.eval()  # (mmdet's train() returns None)
    other = 'mmpretrain' if layout == 'mmdet' else 'mmdet'
    ours = AttnResNet(depth=50, deep_stem=True, avg_down=True, out_indices=(0, 1, 2, 3), key_layout=other,
                      **SMALL).eval()
    assert ours.state_dict().keys() != theirs.state_dict().keys()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(ours(x), theirs(x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('codebase', ['mmdet', 'mmpretrain'])
def test_defaults_that_differ_follow_the_registry_entry(codebase):
    """out_indices, norm_eval and the key layout: the defaults of the codebase whose registry builds the backbone,
    in its scope or not; the root entry (the classes themselves) has mmpretrain's."""
    from mmdet.models.backbones import ResNet as DetResNet
    from mmdet.registry import MODELS as DET
    from mmpretrain.models.backbones import ResNet as ClsResNet
    from mmpretrain.registry import MODELS as CLS
    theirs = (DetResNet if codebase == 'mmdet' else ClsResNet)(depth=18)
    registry = DET if codebase == 'mmdet' else CLS
    for scope in (None, codebase):
        with DefaultScope.overwrite_default_scope(scope):
            ours = registry.build(dict(type='AttnResNet', depth=18, deep_stem=True, **SMALL))
        assert ours.key_layout == codebase
        assert (tuple(ours.out_indices), ours.norm_eval) == (tuple(theirs.out_indices), theirs.norm_eval)
    with DefaultScope.overwrite_default_scope('mmdet'):
        root = AttnResNet(depth=18)
    assert (root.out_indices, root.norm_eval, root.key_layout) == ((3, ), False, 'mmpretrain')


def test_deprecated_pretrained_argument_becomes_init_cfg():
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        model = AttnResNet(depth=18, pretrained='some/file.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='some/file.pth')
    with pytest.raises(ValueError, match=r"pretrained='a.pth' and init_cfg=.*give only init_cfg"):
        AttnResNet(depth=18, pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth'))


def test_init_cfg_list_with_pretrained_loads_and_skips_zero_init(tmp_path):
    source = AttnResNet(depth=18, zero_init_residual=False, **SMALL)
    source.init_weights()
    path = tmp_path / 'r18.pth'
    torch.save(source.state_dict(), path)
    model = AttnResNet(depth=18, **SMALL, init_cfg=[
        dict(type='Kaiming', layer='Conv2d'), dict(type='Pretrained', checkpoint=str(path))])
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.layer1[0].norm2.weight.abs().sum() > 0  # zero_init_residual does not undo the start


def test_zero_init_residual_default_like_mmdet_and_mmpretrain():
    model = AttnResNet(depth=50, **SMALL)
    model.init_weights()
    assert all(float(m.norm3.weight.abs().sum()) == 0 for layer in (model.layer1, model.layer4) for m in layer)
