"""Parameter and MAC counts in the units of the papers' tables.

The papers count with thop, which only sees the parameters of standard layers (convolutions,
norms, linear layers, matched by EXACT type). Raw tensors of custom modules, such as SoftBAN's four
tensors and SRM's channel-wise FC, are invisible to it (EMCA's fusion weights live in a Conv1d, so
they are visible, as in the EMCA paper's counts). Both counts are
reported: ``true`` (every parameter) and ``thop`` (what the papers' tables show).
MACs come from mmengine's jit-trace ``FlopAnalyzer`` (one multiply-add = 1); it skips operators it
has no rule for (softmax, sigmoid, GELU, ...), which are listed in ``skipped_ops``. A whole detector is
counted as mmdet's ``tools/analysis_tools/get_flops.py`` counts it: one image through the detector's data
preprocessor (padding included), then ``mode='tensor'`` (backbone, neck, RPN and RoI head on the RPN's
proposals).
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn

#: the papers' binary units: "M" parameters = count / 2^20, "G" MACs = count / 2^30
BINARY_MEGA = 2**20
BINARY_GIGA = 2**30

# Layer types whose own parameters thop counts (exact type match, as thop's hook table does).
THOP_LAYER_TYPES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm,
    nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.Linear,
    nn.PReLU, nn.Embedding)


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """``{'true': all parameters, 'thop': parameters of standard layers (exact type)}``."""
    true = sum(p.numel() for p in model.parameters())
    thop = sum(p.numel() for m in model.modules() if type(m) in THOP_LAYER_TYPES
               for p in m.parameters(recurse=False))
    return dict(true=true, thop=thop)


@dataclass
class ComplexityReport:
    """Counts of one model at one input size."""
    name: str
    input_shape: Tuple[int, ...]
    params_true: int
    params_thop: int
    macs: int
    skipped_ops: Dict[str, int] = field(default_factory=dict)

    @property
    def params_thop_m(self) -> float:
        return self.params_thop / BINARY_MEGA

    @property
    def macs_g(self) -> float:
        return self.macs / BINARY_GIGA


class _DetectorTensorForward(nn.Module):
    """``detector(inputs, data_samples, mode='tensor')`` as a one-argument module, for the jit tracer (what
    get_flops.py does by binding ``data_samples`` to the detector's forward)."""

    def __init__(self, detector: nn.Module, data_samples):
        super().__init__()
        self.detector = detector
        self.data_samples = data_samples

    def forward(self, inputs):
        return self.detector(inputs, self.data_samples, mode='tensor')


def measure_complexity(model: nn.Module, input_shape: Sequence[int],
                       name: str = '') -> ComplexityReport:
    """Count parameters and MACs of ``model`` (eval mode) on one zero input of ``input_shape``."""
    return _count(model, model, torch.zeros(tuple(input_shape)), name)


def measure_detector_complexity(detector: nn.Module, image_shape: Sequence[int], name: str = '',
                                seed: int = 0) -> ComplexityReport:
    """Count parameters and MACs of a whole mmdet detector (eval mode) on one synthetic image of
    ``image_shape = (C, H, W)``, as get_flops.py does: ``input_shape`` of the report is the preprocessed
    (padded) batch's."""
    from .detection_batch import synthetic_detection_batch
    num_classes = next(m.num_classes for m in detector.modules() if isinstance(getattr(m, 'num_classes', None), int))
    data = detector.data_preprocessor(synthetic_detection_batch(1, tuple(image_shape), num_classes, seed=seed), False)
    return _count(detector, _DetectorTensorForward(detector, data['data_samples']), data['inputs'], name)


def _count(model: nn.Module, traced: nn.Module, inputs: torch.Tensor, name: str) -> ComplexityReport:
    """Parameters of ``model`` and MACs of ``traced(inputs)``, both in eval mode."""
    from mmengine.analysis import FlopAnalyzer

    was_training = model.training
    model.eval()
    input_shape = tuple(inputs.shape)
    try:
        analyzer = FlopAnalyzer(traced, (inputs, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        with torch.no_grad():  # the analyzer traces lazily, here
            macs = int(analyzer.total())
            skipped = Counter(analyzer.unsupported_ops())
    finally:
        model.train(was_training)
    params = count_parameters(model)
    return ComplexityReport(name=name, input_shape=input_shape, params_true=params['true'],
                            params_thop=params['thop'], macs=macs, skipped_ops=dict(skipped))
