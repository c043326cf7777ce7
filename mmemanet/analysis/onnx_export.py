"""ONNX export of a classifier or a backbone, and its check with onnxruntime against PyTorch.

The layers' custom autograd Functions step aside while exporting (see
:func:`mmemanet.models.layers.tracing.tracing`): the exported graph holds plain ONNX operators only.
"""
from typing import List

import numpy as np
import torch
from torch import nn

from ..utils.torch_compat import onnx_has_dynamo_exporter
from .build import BuiltModel

#: The onnxruntime check: every output value within ``EXPORT_ATOL + EXPORT_RTOL x |PyTorch value|`` (float32).
EXPORT_RTOL = 1e-3
EXPORT_ATOL = 1e-4


class ClassifierLogits(nn.Module):
    """An mmpretrain classifier as ``x: [B, 3, H, W] -> logits [B, num_classes]`` (``mode='tensor'``)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(x, mode='tensor')


def exportable(built: BuiltModel) -> nn.Module:
    """The module to export, in eval mode: a classifier's logits, a detector's backbone or a bare backbone."""
    if built.kind == 'classifier':
        return ClassifierLogits(built.model).eval()
    return (built.model.backbone if built.kind == 'detector' else built.model).eval()


def output_names(built: BuiltModel, num_outputs: int) -> List[str]:
    """``['logits']`` for a classifier, else ``['feat0', ...]``, one per backbone map."""
    return ['logits'] if built.kind == 'classifier' else [f'feat{i}' for i in range(num_outputs)]


def export_onnx(module: nn.Module, example: torch.Tensor, path: str, output_names: List[str],
                opset_version=None) -> None:
    """Export ``module(example)`` to ``path`` (input name ``'input'``) with torch's default exporter (the
    dynamo exporter; torch < 2.5, which has none, uses its TorchScript exporter)."""
    if not onnx_has_dynamo_exporter():
        torch.onnx.export(module, (example, ), path, input_names=['input'], output_names=output_names,
                          opset_version=opset_version)
        return
    program = torch.onnx.export(module, (example, ), input_names=['input'], output_names=output_names,
                                opset_version=opset_version, dynamo=True, external_data=False)
    program.save(path)


def onnxruntime_outputs(path: str, example: torch.Tensor) -> List[np.ndarray]:
    """The outputs of the ONNX file at ``path`` for ``example``, run by onnxruntime on the CPU."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {'input': example.numpy()})


def torch_outputs(module: nn.Module, example: torch.Tensor) -> List[np.ndarray]:
    """``module(example)`` as a list of arrays (a single tensor or a tuple of them)."""
    with torch.no_grad():
        out = module(example)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out, ))]


def compare_outputs(expected: List[np.ndarray], actual: List[np.ndarray], names: List[str], rtol: float,
                    atol: float) -> float:
    """The largest ``|actual - expected|`` over all outputs; ValueError naming the first output outside
    ``|actual - expected| <= atol + rtol * |expected|`` (or of another shape)."""
    if len(actual) != len(expected):
        raise ValueError(f'onnxruntime gave {len(actual)} outputs where PyTorch gives {len(expected)}')
    worst = 0.0
    for name, e, a in zip(names, expected, actual):
        if a.shape != e.shape:
            raise ValueError(f'output {name}: onnxruntime shape {a.shape} != PyTorch shape {e.shape}')
        diff = np.abs(a - e)
        worst = max(worst, float(diff.max()))
        bad = diff > atol + rtol * np.abs(e)
        if bad.any():
            raise ValueError(f'output {name}: {int(bad.sum())} of {bad.size} values differ from PyTorch by more '
                             f'than atol={atol} + rtol={rtol} x |value| (max abs difference {float(diff.max()):.3g})')
    return worst
