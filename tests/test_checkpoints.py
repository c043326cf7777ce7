"""Reference-EMANet checkpoint conversion, safe loading, and classifier -> detector backbone init.

The reference model below is written independently of the package, after the published
implementation (``pytorch-emanet``, ``emanet50``): its state dict must reproduce the spec's key list
(``reference-emanet50-keys.txt``, expanded to all 16 blocks), and the converted weights must give
the same logits in this package's ``ImageClassifier``.
"""
import os
import os.path as osp
import re
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
from torch import nn

import mmemanet  # noqa: F401
from mmemanet.checkpoints import ReferenceCheckpointError, convert_reference_emanet, load_from_local

from emanet_reference_impl import RefEMANet
from tool_modules import ROOT
from tool_runs import run_in_process

# a copy of the spec's shared/spec/reference-emanet50-keys.txt, so that a bare clone can test it
SPEC_KEYS = osp.join(ROOT, 'tests', 'data', 'reference-emanet50-keys.txt')
CIFAR_CONFIG = osp.join(ROOT, 'configs', 'emanet', 'emanet50_cifar10.py')
CONVERTER = osp.join(ROOT, 'tools', 'model_converters', 'emanet_reference2mmpretrain.py')


# ---------------------------------------------------------------------------- the spec's key list
def spec_entries():
    """(key, shape) lines of the spec file, in order."""
    entries = []
    for line in open(SPEC_KEYS):
        if line.strip() and not line.startswith('#'):
            key, shape = line.split(' ', 1)
            entries.append((key, tuple(int(v) for v in re.findall(r'\d+', shape))))
    return entries


def _scale(key, shape, ratio):
    """A layer1.0 (P = 64) shape at P = 64 * ratio: the last two dims of a 4-d tensor are spatial;
    a dim of 1 is a fixed 1 (SoftBAN's [1, C, 1, 1], a depthwise conv's 1 input channel) except in
    the SE, where it is c // 16."""
    spatial = 2 if len(shape) == 4 else 0
    return tuple(d * ratio if i < len(shape) - spatial and (d != 1 or '.se.fc.' in key) else d
                 for i, d in enumerate(shape))


def expand_spec_layout(layers=(3, 4, 6, 3)):
    """The full emanet50 key -> shape table: the spec's stem and head, its layer1.0 pattern for every
    block with that block's widths, a shortcut in the first block of each stage."""
    entries = spec_entries()
    pattern = [(k[len('layer1.0.'):], s) for k, s in entries
               if k.startswith('layer1.0.') and '.downsample.' not in k]
    shortcut = [(k[len('layer2.0.'):], s) for k, s in entries if k.startswith('layer2.0.downsample.')]
    table = OrderedDict((k, s) for k, s in entries if k.startswith(('conv1.', 'bn1.')))
    inplanes = 64
    for i, n in enumerate(layers):
        planes = 64 * 2**i
        for j in range(n):
            prefix = f'layer{i + 1}.{j}.'
            for key, shape in pattern:
                shape = (planes, inplanes, 1, 1) if key == 'conv1.weight' else _scale(key, shape, 2**i)
                table[prefix + key] = shape
            if j == 0:  # layer2.0's shortcut is [512, 256]; scale it to this stage
                for key, shape in shortcut:
                    shape = (planes * 4, inplanes, 1, 1) if key.endswith('0.weight') else \
                        tuple(planes * 4 for _ in shape)
                    table[prefix + key] = shape
            inplanes = planes * 4
    table.update((k, s) for k, s in entries if k.startswith('fc.'))
    return table


