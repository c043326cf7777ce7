"""Package foundation: registration in every registry, safe checkpoint loading with the real Runner."""
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import mmemanet
from mmemanet.checkpoints import CheckpointLoadError, load_from_local
from mmemanet.utils.torch_compat import weights_only_by_default

BACKBONES = ('AttnResNet', 'EMANet', 'EMCAResNet')
HOOKS = ('NonFiniteLossHook', 'CheckpointCompatibilityHook', 'ExactResumeHook')
LAYERS = ('MixtureAttention', 'PyramidSplitAttention', 'SoftBAN', 'SEGate', 'ECAGate', 'SRMGate', 'FcaGate', 'EMCA')


@pytest.mark.slow
def test_import_registers_without_mmdet_or_mmpretrain():
    """With mmdet and mmpretrain absent, ``import mmemanet`` still registers into the root registry."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules['mmdet'] = sys.modules['mmpretrain'] = None  # what an absent package looks like
        import mmemanet
        from mmengine.registry import MODELS
        assert not any(m.split('.')[0] in ('mmdet', 'mmpretrain') and sys.modules[m] is not None
                   for m in sys.modules), 'imported'
        missing = [n for n in {BACKBONES + LAYERS!r} if MODELS.get(n) is None]
        assert not missing, missing
        print('ok')
        """)
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'ok'


def test_backbones_are_in_both_codebase_registries_and_layers_in_the_root():
    from mmdet.registry import MODELS as DET
    from mmengine.registry import MODELS as ROOT
    from mmpretrain.registry import MODELS as CLS
    for name in BACKBONES:
        # registered in the codebase registries themselves, not only found through the root; mmdet's entry is the
        # same network with mmdet's defaults
        assert name in DET.module_dict and name in CLS.module_dict, name
        assert CLS.get(name) is ROOT.get(name) is not None, name
        assert issubclass(DET.get(name), ROOT.get(name)) and DET.get(name).defaults['out_indices'] == (0, 1, 2, 3)
    for name in LAYERS:
        assert ROOT.get(name) is not None, name
    from mmengine.registry import HOOKS as ROOT_HOOKS
    for name in HOOKS:
        assert ROOT_HOOKS.get(name) is not None, name


class TinyModel(BaseModel):
    """A two-layer regressor: inputs [B, 4] -> [B, 1]."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, inputs, targets, mode='tensor'):
        out = self.net(inputs)
        if mode == 'loss':
            return dict(loss=nn.functional.mse_loss(out, targets))
        return out


class ToyData(torch.utils.data.Dataset):

    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(32, 4, generator=gen)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


def make_runner(work_dir, max_epochs, **kwargs):
    return Runner(
        model=TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyData(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=8, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0), default_scope=None, **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint saved by the real mmengine Runner after 2 epochs (its message hub included)."""
    work_dir = tmp_path_factory.mktemp('runner')
    make_runner(work_dir, max_epochs=2).train()
    path = work_dir / 'epoch_2.pth'
    assert path.is_file()
    return path


@pytest.mark.skipif(not weights_only_by_default(), reason='torch < 2.6 does not load weights-only by default')
def test_runner_checkpoint_loads_with_default_weights_only(runner_checkpoint):
    raw = torch.load(runner_checkpoint, map_location='cpu')  # weights_only left at its default
    assert raw['meta']['epoch'] == 2
    hub = raw['message_hub']['log_scalars']
    assert 'train/loss' in hub and len(hub['train/loss'].data[0]) > 0
    model = TinyModel()
    load_checkpoint(model, str(runner_checkpoint), map_location='cpu', strict=True)
    torch.testing.assert_close(model.state_dict(), raw['state_dict'])


def test_runner_resumes_from_its_checkpoint(runner_checkpoint, tmp_path):
    runner = make_runner(tmp_path, max_epochs=3, resume=True, load_from=str(runner_checkpoint))
    runner.train()
    assert runner.epoch == 3
    assert runner.iter == 12  # 2 resumed epochs + 1 new one of 4 iterations


class Evil:
    def __reduce__(self):
        return (os.system, ('echo owned',))


class GetattrEscape:
    """Reaches ``HistoryBuffer.__init__.__globals__`` through getattr: anything would follow."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


class GetattrOnAllowedGlobal:
    """``torch._utils._rebuild_tensor_v2.__globals__``: an allowed function's module namespace."""

    def __reduce__(self):
        return (getattr, (torch._utils._rebuild_tensor_v2, '__globals__'))


@pytest.mark.parametrize('payload,reason', [
    (Evil(), 'system'),
    (GetattrEscape(), "getattr.*'__init__'"),
    (GetattrOnAllowedGlobal(), "getattr.*'__globals__'"),
])
def test_checkpoints_carrying_code_are_refused(tmp_path, payload, reason):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': payload}, path)
    if weights_only_by_default():  # torch's own default load refuses it too (torch < 2.6 would run it)
        with pytest.raises(pickle.UnpicklingError, match=reason):
            torch.load(path)
    with pytest.raises(CheckpointLoadError, match=rf'refused to load checkpoint {path}'):
        load_from_local(str(path))
    with pytest.raises(CheckpointLoadError):
        load_checkpoint(TinyModel(), str(path))


def test_allowed_getattr_is_limited_to_history_buffer_statistics():
    from mmengine.logging.history_buffer import HistoryBuffer

    from mmemanet.checkpoints.safe_loading import checkpoint_getattr
    assert checkpoint_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in ((HistoryBuffer, 'update'), (HistoryBuffer, '__class__'), (torch, 'load')):
        with pytest.raises(pickle.UnpicklingError):
            checkpoint_getattr(obj, name)


def test_missing_and_truncated_checkpoints_give_clear_errors(runner_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_checkpoint(TinyModel(), str(tmp_path / 'nowhere.pth'))
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(runner_checkpoint.read_bytes()[:2000])
    with pytest.raises(CheckpointLoadError, match=r'truncated\.pth \(2,000 bytes\) is truncated or corrupt'):
        load_checkpoint(TinyModel(), str(truncated))


def test_version_is_exposed():
    assert mmemanet.__version__.count('.') == 2
