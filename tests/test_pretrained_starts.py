"""ImageNet starts without downloads: torchvision / caffe-style (open-mmlab://) / mmpretrain ResNet
checkpoints, built here with random weights in each file layout, load into the attention ResNets with
exactly the attention keys missing, named in the one log line."""
import logging
import os
import re

import pytest
import torch
import torchvision
from mmengine.logging import MMLogger

import mmemanet  # noqa: F401
from mmemanet.models.backbones import AttnResNet, EMANet, EMCAResNet

ATTENTION_MODELS = {
    'emca_eca': lambda **kw: EMCAResNet(depth=50, host='eca', **kw),
    'emca_se': lambda **kw: EMCAResNet(depth=50, host='se', **kw),
    'emca_srm': lambda **kw: EMCAResNet(depth=50, host='srm', **kw),
    'se': lambda **kw: AttnResNet(depth=50, attention=dict(type='SEGate'), **kw),
    'eca': lambda **kw: AttnResNet(depth=50, attention=dict(type='ECAGate'), **kw),
    'srm': lambda **kw: AttnResNet(depth=50, attention=dict(type='SRMGate'), **kw),
    'fca': lambda **kw: AttnResNet(depth=50, attention=dict(type='FcaGate'), **kw),
}


class LogLines(logging.Handler):
    """The messages mmengine's current logger emits while installed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        MMLogger.get_current_instance().addHandler(self)
        return self

    def __exit__(self, *exc):
        MMLogger.get_current_instance().removeHandler(self)


@pytest.fixture(scope='module')
def torchvision_r50(tmp_path_factory):
    """A torchvision ResNet-50 state dict (the file layout of torchvision://resnet50), random weights."""
    torch.manual_seed(0)
    state = torchvision.models.resnet50().state_dict()
    path = tmp_path_factory.mktemp('tv') / 'resnet50-random.pth'
    torch.save(state, path)
    return path, state


def load_report(model, init_cfg):
    """init_weights() with ``init_cfg``; returns the one pretrained-start log line."""
    model.init_cfg = init_cfg
    with LogLines() as log:
        model.init_weights()
    lines = [line for line in log.lines if 'tensors loaded' in line]
    assert len(lines) == 1, log.lines
    return lines[0]


def attention_keys(model, marker):
    return {k for k in model.state_dict() if marker(k)}


def assert_loaded(model, source_state, expected_missing, prefix=''):
    """Every model tensor outside ``expected_missing`` equals the checkpoint's; those inside do not exist there."""
    own = model.state_dict()
    for key, value in own.items():
        if key in expected_missing:
            assert prefix + key not in source_state
        else:
            assert torch.equal(value, source_state[prefix + key]), key


def missing_in_line(line):
    return re.search(r'missing keys \((\d+)\)', line).group(1)


@pytest.mark.parametrize('name', sorted(ATTENTION_MODELS))
def test_torchvision_resnet50_loads_into_attention_resnets(name, torchvision_r50):
    path, state = torchvision_r50
    model = ATTENTION_MODELS[name]()
    expected = attention_keys(model, lambda k: '.attn.' in k)
    assert expected
    line = load_report(model, dict(type='Pretrained', checkpoint=str(path)))
    assert_loaded(model, state, expected)
    assert int(missing_in_line(line)) == len(expected)
    assert 'unexpected keys (2): fc.weight, fc.bias' in line
    assert 'shape mismatches (0)' in line
    missing_part = line.split('missing keys')[1].split('; unexpected')[0]
    assert all(('.attn.' in name) for name in re.findall(r'layer[\w.*]+', missing_part))


def test_torchvision_resnet50_fills_all_but_the_ma_modules_of_emanet(torchvision_r50):
    path, state = torchvision_r50
    model = EMANet(depth=50)
    expected = attention_keys(model, lambda k: '.conv2.' in k)  # the MA modules in place of the 3x3 convs
    line = load_report(model, dict(type='Pretrained', checkpoint=str(path)))
    assert_loaded(model, state, expected)
    filled = [k for k in model.state_dict() if k not in expected]
    assert any(k.startswith('conv1.') for k in filled) and any('downsample' in k for k in filled)
    assert any('.conv3.' in k for k in filled) and any('.bn2.' in k for k in filled)
    assert int(missing_in_line(line)) == len(expected)
    # the checkpoint's 3x3 convs have no place in MA: unexpected, one per block, named by pattern
    assert 'layer*.*.conv2.weight (x16)' in line and 'fc.weight' in line


def test_caffe_style_mmdet_checkpoint_loads_into_caffe_style_emca(tmp_path):
    """open-mmlab://detectron2/resnet50_caffe has mmdet's caffe-style ResNet layout."""
    from mmdet.models.backbones import ResNet
    caffe = ResNet(depth=50, style='caffe', norm_cfg=dict(type='BN', requires_grad=False))
    caffe.init_weights()
    path = tmp_path / 'resnet50_caffe.pth'
    torch.save(caffe.state_dict(), path)
    model = EMCAResNet(depth=50, host='eca', style='caffe', norm_cfg=dict(type='BN', requires_grad=False))
    expected = attention_keys(model, lambda k: '.attn.' in k)
    line = load_report(model, dict(type='Pretrained', checkpoint=str(path)))
    assert_loaded(model, caffe.state_dict(), expected)
    assert 'unexpected keys (0)' in line


def test_mmpretrain_classifier_checkpoint_loads_with_backbone_prefix(tmp_path):
    """An mmpretrain ResNet-50 ImageNet classifier checkpoint (Runner format, ``backbone.`` prefix)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(dict(
            type='ImageClassifier', backbone=dict(type='ResNetV1d', depth=50),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048)))
    classifier.init_weights()
    path = tmp_path / 'resnetv1d50_8xb32_in1k.pth'
    state = classifier.state_dict()
    torch.save(dict(meta=dict(epoch=100), state_dict=state), path)
    for key_layout in ('mmpretrain', 'mmdet'):  # a detector (mmdet layout) takes it too
        model = EMCAResNet(depth=50, host='se', deep_stem=True, avg_down=True, key_layout=key_layout)
        expected = attention_keys(model, lambda k: '.attn.' in k)
        line = load_report(model, dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
        own = model.state_dict()
        loaded = [k for k in own if k not in expected]
        assert len(loaded) == len([k for k in state if k.startswith('backbone.')])
        assert f'{len(loaded)}/{len(own)} tensors loaded' in line
        assert 'unexpected keys (0)' in line and 'shape mismatches (0)' in line
        assert torch.equal(own['layer1.0.conv1.weight'], state['backbone.layer1.0.conv1.weight'])


def test_detector_config_starts_from_torchvision_through_its_own_init_cfg(torchvision_r50):
    """The shipped EMCA-ECA Faster R-CNN config: its backbone init_cfg, with only the file overridden."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from tool_modules import ROOT
    path, state = torchvision_r50
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'emca', 'faster_rcnn_emca_eca_r50_fpn_1x_coco.py'))
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='torchvision://resnet50')
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    with LogLines() as log:
        detector.init_weights()
    lines = [line for line in log.lines if 'tensors loaded' in line]
    assert len(lines) == 1, log.lines
    backbone = detector.backbone
    expected = attention_keys(backbone, lambda k: '.attn.' in k)
    assert_loaded(backbone, state, expected)
    assert f'missing keys ({len(expected)}): layer*.*.attn.host.conv.weight (x4), ' \
        'layer*.*.attn.fusion.weight (x4); unexpected keys (2): fc.weight, fc.bias' in lines[0]