def randomised(model: nn.Module, seed=0):
    """Fill every tensor of ``model``'s state dict with random values of a sensible scale."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith('num_batches_tracked'):
                t.fill_(int(torch.randint(1, 1000, (), generator=g)))
            elif key.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif key.endswith('running_mean'):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            else:  # perturb the reference initialisation
                t.add_(0.1 * torch.randn(t.shape, generator=g) * max(float(t.std()) if t.numel() > 1 else 0, 0.1))
    return model


@pytest.fixture(scope='module')
def reference_model():
    torch.manual_seed(0)
    model = RefEMANet()
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0, (2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels))**0.5)
    return randomised(model).eval()


@pytest.fixture(scope='module')
def reference_ckpt(reference_model, tmp_path_factory):
    """A reference-layout checkpoint: DataParallel keys, {'net', 'acc', 'epoch'}."""
    path = tmp_path_factory.mktemp('ref') / 'ckpt.pth'
    net = OrderedDict(('module.' + k, v.clone()) for k, v in reference_model.state_dict().items())
    torch.save({'net': net, 'acc': 95.61, 'epoch': 199}, path)
    return path


def build_classifier():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(CIFAR_CONFIG)
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model)


def test_reference_model_matches_spec_layout(reference_model):
    """The independent reference model reproduces the spec's keys and shapes (2,096 entries)."""
    layout = expand_spec_layout()
    state = reference_model.state_dict()
    assert len(layout) == 2096
    assert {k: tuple(v.shape) for k, v in state.items()} == dict(layout)
    for key, shape in spec_entries():  # the spec lines themselves, verbatim
        assert tuple(state[key].shape) == shape, key


@pytest.mark.slow
def test_convert_reference_checkpoint_same_logits(reference_model, reference_ckpt):
    checkpoint = load_from_local(str(reference_ckpt))  # weights-only
    classifier = build_classifier().eval()
    target = classifier.state_dict()
    converted = convert_reference_emanet(checkpoint['net'], target)
    # every model tensor present, same shapes
    assert list(converted) == list(target)
    assert all(converted[k].shape == target[k].shape for k in target)
    # every model tensor filled: load into a NaN-filled model, strictly
    with torch.no_grad():
        for v in classifier.state_dict().values():
            v.fill_(float('nan') if v.is_floating_point() else -1)
    classifier.load_state_dict(converted, strict=True)
    for k, v in classifier.state_dict().items():
        assert torch.isfinite(v.float()).all() and (v.is_floating_point() or (v >= 0).all()), k
    # every reference value is used: total sizes agree (each reference key maps to a distinct slice)
    ref_numel = sum(v.numel() for k, v in checkpoint['net'].items() if not k.endswith('num_batches_tracked'))
    ours = sum(v.numel() for k, v in converted.items() if not k.endswith('num_batches_tracked'))
    assert ref_numel == ours
    # same logits (float64, eval mode), both MA implementations
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref_model = reference_model.double()
    with torch.no_grad():
        expected = ref_model(x)
        classifier.double()
        for impl in ('fused', 'reference'):
            for m in classifier.modules():
                if type(m).__name__ == 'MixtureAttention':
                    m.impl = impl
            logits = classifier(x, mode='tensor')
            torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-9 * float(expected.abs().max()))
    reference_model.float()
    assert expected.std() > 0.1  # not a degenerate network


