"""One forward protocol, as in mmdet's and mmpretrain's ResNets: every block and stage is ``forward(x) -> Tensor``,
so hooks on ``backbone.layerN`` (Grad-CAM, feature extractors, FLOP counters) see the stage outputs. EMCAResNet's
descriptors travel through a store of the running forward (their values: test_backbones.py, test_fast_paths.py)."""
import copy

import pytest
import torch
from mmengine.analysis import FlopAnalyzer

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.models.backbones import AttnResNet, BasicBlock, EMANet, EMCAResNet

BACKBONES = {
    'emca_se': lambda **kw: EMCAResNet(depth=18, host='se', **kw),
    'emca_srm_branch_every_all': lambda **kw: EMCAResNet(depth=18, host='srm', tap='branch', where='every',
                                                         prev_stages='all', **kw),
    'se_resnet': lambda **kw: AttnResNet(depth=18, attention=dict(type='SEGate'), **kw),
    'emanet': lambda **kw: EMANet(depth=18, **kw),
}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def build(name, **kwargs):
    return BACKBONES[name](stem='cifar', out_indices=(0, 1, 2, 3), **kwargs)


def inputs():
    return torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize('name', BACKBONES)
def test_stage_hooks_fire_once_per_forward_with_the_stage_outputs(name):
    model = build(name)
    seen = {layer: [] for layer in model.res_layers}
    for layer in model.res_layers:
        getattr(model, layer).register_forward_hook(lambda m, args, out, layer=layer: seen[layer].append(out))
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    block_outputs = []
    for block in blocks:
        block.register_forward_hook(lambda m, args, out: block_outputs.append(out))
    outs = model(inputs())
    assert [len(seen[layer]) for layer in model.res_layers] == [1, 1, 1, 1]
    for layer, out in zip(model.res_layers, outs):
        assert seen[layer][0] is out
    assert len(block_outputs) == len(blocks) == 8
    assert all(isinstance(out, torch.Tensor) for out in block_outputs)


def test_stages_called_one_by_one_give_the_backbone_outputs():
    """What a feature extractor does: the stem, then ``layer1`` .. ``layer4`` in order."""
    model = build('emca_srm_branch_every_all').eval()
    x = inputs()
    with torch.no_grad():
        expected = model(x)
        y = model.maxpool(model.relu(model.norm1(model.conv1(x))))
        for layer, out in zip(model.res_layers, expected):
            y = getattr(model, layer)(y)
            torch.testing.assert_close(y, out, rtol=0, atol=0)


def test_a_stage_without_the_earlier_ones_of_its_forward_says_so():
    model = build('emca_se').eval()
    with pytest.raises(RuntimeError, match=r"fuses the maps of \['layer1.0', 'layer1.1'\], which were not pooled"):
        model.layer2(torch.randn(2, 64, 32, 32))


def test_the_store_holds_no_tensor_after_a_forward():
    model = build('emca_se')
    model(inputs())
    assert model.descriptor_store.descriptors == {}

    def fail(*args):
        raise RuntimeError('stop in layer3')

    handle = model.layer3.register_forward_hook(fail)
    with pytest.raises(RuntimeError, match='stop in layer3'):
        model(inputs())
    assert model.descriptor_store.descriptors == {}
    handle.remove()


def test_with_cp_recomputes_each_forward_with_its_own_descriptors():
    """Two forwards, then one backward: the recomputation of each reads the descriptors of its forward."""
    plain = build('emca_srm_branch_every_all')
    checkpointed = build('emca_srm_branch_every_all', with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x1, x2 = inputs(), inputs()
    grads = []
    for model in (plain, checkpointed):
        a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
        loss = sum(o.square().mean() for o in model(a)) + 2 * sum(o.square().mean() for o in model(b))
        loss.backward()
        grads.append((a.grad, b.grad, model.layer4[1].attn.fusion.weight.grad))
    for g_plain, g_checkpointed in zip(*grads):
        torch.testing.assert_close(g_checkpointed, g_plain)


def test_a_deep_copy_routes_through_its_own_store():
    """mmengine's EMA model is a deep copy: its gates and taps use its store, not the original's."""
    model = build('emca_se').eval()
    twin = copy.deepcopy(model)
    sizes = []
    twin.layer4.register_forward_hook(
        lambda *args: sizes.append((len(twin.descriptor_store.descriptors), len(model.descriptor_store.descriptors))))
    x = inputs()
    with torch.no_grad():
        for a, b in zip(twin(x), model(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert sizes == [(2 + 2 + 2, 0)]  # layer1..3 pooled into the twin's store only


def test_routing_adds_nothing_to_the_state_dict():
    """Taps and pre-hooks hold no parameter or buffer: checkpoints keep their keys."""
    model = build('emca_srm_branch_every_all')
    assert [name for name, _ in model.named_modules() if name.endswith('.tap')] == [
        f'layer{s}.{b}.tap' for s in (1, 2, 3) for b in (0, 1)]
    assert not [key for key in model.state_dict() if '.tap' in key]
    EMCAResNet(depth=18, host='srm', tap='branch', where='every', prev_stages='all', stem='cifar').load_state_dict(
        model.state_dict(), strict=True)


def test_mmengine_flop_counter_counts_stages_and_emca_gates():
    model = build('emca_se').eval()
    analyzer = FlopAnalyzer(model, (inputs(), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    flops = analyzer.by_module()
    for layer, blocks in zip(model.res_layers, model.stage_blocks):
        assert flops[layer] == sum(flops[f'{layer}.{j}'] for j in range(blocks)) > 0
    # the gate of stage 2 fuses R = 3 descriptors: the fusion (B * C * R multiply-adds) on top of its SE host
    assert flops['layer2.0.attn'] - flops['layer2.0.attn.host'] == 2 * 128 * 3
    assert not {f'layer{i}' for i in (1, 2, 3, 4)} & analyzer.uncalled_modules()
