"""The torch 2.1-2.3 fallbacks of :mod:`mmemanet.utils.torch_compat`, run on this torch by taking the newer
API away (monkeypatch) and putting the older one in its place where this torch no longer has it. On a torch that
is itself older (tools/env_matrix.sh's torch 2.1), the same tests run the fallbacks on the real older API."""
import os
import pickle
import types

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from torch.torch_version import TorchVersion

from mmemanet.checkpoints import safe_loading
from mmemanet.models.layers.mixture_attention import MixtureAttention
from mmemanet.models.layers.precision import autocast_off
from mmemanet.utils import torch_compat


class Torch23(types.ModuleType):
    """torch as :mod:`torch_compat` would see torch 2.1-2.3: no device-generic autocast queries,
    ``is_autocast_enabled()`` for CUDA only, the per-device ``*_cpu_*`` / ``*_gpu_*`` queries; everything
    else is this torch (torch itself is left alone: its ``torch.autocast`` needs the new queries)."""

    def __init__(self):
        super().__init__('torch')
        self.is_autocast_enabled = lambda: torch.is_autocast_enabled('cuda')
        self.is_autocast_cpu_enabled = lambda: torch.is_autocast_enabled('cpu')
        self.get_autocast_cpu_dtype = lambda: torch.get_autocast_dtype('cpu')
        self.get_autocast_gpu_dtype = lambda: torch.get_autocast_dtype('cuda')

    def __getattr__(self, name):
        if name == 'get_autocast_dtype':
            raise AttributeError(name)
        return getattr(torch, name)


NEW_AUTOCAST = hasattr(torch, 'get_autocast_dtype')  # torch >= 2.4


@pytest.fixture
def torch_2_3(monkeypatch):
    """torch as torch 2.1-2.3 has it: simulated on a newer torch, the real one on an older torch."""
    if NEW_AUTOCAST:
        monkeypatch.setattr(torch_compat, 'torch', Torch23())
    assert not torch_compat._device_generic_autocast()


@pytest.mark.skipif(not NEW_AUTOCAST, reason='torch < 2.4 has no device-generic autocast queries to use')
def test_autocast_queries_use_torch_where_it_has_them():
    assert torch_compat._device_generic_autocast()
    assert not torch_compat.is_autocast_enabled('cpu')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch_compat.is_autocast_enabled('cpu')
        assert torch_compat.get_autocast_dtype('cpu') == torch.bfloat16


def test_autocast_queries_fall_back_to_the_per_device_ones(torch_2_3):
    assert not torch_compat.is_autocast_enabled('cpu')
    assert not torch_compat.is_autocast_enabled('cuda')
    assert not torch_compat.is_autocast_enabled('no_such_device')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch_compat.is_autocast_enabled('cpu')
        assert not torch_compat.is_autocast_enabled('cuda')
        assert torch_compat.get_autocast_dtype('cpu') == torch.bfloat16
        assert isinstance(autocast_off(torch.ones(1)), torch.autocast)
    with pytest.raises(RuntimeError, match='no autocast dtype query'):
        torch_compat.get_autocast_dtype('no_such_device')


