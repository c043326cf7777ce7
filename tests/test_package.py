"""The package as users get it: its configs inherited as ``mmemanet::<folder>/<config>.py`` from a config of
their own, anywhere; the wheel with its configs, tools and model index."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import textwrap

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


@pytest.mark.slow
def test_wheel_carries_configs_tools_and_model_index(tmp_path):
    """``pip wheel`` of the working tree (as a clean checkout has it), installed (no editable link, no repository
    on ``sys.path``) into a venv that sees the stack: the package, its ``.mim`` as real files, ``mmemanet::``."""
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT, check=True, text=True,
                           stdout=subprocess.PIPE).stdout.split()
    src = tmp_path / 'src'
    for name in files:
        if osp.isfile(osp.join(ROOT, name)):
            os.makedirs(src / osp.dirname(name), exist_ok=True)
            shutil.copy2(osp.join(ROOT, name), src / name)
    pip = [sys.executable, '-m', 'pip']
    subprocess.run(pip + ['wheel', '.', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist')],
                   cwd=src, check=True)
    wheel, = (tmp_path / 'dist').glob('mmemanet-*.whl')
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], check=True,
                          text=True, stdout=subprocess.PIPE).stdout.strip()
    # the stack of this environment (torch, mmengine, mmcv, mmdet, mmpretrain) next to the installed wheel; its
    # editable mmemanet finder is not loaded (a path in a .pth file does not run that folder's .pth files)
    with open(osp.join(site, 'stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run(pip + ['--python', python, 'install', '--no-deps', '--no-index', '-q', str(wheel)], check=True)
    run = tmp_path / 'run'
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([python, '-c', INSTALLED_CHECK], cwd=run, env=env, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    assert out.returncode == 0 and 'installed ok' in out.stdout, out.stdout[-3000:]
