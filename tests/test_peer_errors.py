"""Invalid backbone arguments: our one-line ValueError is also the exception type mmdet 3.3's and mmpretrain 1.2's
ResNets raise for the same mistake (KeyError, AssertionError, AttributeError), checked against the peers themselves."""
import copy
from typing import Callable, List, NamedTuple

import pytest
from mmdet.models.backbones import ResNet as MMDetResNet
from mmengine.registry import MODELS
from mmpretrain.models.backbones import ResNet as MMPretrainResNet
from mmpretrain.models.backbones import ResNet_CIFAR

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.models.backbones import AttnResNet

DCN = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
PLUGIN = dict(type='ContextBlock', ratio=1. / 4)
MMDET, MMPRETRAIN = MMDetResNet, MMPretrainResNet


def mmpretrain_cifar(stem, **kwargs):
    """mmpretrain's ResNet_CIFAR, our ``stem='cifar'``."""
    return ResNet_CIFAR(**kwargs)


class Case(NamedTuple):
    """``AttnResNet(**args)`` fails with the one line ``message`` (a regex); each of ``peers`` given the same
    arguments fails with ``peer_type``."""
    args: dict
    peers: List[Callable]
    peer_type: type
    message: str


CASES = {
    'depth': Case(dict(depth=20), [MMDET, MMPRETRAIN], KeyError,
                  r'depth=20 is not supported; valid depths are \[18, 34, 50, 101, 152\]'),
    'num_stages_0': Case(dict(depth=18, num_stages=0), [MMDET, MMPRETRAIN], AssertionError,
                         r'num_stages=0 with .*: need 1 <= num_stages <= 4 and one stride and one dilation per '
                         r'stage'),
    'num_stages_5': Case(dict(depth=18, num_stages=5), [MMDET, MMPRETRAIN], AssertionError, r'num_stages=5 with .*'),
    'strides': Case(dict(depth=18, strides=(1, 2, 2)), [MMDET, MMPRETRAIN], AssertionError,
                    r'num_stages=4 with strides=\(1, 2, 2\) .*'),
    'dilations': Case(dict(depth=18, dilations=(1, 1, 1)), [MMDET, MMPRETRAIN], AssertionError,
                      r'num_stages=4 with .* dilations=\(1, 1, 1\): .*'),
    'style': Case(dict(depth=50, style='tensorflow'), [MMDET, MMPRETRAIN], AssertionError,
                  r"style='tensorflow'; valid styles are \['pytorch', 'caffe'\]"),
    'cifar_deep_stem': Case(dict(depth=18, stem='cifar', deep_stem=True), [mmpretrain_cifar], AssertionError,
                            r"deep_stem=True cannot combine with stem='cifar' .*"),
    'out_indices': Case(dict(depth=18, out_indices=(4, )), [MMDET, MMPRETRAIN], AssertionError,
                        r'out_indices=\(4,\) must lie in \[0, 4\)'),
    'frozen_stages': Case(dict(depth=18, frozen_stages=5), [MMDET, MMPRETRAIN], AttributeError,
                          r'frozen_stages=5 must lie in \[-1, 4\]'),
    'stage_with_dcn': Case(dict(depth=50, dcn=DCN, stage_with_dcn=(True, )), [MMDET], AssertionError,
                           r'stage_with_dcn=\(True,\) needs one flag per stage \(num_stages=4\)'),
    'conv_cfg_with_dcn': Case(dict(depth=50, conv_cfg=dict(type='Conv'), dcn=DCN, stage_with_dcn=(False, True) * 2),
                              [MMDET], AssertionError, r"conv_cfg=\{'type': 'Conv'\} cannot combine with dcn=.*"),
    'plugin_stages': Case(dict(depth=50, plugins=[dict(cfg=PLUGIN, position='after_conv3', stages=(True, ))]),
                          [MMDET], AssertionError, r'plugin stages=\(True,\) must have one flag per stage \(4\)'),
    'plugin_position': Case(dict(depth=50, plugins=[dict(cfg=PLUGIN, position='after_conv4')]), [MMDET],
                            AssertionError, r"Bottleneck got plugin position 'after_conv4'; .*"),
    'duplicate_plugin': Case(dict(depth=50, plugins=[dict(cfg=PLUGIN, position='after_conv3')] * 2), [MMDET],
                             AssertionError, r"duplicate plugin name 'context_block' in Bottleneck; .*"),
    'basic_block_expansion': Case(dict(depth=18, expansion=2), [MMPRETRAIN], AssertionError,
                                  r'expansion=2 is not supported by BasicBlock .*'),
    'pretrained_and_init_cfg': Case(dict(depth=18, pretrained='a.pth', init_cfg=dict(type='Pretrained')), [MMDET],
                                    AssertionError, r"pretrained='a.pth' and init_cfg=.* were both given; .*"),
}


@pytest.mark.parametrize('case', CASES.values(), ids=CASES)
def test_one_line_value_error_of_the_peers_type(case):
    for peer in case.peers:
        with pytest.raises(case.peer_type):
            peer(**copy.deepcopy(case.args))
    with pytest.raises(case.peer_type) as info:
        AttnResNet(**copy.deepcopy(case.args))
    assert isinstance(info.value, ValueError)
    assert '\n' not in str(info.value)
    assert info.match(f'^{case.message}$')


def test_built_from_a_config_it_is_the_same_error():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='EMCAResNet', depth=20))
    assert isinstance(info.value, ValueError)
    assert str(info.value) == 'depth=20 is not supported; valid depths are [18, 34, 50, 101, 152]'