def test_mixture_attention_under_autocast_with_the_fallback(torch_2_3, monkeypatch):
    """MA's shared-input convolutions (training path) ask for the autocast dtype through the fallback."""
    asked = []
    monkeypatch.setattr(torch_compat.torch, 'get_autocast_cpu_dtype', lambda: asked.append(1) or torch.bfloat16)
    torch.manual_seed(0)
    ma = MixtureAttention(in_channels=64)
    x = torch.randn(2, 64, 8, 8, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = ma(x)
    out.float().sum().backward()
    assert asked and out.shape == x.shape and out.dtype == torch.bfloat16 and x.grad.dtype == torch.float32


def test_grad_scaler_falls_back_to_the_cuda_one(monkeypatch):
    made = []
    monkeypatch.delattr(torch.amp, 'GradScaler', raising=False)  # torch < 2.3 has none
    monkeypatch.setattr(torch.cuda.amp, 'GradScaler', lambda: made.append('cuda') or 'scaler')
    assert torch_compat.grad_scaler('cuda') == 'scaler' and made == ['cuda']
    with pytest.raises(RuntimeError, match='CUDA only'):
        torch_compat.grad_scaler('cpu')


def test_onnx_export_without_the_dynamo_exporter(monkeypatch, tmp_path):
    """torch < 2.5: the TorchScript exporter is called with the path (its only form there)."""
    from mmemanet.analysis import onnx_export
    calls = []

    def old_export(model, args, f, input_names=None, output_names=None, opset_version=None):
        calls.append((f, input_names, output_names, opset_version))

    assert torch_compat.onnx_has_dynamo_exporter() == (TorchVersion(torch.__version__.split('+')[0]) >= (2, 5))
    monkeypatch.setattr(torch.onnx, 'export', old_export)
    assert not torch_compat.onnx_has_dynamo_exporter()
    onnx_export.export_onnx(torch.nn.Identity(), torch.ones(1), str(tmp_path / 'm.onnx'), ['out'], 17)
    assert calls == [(str(tmp_path / 'm.onnx'), ['input'], ['out'], 17)]


def _runner_like_checkpoint(path):
    """The globals of a Runner checkpoint: tensors, numpy arrays / scalars, a message hub whose
    HistoryBuffers pickle their statistics methods through ``getattr``."""
    hub = MessageHub.get_instance('torch_compat_test')
    hub.update_scalar('train/loss', np.float64(1.5))
    hub.update_scalar('train/loss', 2.0)
    torch.save({'state_dict': {'w': torch.arange(4.)}, 'message_hub': hub.state_dict(),
                'meta': {'epoch': 2, 'seed': np.int64(3), 'mean': np.arange(3.)}}, path)
    return hub.state_dict()


class Evil:
    def __reduce__(self):
        return (os.system, ('echo owned',))


def test_safe_loading_without_add_safe_globals(monkeypatch, tmp_path):
    """torch < 2.4 (no ``add_safe_globals``): the restricted unpickler loads a Runner checkpoint and refuses
    code, and :func:`safe_loading.install` leaves torch's allow-list alone."""
    monkeypatch.delattr(torch.serialization, 'add_safe_globals', raising=False)  # torch < 2.4 has none
    assert not torch_compat.weights_only_by_default()
    safe_loading.install()
    path = tmp_path / 'runner.pth'
    hub_state = _runner_like_checkpoint(path)
    loaded = safe_loading.load_from_local(str(path), map_location='cpu')
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.))
    assert loaded['meta']['seed'] == 3 and np.array_equal(loaded['meta']['mean'], np.arange(3.))
    loss = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer) and loss.mean() == hub_state['log_scalars']['train/loss'].mean()

    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Evil()}, evil)
    with pytest.raises(safe_loading.CheckpointLoadError, match=r'refused to load checkpoint .*evil\.pth.*system'):
        safe_loading.load_from_local(str(evil))
    with pytest.raises(pickle.UnpicklingError, match="getattr.*'__globals__'"):
        safe_loading.RestrictedUnpickler.find_class(None, 'builtins', 'getattr')(
            torch._utils._rebuild_tensor_v2, '__globals__')


def test_torch_2_4_and_2_5_use_the_restricted_unpickler(monkeypatch):
    """``add_safe_globals`` exists from 2.4, but weights-only loading is the default (and the
    ``(function, name)`` allow-list form exists) only from 2.6."""
    monkeypatch.setattr(torch, '__version__', '2.5.1+cu124')
    assert not torch_compat.weights_only_by_default()
    monkeypatch.setattr(torch, '__version__', '2.6.0')
    assert torch_compat.weights_only_by_default() == hasattr(torch.serialization, 'add_safe_globals')
