"""ONNX export (tools/deployment/export_onnx.py): config + checkpoint -> an ONNX file whose onnxruntime (CPU)
outputs match PyTorch within the tool's tolerance, for an EMANet classifier (MA: shared-input branch
convolutions and format changes, SoftBAN), an EMCA-SRM ResNet (SRM's style pooling) and a detector's backbone."""
import os.path as osp

import numpy as np
import pytest
import torch

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.analysis import build_target
from mmemanet.analysis.onnx_export import compare_outputs

from tool_modules import ROOT, load_tool


def write_checkpoint(config, path, seed=0):
    """A Runner-style checkpoint of the config's model with random parameters and running statistics, so
    that every gate and SoftBAN term matters in the comparison."""
    model = build_target(config).model
    gen = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for name, tensor in state.items():
        if name.endswith('running_var'):
            tensor.uniform_(0.5, 2.0, generator=gen)
        elif tensor.is_floating_point():
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
    torch.save(dict(state_dict=state, meta=dict()), path)


EMANET18 = 'emanet18_cifar10.py'  # written by the test: the EMANet-50 CIFAR config at depth 18


@pytest.mark.slow
@pytest.mark.parametrize('config,shape,outputs', [
    (EMANET18, '32', ['logits [1, 10]']),
    ('configs/emca/emca_srm_resnet18_cifar10.py', '32', ['logits [1, 10]']),
    ('configs/emca/faster_rcnn_emca_eca_r50_fpn_1x_coco.py', '64',
     ['feat0 [1, 256, 16, 16]', 'feat1 [1, 512, 8, 8]', 'feat2 [1, 1024, 4, 4]', 'feat3 [1, 2048, 2, 2]']),
], ids=['emanet18', 'emca_srm_resnet18', 'faster_rcnn_emca_eca_backbone'])
def test_export_matches_pytorch_in_onnxruntime(tmp_path, capsys, config, shape, outputs):
    checkpoint, onnx_file = tmp_path / 'model.pth', tmp_path / 'model.onnx'
    if config == EMANET18:
        config = str(tmp_path / EMANET18)
        with open(config, 'w') as f:
            f.write(f"_base_ = {osp.join(ROOT, 'configs/emanet/emanet50_cifar10.py')!r}\n"
                    "model = dict(backbone=dict(depth=18), head=dict(in_channels=512))\n")
    config = osp.join(ROOT, config)
    write_checkpoint(config, checkpoint)
    tool = load_tool('deployment/export_onnx')
    status = tool.main([config, str(checkpoint), '--shape', shape, '--output-file', str(onnx_file)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert onnx_file.is_file()
    assert 'onnxruntime check passed: max abs difference' in out
    assert ', '.join(outputs) in out


def test_compare_outputs_names_the_output_out_of_tolerance():
    expected = [np.zeros((1, 3), np.float32), np.ones((2, 2), np.float32)]
    close = [expected[0] + 5e-5, expected[1] * (1 + 5e-4)]
    assert compare_outputs(expected, close, ['a', 'b'], rtol=1e-3, atol=1e-4) == pytest.approx(5e-4, rel=1e-3)
    with pytest.raises(ValueError, match=r'output b: 1 of 4 values differ .*max abs difference 0.01'):
        compare_outputs(expected, [expected[0], expected[1] + np.array([[0, 0], [0, 1e-2]], np.float32)],
                        ['a', 'b'], rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match=r'output a: onnxruntime shape \(3,\) != PyTorch shape \(1, 3\)'):
        compare_outputs(expected, [np.zeros(3, np.float32), expected[1]], ['a', 'b'], rtol=1e-3, atol=1e-4)


def test_bad_shape_fails_early(tmp_path):
    tool = load_tool('deployment/export_onnx')
    with pytest.raises(SystemExit):
        tool.main(['configs/emanet/emanet50_cifar10.py', str(tmp_path / 'none.pth'), '--shape', '1', '2', '3'])
