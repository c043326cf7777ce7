"""The package as users get it: its configs inherited as ``mmemanet::<folder>/<config>.py`` from a config of
their own, anywhere; the wheel with its configs, tools and model index."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile

import pytest
from mmengine.config import Config

import mmemanet  # noqa: F401  (lets mmengine resolve mmemanet::)

from tool_modules import ROOT


def test_own_config_inherits_ours_through_the_package(tmp_path):
    own = tmp_path / 'my_detector.py'
    own.write_text(textwrap.dedent("""
        _base_ = 'mmemanet::emanet/faster_rcnn_emanet50_voc.py'
        train_cfg = dict(max_epochs=2)
    """))
    cfg = Config.fromfile(str(own))
    ours = Config.fromfile(osp.join(ROOT, 'configs', 'emanet', 'faster_rcnn_emanet50_voc.py'))
    assert cfg.train_cfg.max_epochs == 2
    cfg.train_cfg.max_epochs = ours.train_cfg.max_epochs
    # read as its own file would be: no ``_scope_='mmemanet'`` stamped on the inherited dicts
    assert cfg.to_dict() == ours.to_dict()
    assert cfg.model.backbone.type == 'EMANet' and cfg.default_scope == 'mmdet'
    assert cfg.train_dataloader.dataset.dataset.datasets[0].type == 'CheckedVOCDataset'


INSTALLED_CHECK = """
import os.path as osp, sys, sysconfig
import mmemanet
from mmengine.config import Config
site = sysconfig.get_paths()['purelib']
assert osp.dirname(mmemanet.__file__) == osp.join(site, 'mmemanet'), (mmemanet.__file__, site)
mim = osp.join(site, 'mmemanet', '.mim')
assert not osp.islink(osp.join(mim, 'configs')) and osp.isfile(osp.join(mim, 'model-index.yml'))
assert osp.isfile(osp.join(mim, 'configs', 'emanet', 'metafile.yml')) and osp.isfile(osp.join(mim, 'tools', 'train.py'))
open('own.py', 'w').write("_base_ = 'mmemanet::emca/emca_se_resnet18_cifar10.py'\\n")
cfg = Config.fromfile('own.py')
assert cfg.model.backbone.type == 'EMCAResNet' and cfg.default_scope == 'mmpretrain', cfg.model
print('installed ok')
"""


def clean_checkout(dest) -> str:
    """The files of a clean checkout of this working tree (tracked and untracked-not-ignored) copied to ``dest``."""
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT, check=True, text=True,
                           stdout=subprocess.PIPE).stdout.split()
    for name in files:
        if osp.isfile(osp.join(ROOT, name)):
            os.makedirs(osp.join(dest, osp.dirname(name)), exist_ok=True)
            shutil.copy2(osp.join(ROOT, name), osp.join(dest, name))
    return str(dest)


def venv_beside_the_stack(folder) -> str:
    """A new venv at ``folder`` (its Python returned) that sees this environment's stack (torch, mmengine, mmcv,
    mmdet, mmpretrain, openmim) but not its editable mmemanet: a path in a .pth file does not run that folder's
    .pth files, so the editable finder is not loaded."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(folder)], check=True)
    python = osp.join(folder, 'bin', 'python')
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], check=True,
                          text=True, stdout=subprocess.PIPE).stdout.strip()
    with open(osp.join(site, 'stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    return python


def run_installed(python, args, cwd):
    """``python args`` in ``cwd`` without PYTHONPATH; returns the output (stdout and stderr) and checks the exit."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([python, *map(str, args)], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    assert out.returncode == 0, out.stdout[-3000:]
    return out.stdout


@pytest.mark.slow
def test_sdist_and_wheel_carry_configs_tools_and_model_index(tmp_path, small_datasets):
    """The sdist of a clean checkout, and the wheel pip builds from that sdist, pass ``twine check``; the wheel,
    installed (no editable link, no repository on ``sys.path``) beside the stack: the package, its ``.mim`` as
    real files, ``mmemanet::`` inheritance, ``mim search mmemanet`` and a short ``mim train mmemanet`` of the demo
    classifier on the small CIFAR-10 set, with the guards of the runtime base. The sdist carries the compiled
    kernels' source; the wheel is built without them (``MMEMANET_WITH_OPS=0``: an install without a compiler,
    and 45 s less here; tests/test_conv_cpu.py checks the kernels of the set-up's build)."""
    src = clean_checkout(tmp_path / 'src')
    dist = tmp_path / 'dist'
    without_kernels = {**os.environ, 'MMEMANET_WITH_OPS': '0'}
    subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(dist)], cwd=src, check=True,
                   stdout=subprocess.DEVNULL, env=without_kernels)
    sdist, = dist.glob('mmemanet-*.tar.gz')
    with tarfile.open(sdist) as archive:
        assert f'{sdist.name[:-len(".tar.gz")]}/mmemanet/ops/csrc/conv_cpu.cpp' in archive.getnames()
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(sdist), '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(dist)], cwd=tmp_path, check=True, env=without_kernels)
    wheel, = dist.glob('mmemanet-*.whl')
    with zipfile.ZipFile(wheel) as archive:  # pure Python (the kernels this venv sees are the stack's own build)
        assert not [name for name in archive.namelist() if name.endswith(('.so', '.pyd'))]
    twine = subprocess.run([sys.executable, '-m', 'twine', 'check', '--strict', str(sdist), str(wheel)], text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert twine.returncode == 0 and twine.stdout.count('PASSED') == 2, twine.stdout

    python = venv_beside_the_stack(tmp_path / 'venv')
    subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps', '--no-index', '-q',
                    str(wheel)], check=True)
    run = tmp_path / 'run'
    run.mkdir()
    assert 'installed ok' in run_installed(python, ['-c', INSTALLED_CHECK], run)

    found = run_installed(python, ['-m', 'mim', 'search', 'mmemanet', '--valid-config'], run)
    assert all(name in found for name in ('faster_rcnn_emanet50_voc', 'emanet18_synthetic_cifar10',
                                          'emca_eca_resnet50_imagenet')), found
    cifar = small_datasets / 'cifar10'
    options = [f'{split}_dataloader.dataset.data_root={cifar}' for split in ('train', 'test')] + [
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', 'train_dataloader.batch_size=8',
        'train_cfg.max_epochs=1']
    trained = run_installed(python, ['-m', 'mim', 'train', 'mmemanet', 'emanet18_synthetic_cifar10.py', '--gpus', 0,
                                     '--work-dir', tmp_path / 'work', '--cfg-options', *options], run)
    assert osp.join('site-packages', 'mmemanet', '.mim', 'tools', 'train.py') in trained, trained[-3000:]
    assert all(hook in trained for hook in ('NonFiniteLossHook', 'StartCheckpointHook')), trained[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file(), trained[-3000:]
