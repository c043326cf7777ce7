"""The torch APIs newer than torch 2.1 that mmemanet uses, with a fallback for the torch that lacks them.

mmemanet supports torch 2.1 (the newest torch mmcv 2.1.0 ships wheels for, so the oldest torch users of
mmdet 3.3 have) up to the newest. Each function here calls torch's own API when it exists and falls back
to its older equivalent only when it is missing, checked at call time (a cheap ``hasattr``):

================================== ========= =========================================================
API used                           since     fallback
================================== ========= =========================================================
``torch.is_autocast_enabled(dev)`` 2.4       ``torch.is_autocast_enabled()`` (CUDA),
                                             ``torch.is_autocast_cpu_enabled()``, ``..._<dev>_enabled``
``torch.get_autocast_dtype(dev)``  2.4       ``torch.get_autocast_gpu_dtype()`` (CUDA),
                                             ``torch.get_autocast_cpu_dtype()``, ``..._<dev>_dtype``
``torch.amp.GradScaler(dev)``      2.3       ``torch.cuda.amp.GradScaler()`` (CUDA only)
``torch.onnx.export(dynamo=True)`` 2.5       the TorchScript exporter writing the file itself
``torch.compiler.is_compiling()``  2.3       ``torch._dynamo.is_compiling()``
``add_safe_globals`` (with the     2.6       torch < 2.6 does not load weights-only by default: see
``(func, name)`` form)                       :func:`weights_only_by_default` and
                                             :mod:`mmemanet.checkpoints.safe_loading`
================================== ========= =========================================================

``torch.is_autocast_enabled`` and ``torch.get_autocast_dtype`` took a device type in the same release
(2.4), so the presence of ``torch.get_autocast_dtype`` tells which signature ``is_autocast_enabled`` has.
"""
import inspect

import torch
from torch.torch_version import TorchVersion


def _device_generic_autocast() -> bool:
    """Whether torch has the device-generic autocast queries (torch >= 2.4)."""
    return hasattr(torch, 'get_autocast_dtype')


def _legacy_name(device_type: str) -> str:
    return 'gpu' if device_type == 'cuda' else device_type


def is_autocast_enabled(device_type: str) -> bool:
    """``torch.is_autocast_enabled(device_type)``: whether autocast is on for ``device_type``."""
    if _device_generic_autocast():
        return torch.is_autocast_enabled(device_type)
    if device_type == 'cuda':
        return torch.is_autocast_enabled()
    query = getattr(torch, f'is_autocast_{device_type}_enabled', None)
    return bool(query()) if query is not None else False


def get_autocast_dtype(device_type: str) -> torch.dtype:
    """``torch.get_autocast_dtype(device_type)``: the dtype autocast casts to on ``device_type``."""
    if _device_generic_autocast():
        return torch.get_autocast_dtype(device_type)
    query = getattr(torch, f'get_autocast_{_legacy_name(device_type)}_dtype', None)
    if query is None:
        raise RuntimeError(f'torch {torch.__version__} has no autocast dtype query for device {device_type!r}')
    return query()


def grad_scaler(device_type: str = 'cuda'):
    """``torch.amp.GradScaler(device_type)``; ``torch.cuda.amp.GradScaler()`` where ``torch.amp`` has none."""
    if hasattr(torch.amp, 'GradScaler'):
        return torch.amp.GradScaler(device_type)
    if device_type != 'cuda':
        raise RuntimeError(f'torch {torch.__version__} has a GradScaler for CUDA only, not {device_type!r}')
    return torch.cuda.amp.GradScaler()


def onnx_has_dynamo_exporter() -> bool:
    """Whether ``torch.onnx.export`` takes ``dynamo=`` (torch >= 2.5)."""
    try:
        return 'dynamo' in inspect.signature(torch.onnx.export).parameters
    except (TypeError, ValueError):  # pragma: no cover - a signature inspect cannot read
        return False


def weights_only_by_default() -> bool:
    """Whether ``torch.load`` loads weights-only by default (torch >= 2.6), which is also where
    ``torch.serialization.add_safe_globals`` takes the ``(function, 'module.name')`` form
    :mod:`mmemanet.checkpoints.safe_loading` relies on."""
    return (hasattr(torch.serialization, 'add_safe_globals')
            and TorchVersion(torch.__version__.split('+')[0]) >= (2, 6))


def _is_compiling_function():
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling
    from torch import _dynamo
    return _dynamo.is_compiling


# looked up once: dynamo (torch 2.1) cannot trace the attribute checks on the torch module
_IS_COMPILING = _is_compiling_function()


def is_compiling() -> bool:
    """Whether torch.compile (dynamo) is tracing the code: ``torch.compiler.is_compiling`` (torch >= 2.3), else
    ``torch._dynamo.is_compiling``."""
    return _IS_COMPILING()
