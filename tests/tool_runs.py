"""Tool runs shared by the test modules that run ``tools/``.

- :func:`run_in_process`: a tool's ``main(argv)`` in the pytest process, its output captured -- the
  same code as ``python tools/<name>.py ...`` without the ~8 s a new interpreter spends importing
  torch, mmengine, mmdet and mmpretrain. For the tests that are about what a tool does, not about
  the script, the shell launcher or a process of its own.
- :func:`headline_training`: the README's headline command (``tools/dist_train.sh
  configs/faster_rcnn_emanet50_voc.py 2``, two gloo CPU processes) on the small VOC set, run once per
  pytest process and shared by the tests that need a real two-process training (mark them
  ``@pytest.mark.xdist_group(HEADLINE_GROUP)`` so that they share one pytest-xdist worker).
"""
import contextlib
import io
import logging
import os
import os.path as osp
import socket
import subprocess
import sys

from mmengine.utils import ManagerMixin

from tool_modules import ROOT, load_tool

HEADLINE_CONFIG = 'configs/faster_rcnn_emanet50_voc.py'
HEADLINE_GROUP = 'headline_training'

_tools = {}


def _manager_classes(cls=ManagerMixin):
    for sub in cls.__subclasses__():
        yield sub
        yield from _manager_classes(sub)


@contextlib.contextmanager
def own_mmengine_globals():
    """Drop the global instances (loggers, message hubs, default scopes, visualizers) created inside, and
    give back the environment variables: a tool run leaves the pytest process as it found it."""
    before = {cls: set(cls._instance_dict) for cls in _manager_classes()}
    environ = dict(os.environ)
    try:
        yield
    finally:
        for cls in _manager_classes():
            for name in [n for n in cls._instance_dict if n not in before.get(cls, ())]:
                instance = cls._instance_dict.pop(name)
                if isinstance(instance, logging.Logger):
                    for handler in list(instance.handlers):
                        instance.removeHandler(handler)
                        handler.close()
        os.environ.clear()
        os.environ.update(environ)


def run_in_process(tool, argv):
    """``tools/<tool>.py argv`` as ``main(argv)`` of the tool's module in this process; returns what it
    printed (stdout and stderr, mmengine's log included). An exception fails the test with the output
    printed before it (pytest shows it with the failure)."""
    if tool not in _tools:
        _tools[tool] = load_tool(tool)
    out = io.StringIO()
    try:
        with own_mmengine_globals(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            _tools[tool].main([str(a) for a in argv])
    except BaseException:
        print(out.getvalue()[-6000:])
        raise
    return out.getvalue()


# ---------------------------------------------------------------------------- the headline command
def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def headline(nproc, options, torch_home):
    """``tools/dist_train.sh configs/faster_rcnn_emanet50_voc.py N --cfg-options ...`` as the README writes it:
    no PYTHON (the script finds .venv), a free PORT, the torch cache of ``torch_home``."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env.update(PORT=str(free_port()), TORCH_HOME=torch_home, OMP_NUM_THREADS='1')
    return subprocess.run(['tools/dist_train.sh', HEADLINE_CONFIG, str(nproc), '--cfg-options', *options],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def small_voc_options(voc_root, work_dir, scale='(128,128)'):
    """Data paths, image size and epochs of the headline config, set to the small VOC set."""
    sets = 'train_dataloader.dataset.dataset.datasets'
    return [f'work_dir={work_dir}', *(f'{sets}.{i}.data_root={voc_root}' for i in (0, 1)),
            *(f'{sets}.{i}.pipeline.2.scale={scale}' for i in (0, 1)), 'train_dataloader.dataset.times=1',
            f'val_dataloader.dataset.data_root={voc_root}', f'val_dataloader.dataset.pipeline.1.scale={scale}',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
            'train_cfg.max_epochs=1']


_shared = {}


def torch_home(tmp_path_factory):
    """A torch cache holding a torchvision ResNet-50 (random weights) where ``torchvision://resnet50``
    is looked for: the shipped start, offline. One per pytest process."""
    if 'torch_home' not in _shared:
        import torch
        import torchvision

        from mmemanet.engine.start_checkpoint import checkpoint_url
        home = tmp_path_factory.mktemp('torch_home')
        path = osp.join(str(home), 'hub', 'checkpoints', osp.basename(checkpoint_url('torchvision://resnet50')))
        os.makedirs(osp.dirname(path))
        torch.save(torchvision.models.resnet50().state_dict(), path)
        _shared['torch_home'] = str(home)
    return _shared['torch_home']


def headline_training(small_datasets, tmp_path_factory):
    """The headline command, two processes, on the small VOC set (the epoch's validation included), from
    the torchvision ResNet-50 of :func:`torch_home`; run once per pytest process.

    Returns ``(proc, work_dir)``: the finished ``subprocess.CompletedProcess`` (output in ``stdout``) and
    the work dir it trained into."""
    if 'headline' not in _shared:
        work_dir = tmp_path_factory.mktemp('headline') / 'work'
        proc = headline(2, small_voc_options(f'{small_datasets}/VOCdevkit/', work_dir),
                        torch_home(tmp_path_factory))
        _shared['headline'] = (proc, work_dir)
    return _shared['headline']