def run_converter(src: str, dst: str) -> subprocess.CompletedProcess:
    """``tools/model_converters/emanet_reference2mmpretrain.py SRC DST`` in a subprocess."""
    return subprocess.run([sys.executable, CONVERTER, src, dst], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


@pytest.mark.slow
def test_converter_cli_then_tools_test(reference_model, reference_ckpt, tmp_path):
    """``main.py -a emanet50 -e --resume ckpt.pth`` becomes converter + ``tools/test.py``: the scores
    tools/test.py dumps for a small CIFAR-format test set are the reference model's. Both tools run in this
    process (their ``main(argv)``; :func:`run_converter` runs the script itself)."""
    from mmemanet.testing.synthetic_datasets import write_cifar10
    out = tmp_path / 'emanet50_cifar10.pth'
    output = run_in_process('model_converters/emanet_reference2mmpretrain', [reference_ckpt, out])
    assert 'converted 2096 reference tensors into' in output
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['reference_acc'] == 95.61 and ckpt['meta']['reference_epoch'] == 199
    assert set(ckpt['state_dict']) == set(build_classifier().state_dict())

    write_cifar10(str(tmp_path / 'cifar'), num_train=5, num_test=6)
    scores = tmp_path / 'scores.pkl'
    output = run_in_process('test', [
        CIFAR_CONFIG, out, '--work-dir', tmp_path / 'work', '--out', scores, '--cfg-options',
        'test_dataloader.dataset.type=LocalCIFAR10', f'test_dataloader.dataset.data_root={tmp_path / "cifar"}',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False', 'test_dataloader.batch_size=6'])
    assert 'accuracy/top1' in output
    import pickle
    dumped = torch.stack([r['pred_score'] for r in pickle.load(open(scores, 'rb'))])
    batch = pickle.load(open(tmp_path / 'cifar' / 'cifar-10-batches-py' / 'test_batch', 'rb'), encoding='latin1')
    images = torch.from_numpy(batch['data']).float().view(-1, 3, 32, 32)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1) * 255  # the reference's Normalize
    std = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1) * 255
    with torch.no_grad():
        expected = reference_model.float()((images - mean) / std).softmax(dim=1)
    torch.testing.assert_close(dumped, expected, rtol=1e-4, atol=1e-5)


def test_converter_refuses_missing_and_extra_keys(reference_model):
    target = build_classifier().state_dict()
    state = OrderedDict(('module.' + k, v) for k, v in reference_model.state_dict().items())
    del state['module.layer3.2.conv2.conv_4.3.1.fn.0.weight_readjust']
    del state['module.fc.bias']
    state['module.layer5.0.conv1.weight'] = torch.zeros(1)
    with pytest.raises(ReferenceCheckpointError) as err:
        convert_reference_emanet(state, target)
    msg = str(err.value)
    assert 'missing keys (2)' in msg and 'layer3.2.conv2.conv_4.3.1.fn.0.weight_readjust' in msg
    assert 'fc.bias' in msg
    assert 'unexpected keys (1)' in msg and 'layer5.0.conv1.weight' in msg


def test_converter_refuses_other_shapes(reference_model):
    """A 100-class reference checkpoint does not fit the 10-class config: the shapes are listed."""
    target = build_classifier().state_dict()
    state = OrderedDict(reference_model.state_dict())
    state['fc.weight'] = torch.zeros(100, 2048)
    state['fc.bias'] = torch.zeros(100)
    with pytest.raises(ReferenceCheckpointError, match=r'fc.weight: checkpoint \[100, 2048\], model \[10, 2048\]'):
        convert_reference_emanet(state, target)


# ---------------------------------------------------------------------------- classifier -> detector
def _build(config, **backbone):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    init_default_scope(cfg.default_scope)
    registry = __import__(f'{cfg.default_scope}.registry', fromlist=['MODELS']).MODELS
    cfg.model.backbone.update(backbone)
    return registry.build(cfg.model)


def _init_logging(model):
    """``model.init_weights()``; returns the messages logged to mmengine's current logger."""
    import logging

    from mmengine.logging import MMLogger
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    return [r.getMessage() for r in records]


@pytest.mark.slow
def test_classifier_checkpoint_initialises_detector_backbone(tmp_path):
    """The documented path: a classification checkpoint of this package initialises a detector's
    backbone through ``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=...)``, and one
    log line says what was loaded and what was missing / unexpected / of another shape."""
    classifier = _build('emanet/emanet50_imagenet.py')
    state = classifier.state_dict()
    ckpt = tmp_path / 'emanet50_imagenet.pth'
    torch.save({'meta': {'epoch': 100}, 'state_dict': state}, ckpt)
    init_cfg = dict(type='Pretrained', prefix='backbone.', checkpoint=str(ckpt))
    detector = _build('emanet/faster_rcnn_emanet50_voc.py', init_cfg=init_cfg)
    logged = _init_logging(detector)
    backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    loaded = detector.backbone.state_dict()
    assert loaded.keys() == backbone.keys() and all(torch.equal(loaded[k], backbone[k]) for k in loaded)
    n = len(backbone)
    line = (f'EMANet initialised from {ckpt} (prefix \'backbone.\'): {n}/{n} tensors loaded; missing keys (0): '
            'none; unexpected keys (0): none; shape mismatches (0): none')
    assert line in logged, logged

    # a checkpoint that does not quite fit: the same line lists what did not load
    del state['backbone.layer4.2.bn3.running_mean']
    state['backbone.layer5.0.conv1.weight'] = torch.zeros(1)
    state['backbone.conv1.weight'] = torch.zeros(64, 3, 3, 3)  # a CIFAR stem
    torch.save({'meta': {}, 'state_dict': state}, ckpt)
    logged = _init_logging(_build('emanet/faster_rcnn_emanet50_voc.py', init_cfg=init_cfg))
    line = (f'{n - 2}/{n} tensors loaded; missing keys (1): layer4.2.bn3.running_mean; unexpected keys (1): '
            'layer5.0.conv1.weight; shape mismatches (1): conv1.weight')
    assert any(line in m for m in logged), logged
