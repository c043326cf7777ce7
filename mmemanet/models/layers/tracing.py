"""Whether a graph is being traced for export or counting, when custom autograd Functions must step aside."""
import torch


def tracing() -> bool:
    """True under ``torch.jit.trace`` (FLOP counters, the TorchScript ONNX exporter) and ``torch.onnx.export``.

    The layers' custom autograd Functions (memory-format changes with a format-keeping gradient, the shared-input
    branch convolutions, SRM's sliced style pooling) exist for speed and memory in training only; while tracing,
    the layers compute the same function with plain differentiable ops, which every exporter and counter knows.
    """
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
