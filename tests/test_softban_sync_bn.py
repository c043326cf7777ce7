"""SoftBAN under ``sync_bn``: mmengine's and torch's SyncBN conversion leave it whole (per-GPU statistics, as
the paper trains), while ``norm_eval``, ``norm_decay_mult`` and the state dict treat it as before, when it
was a ``BatchNorm2d`` with the same forward."""
import copy

import pytest
import torch
from mmengine.model import convert_sync_batchnorm
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmemanet.models.backbones import EMANet
from mmemanet.models.layers import SoftBAN

CONVERTERS = {'mmengine': lambda m: convert_sync_batchnorm(m, 'torch'),
              'torch': nn.SyncBatchNorm.convert_sync_batchnorm}


class BatchNormSoftBAN(nn.BatchNorm2d):
    """SoftBAN as defined before: a ``BatchNorm2d(affine=False)`` with the four tensors and the same forward."""

    def __init__(self, num_features, softmax_groups):
        super().__init__(num_features, affine=False)
        self.softmax_groups = softmax_groups
        shape = (1, num_features, 1, 1)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.weight_readjust = nn.Parameter(torch.zeros(shape))
        self.bias_readjust = nn.Parameter(torch.full(shape, -1.0))

    forward = SoftBAN.forward


def tiny_emanet(**kwargs):
    """EMANet-18's first stage (two blocks, one SoftBAN each) on the CIFAR stem, with non-trivial tensors."""
    torch.manual_seed(0)
    model = EMANet(depth=18, stem='cifar', num_stages=1, strides=(1, ), out_indices=(0, ), **kwargs)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.1)
    return model


def softbans(model):
    return {name: m for name, m in model.named_modules() if isinstance(m, SoftBAN)}


@pytest.mark.parametrize('converter', CONVERTERS)
def test_sync_bn_conversion_leaves_softban_whole(converter):
    model = tiny_emanet()
    before, state = softbans(model), copy.deepcopy(model.state_dict())
    converted = CONVERTERS[converter](model)
    assert len(before) == 2 and softbans(converted) == before  # the very same modules, all four tensors kept
    bns = [m for m in converted.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(type(m) is nn.SyncBatchNorm for m in bns)  # the batch norms were converted
    assert list(converted.state_dict()) == list(state)
    assert all(torch.equal(v, state[k]) for k, v in converted.state_dict().items())


@torch.no_grad()
def test_outputs_and_statistics_unchanged_by_conversion():
    reference = tiny_emanet()
    converted = convert_sync_batchnorm(copy.deepcopy(reference), 'torch')
    x = torch.randn(2, 3, 8, 8)
    for mode in (True, False):  # single process: SyncBatchNorm computes as BatchNorm2d, SoftBAN as before
        assert torch.equal(converted.train(mode)(x)[0], reference.train(mode)(x)[0])
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in converted.state_dict().items())


@torch.no_grad()
def test_norm_eval_freezes_softban_statistics_after_conversion():
    model = convert_sync_batchnorm(tiny_emanet(norm_eval=True), 'torch').train()
    norms = [m for m in model.modules() if isinstance(m, (_BatchNorm, SoftBAN))]
    assert model.training and len(softbans(model)) == 2 and not any(m.training for m in norms)
    frozen = {name: b.clone() for name, b in model.named_buffers() if '.softban.' in name}
    model(torch.randn(2, 3, 8, 8))
    assert len(frozen) == 6 and all(torch.equal(b, frozen[name]) for name, b in model.named_buffers() if name in frozen)


def test_norm_decay_mult_and_bias_rules_treat_softban_as_a_norm():
    model = nn.Sequential(nn.Conv2d(4, 8, 1), SoftBAN(8), nn.BatchNorm2d(8))
    ctor = DefaultOptimWrapperConstructor(dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4)),
                                          dict(norm_decay_mult=0.0, bias_decay_mult=0.5, bias_lr_mult=2.0))
    groups = ctor(model).optimizer.param_groups
    rules = {name: (g['lr'], g['weight_decay']) for (name, _), g in zip(model.named_parameters(), groups)}
    assert rules['0.bias'] == (0.2, 0.5e-4)  # a conv bias: bias_lr_mult, bias_decay_mult
    for name in ('weight', 'bias', 'weight_readjust', 'bias_readjust'):
        assert rules[f'1.{name}'] == rules['2.weight'] == (0.1, 0.0), name


def test_state_dict_and_computation_as_the_batchnorm2d_definition():
    torch.manual_seed(0)
    old, new = BatchNormSoftBAN(8, softmax_groups=2), SoftBAN(8, softmax_groups=2)
    with torch.no_grad():
        for tensor in old.parameters():
            tensor.normal_()
    assert list(new.state_dict()) == list(old.state_dict())
    assert new.state_dict()._metadata == old.state_dict()._metadata
    new.load_state_dict(old.state_dict())  # strict: a checkpoint of the old class loads
    x = torch.randn(4, 8, 5, 5, requires_grad=True)
    for mode in (True, True, False):
        out_old, out_new = old.train(mode)(x), new.train(mode)(x)
        assert torch.equal(out_new, out_old)
        grads_old = torch.autograd.grad(out_old.square().sum(), [x, *old.parameters()])
        grads_new = torch.autograd.grad(out_new.square().sum(), [x, *new.parameters()])
        assert all(torch.equal(a, b) for a, b in zip(grads_old, grads_new))
    assert all(torch.equal(v, old.state_dict()[k]) for k, v in new.state_dict().items())
    old.load_state_dict(new.state_dict())  # and back
