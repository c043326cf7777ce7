"""A newcomer's first run: the README's headline command as written, and what a missing dataset or an
unreachable start checkpoint prints.

- The shipped detector and classifier configs use the checked datasets; a missing VOC / COCO / CIFAR-10
  dataset is one ``DatasetFileError`` line naming the path, the expected layout and the official files.
- A start checkpoint (``init_cfg=dict(type='Pretrained', ...)``) that is neither on disk, nor in torch's
  download cache, nor downloadable is one ``StartCheckpointError`` line saying how to run offline, raised
  by ``tools/train.py`` before anything is built.
- ``tools/dist_train.sh configs/faster_rcnn_emanet50_voc.py N`` exactly as the README writes it (no
  ``PYTHON``), data paths, image size and epochs overridden to the small VOC set, starting from a
  torchvision-layout ResNet-50 in the download cache (random weights, saved here: nothing is downloaded),
  then ``tools/dist_test.sh`` on the checkpoint it saved (two processes each: the distributed tools' runs);
  and the same command without VOC on disk: the check before torchrun starts the processes prints the
  one-line error, once, and nothing else.
"""
import glob
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch
import torchvision
from mmengine.config import Config

import mmemanet  # noqa: F401  (registers the datasets)
from mmemanet.checkpoints.start import StartCheckpointError, cached_file, check_start_checkpoints, checkpoint_url
from mmemanet.datasets import DatasetFileError
from mmemanet.testing.synthetic_datasets import write_cifar10

from tool_modules import ROOT

HEADLINE_CONFIG = 'configs/faster_rcnn_emanet50_voc.py'
TORCHVISION_R50 = 'torchvision://resnet50'


def free_port() -> str:
    """A TCP port of this machine that nothing listens on (just freed)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def closed_port_url(name='resnet50-0676ba61.pth'):
    """An http URL on this machine that refuses connections (a port just freed)."""
    return f'http://127.0.0.1:{free_port()}/{name}'


# ---------------------------------------------------------------------------- the configs
# the method folders' configs and the headline file kept at its first path
SHIPPED = sorted(p for pattern in ('*.py', 'emanet/*.py', 'emca/*.py', 'baselines/*.py')
                 for p in glob.glob(osp.join(ROOT, 'configs', pattern)))
CHECKED = {'mmdet': ('CheckedVOCDataset', 'CheckedCocoDataset'), 'mmpretrain': ('CheckedCIFAR10', )}


def dataset_types(dataset):
    """The types of a dataset config and of the datasets it wraps (RepeatDataset, ConcatDataset)."""
    types = [dataset['type']]
    for inner in [dataset.get('dataset')] + list(dataset.get('datasets', [])):
        if inner is not None:
            types += dataset_types(inner)
    return types


@pytest.mark.parametrize('path', [p for p in SHIPPED if '_voc' in p or '_coco' in p or '_cifar10' in p],
                         ids=lambda p: osp.relpath(p, osp.join(ROOT, 'configs')))
def test_shipped_configs_use_the_checked_datasets(path):
    cfg = Config.fromfile(path)
    for split in ('train', 'val', 'test'):
        leaves = [t for t in dataset_types(cfg[f'{split}_dataloader'].dataset)
                  if t not in ('RepeatDataset', 'ConcatDataset')]
        assert leaves and all(t in CHECKED[cfg.default_scope] for t in leaves), (split, leaves)


# ---------------------------------------------------------------------------- missing datasets: one line
def build_dataset(cfg):
    from mmengine.registry import DATASETS, DefaultScope
    scope = 'mmpretrain' if 'CIFAR' in cfg['type'] else 'mmdet'
    with DefaultScope.overwrite_default_scope(scope):
        return DATASETS.build(cfg)


@pytest.mark.parametrize('dataset,first_missing,layout,source', [
    (dict(type='CheckedVOCDataset', ann_file='VOC2007/ImageSets/Main/trainval.txt',
          data_prefix=dict(sub_data_root='VOC2007/')),
     'VOC2007/ImageSets/Main/trainval.txt: VOC image list not found', 'JPEGImages/<id>.jpg',
     'http://host.robots.ox.ac.uk/pascal/VOC/'),
    (dict(type='CheckedCocoDataset', ann_file='annotations/instances_train2017.json',
          data_prefix=dict(img='train2017/')),
     'annotations/instances_train2017.json: COCO annotation file not found', 'train2017/*.jpg',
     'https://cocodataset.org/#download'),
    (dict(type='CheckedCIFAR10', split='train', download=False),
     'cifar-10-batches-py/data_batch_1: CIFAR-10 batch file not found', 'data_batch_5, test_batch',
     'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'),
    (dict(type='LocalCIFAR10', split='test'),
     "cifar-10-batches-py/test_batch: CIFAR-10 batch file (split='test') not found", 'data_batch_5, test_batch',
     'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'),
], ids=['voc', 'coco', 'cifar10', 'local_cifar10'])
def test_missing_dataset_is_one_line_with_layout_and_source(tmp_path, dataset, first_missing, layout, source):
    data_root = str(tmp_path / 'nowhere')
    with pytest.raises(DatasetFileError) as err:
        build_dataset(dict(dataset, data_root=data_root, pipeline=[]))
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith(osp.join(data_root, first_missing)), message
    assert f'data_root={data_root!r}' in message and layout in message and source in message, message


def test_cifar10_download_failure_is_one_line(tmp_path):
    """The official CIFAR-10 missing and its download refused: one line with the reason (no urllib traceback)."""
    from mmemanet.datasets import CheckedCIFAR10
    refused = type('RefusedCIFAR10', (CheckedCIFAR10, ), {'url': closed_port_url('cifar-10-python.tar.gz')})
    with pytest.raises(DatasetFileError) as err:
        refused(data_root=str(tmp_path), split='test', pipeline=[])
    message = str(err.value)
    assert '\n' not in message and 'downloading it failed: URLError' in message, message
    assert 'Connection refused' in message and 'Expected layout' in message, message


def test_cifar10_of_other_files_points_to_local_cifar10(tmp_path):
    """Files in the CIFAR-10 format that are not the official ones: named, and not downloaded over."""
    from mmemanet.datasets import CheckedCIFAR10
    write_cifar10(str(tmp_path), num_train=10, num_test=10)
    with pytest.raises(DatasetFileError, match=r"data_batch_1: not the official CIFAR-10 file \(md5 differs\)"
                                               r".*type='LocalCIFAR10'"):
        CheckedCIFAR10(data_root=str(tmp_path), split='train', pipeline=[])
    assert not (tmp_path / 'cifar-10-python.tar.gz').exists()


# ---------------------------------------------------------------------------- start checkpoints
def detector_cfg(**options):
    cfg = Config.fromfile(osp.join(ROOT, HEADLINE_CONFIG))
    cfg.merge_from_dict(options)
    return cfg


def test_torchvision_start_resolves_to_the_download_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    url = checkpoint_url(TORCHVISION_R50)
    assert url == 'https://download.pytorch.org/models/resnet50-0676ba61.pth'
    assert cached_file(url) == str(tmp_path / 'hub' / 'checkpoints' / 'resnet50-0676ba61.pth')
    os.makedirs(osp.dirname(cached_file(url)))
    open(cached_file(url), 'wb').close()
    check_start_checkpoints(detector_cfg())  # cached: no network needed


@pytest.mark.parametrize('options,message', [
    ({'model.backbone.init_cfg.checkpoint': closed_port_url()},
     r'^model\.backbone\.init_cfg\.checkpoint: cannot download the start checkpoint http://127\.0\.0\.1:\d+/'
     r'resnet50-0676ba61\.pth \(\[Errno 111\] Connection refused\) and it is not in the download cache'),
    ({'model.backbone.init_cfg.checkpoint': 'work_dirs/nowhere/epoch_100.pth'},
     r'^model\.backbone\.init_cfg\.checkpoint: start checkpoint work_dirs/nowhere/epoch_100\.pth not found'),
    ({'model.backbone.init_cfg.checkpoint': 'torchvision://resnet5'},
     r"^'torchvision://resnet5': 'resnet5' is not a torchvision:// checkpoint name mmengine knows \(some it knows: "),
])
def test_unavailable_start_is_one_line_that_says_how_to_run_offline(tmp_path, monkeypatch, options, message):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(StartCheckpointError, match=message) as err:
        check_start_checkpoints(detector_cfg(**options))
    text = str(err.value)
    assert '\n' not in text
    if 'resnet5' not in options['model.backbone.init_cfg.checkpoint']:
        assert ('To run offline, pass --cfg-options model.backbone.init_cfg.checkpoint=<local .pth> (a classifier '
                'of this package also needs model.backbone.init_cfg.prefix=backbone.), or model.backbone.init_cfg=None'
                ' to start from scratch') in text


def test_start_checkpoints_are_found_in_lists_and_pretrained():
    from mmemanet.checkpoints.start import start_checkpoints
    model = dict(backbone=dict(init_cfg=[dict(type='Kaiming', layer='Conv2d'),
                                         dict(type='Pretrained', checkpoint='a.pth')]),
                 neck=dict(pretrained='b.pth'), head=dict(init_cfg=None))
    assert list(start_checkpoints(model, 'model')) == [
        ('model.backbone.init_cfg.1.checkpoint', 'model.backbone.init_cfg', 'a.pth'),
        ('model.neck.pretrained', 'model.neck.pretrained', 'b.pth')]


@pytest.mark.slow
def test_train_tool_prints_one_line_for_an_unreachable_start(tmp_path):
    env = dict(os.environ, TORCH_HOME=str(tmp_path), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, 'tools/train.py', HEADLINE_CONFIG, '--work-dir', str(tmp_path / 'work'),
                           '--cfg-options', f'model.backbone.init_cfg.checkpoint={closed_port_url()}'],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr, proc.stderr
    # one line per problem (the shipped VOC may be missing here too: a second line)
    lines = proc.stderr.strip().splitlines()
    assert all(line.startswith('error: ') for line in lines), lines
    start = [line for line in lines if line.startswith('error: model.backbone.init_cfg.checkpoint: cannot download '
                                                       'the start checkpoint')]
    assert len(start) == 1 and 'model.backbone.init_cfg=None to start from scratch' in start[0], lines
    assert not (tmp_path / 'work').exists()  # nothing was built


def test_every_problem_of_a_run_is_found_before_anything_is_built(tmp_path, monkeypatch):
    """:func:`check_run`: an unreachable start and a missing dataset, both (in that order), one line each."""
    from mmemanet.engine.preflight import RunCheckError, check_run
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    nowhere = str(tmp_path / 'nowhere') + '/'
    cfg = detector_cfg(**{'model.backbone.init_cfg.checkpoint': closed_port_url(),
                          **{f'train_dataloader.dataset.dataset.datasets.{i}.data_root': nowhere for i in (0, 1)}})
    with pytest.raises(RunCheckError) as err:
        check_run(cfg, 'train')
    start, dataset = err.value.problems
    assert isinstance(start, StartCheckpointError) and isinstance(dataset, DatasetFileError)
    assert str(err.value).splitlines() == [str(start), str(dataset)]
    assert str(dataset).startswith(f'{nowhere}VOC2007/ImageSets/Main/trainval.txt: VOC image list not found')


# ---------------------------------------------------------------------------- the headline command
@pytest.fixture(scope='module')
def torch_home(tmp_path_factory):
    """A torch cache holding a torchvision ResNet-50 (random weights) where ``torchvision://resnet50``
    is looked for: the shipped start, offline."""
    home = tmp_path_factory.mktemp('torch_home')
    path = osp.join(str(home), 'hub', 'checkpoints', osp.basename(checkpoint_url(TORCHVISION_R50)))
    os.makedirs(osp.dirname(path))
    torch.save(torchvision.models.resnet50().state_dict(), path)
    return str(home)


def headline(nproc, options, torch_home):
    """``tools/dist_train.sh configs/faster_rcnn_emanet50_voc.py N --cfg-options ...`` as the README writes it:
    no PYTHON (the script finds .venv), a free PORT, the torch cache of ``torch_home``."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env.update(PORT=free_port(), TORCH_HOME=torch_home, OMP_NUM_THREADS='1')
    return subprocess.run(['tools/dist_train.sh', HEADLINE_CONFIG, str(nproc), '--cfg-options', *options],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def small_voc_options(voc_root, work_dir, scale='(64,64)'):
    """Data paths, image size and epochs of the headline config, set to the small VOC set."""
    sets = 'train_dataloader.dataset.dataset.datasets'
    return [f'work_dir={work_dir}', *(f'{sets}.{i}.data_root={voc_root}' for i in (0, 1)),
            *(f'{sets}.{i}.pipeline.2.scale={scale}' for i in (0, 1)), 'train_dataloader.dataset.times=1',
            f'val_dataloader.dataset.data_root={voc_root}', f'val_dataloader.dataset.pipeline.1.scale={scale}',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
            'train_cfg.max_epochs=1']


@pytest.fixture(scope='module')
def headline_run(small_datasets, tmp_path_factory, torch_home):
    """The headline command trained on the small VOC set (two gloo processes, one epoch, validation on):
    ``(its completed process, the work dir)``, shared by the checks of the run and the distributed test of its
    checkpoint."""
    work_dir = tmp_path_factory.mktemp('headline') / 'work'
    return headline(2, small_voc_options(f'{small_datasets}/VOCdevkit/', work_dir), torch_home), work_dir


@pytest.mark.slow
@pytest.mark.xdist_group('multi_process')  # one such test at a time: each runs two processes
def test_headline_command_as_the_readme_writes_it(headline_run):
    proc, work_dir = headline_run
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert 'using the gloo backend' in proc.stdout  # no GPU here: CPU processes
    assert 'GPU number: 2' in proc.stdout  # mmengine's name for the world size
    assert 'torchvision://resnet50' in proc.stdout  # the shipped start, from the cache
    assert 'pascal_voc/mAP' in proc.stdout  # the epoch's validation ran
    assert (work_dir / 'epoch_1.pth').is_file()


@pytest.mark.slow
@pytest.mark.xdist_group('multi_process')  # one such test at a time: each runs two processes
def test_dist_test_evaluates_the_headline_checkpoint(headline_run, small_datasets, tmp_path, torch_home):
    """``tools/dist_test.sh CONFIG CHECKPOINT 2`` (two gloo processes) on the headline run's checkpoint: the
    config's VOCMetric over the small VOC test set, ``--work-dir`` passed through."""
    proc, work_dir = headline_run
    assert proc.returncode == 0, 'the headline run failed (see its test)'
    voc = f'{small_datasets}/VOCdevkit/'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env.update(PORT=free_port(), TORCH_HOME=torch_home, OMP_NUM_THREADS='1')
    test = subprocess.run(['tools/dist_test.sh', HEADLINE_CONFIG, str(work_dir / 'epoch_1.pth'), '2', '--work-dir',
                           str(tmp_path), '--cfg-options', f'test_dataloader.dataset.data_root={voc}',
                           'test_dataloader.dataset.pipeline.1.scale=(64,64)', 'test_dataloader.num_workers=0',
                           'test_dataloader.persistent_workers=False'],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert test.returncode == 0, test.stdout[-6000:]
    assert 'using the gloo backend' in test.stdout and 'GPU number: 2' in test.stdout
    lines = [line for line in test.stdout.splitlines() if 'Epoch(test)' in line]
    assert lines and re.search(r'pascal_voc/mAP: (0|1)\.\d+', lines[-1]), test.stdout[-3000:]
    assert list(tmp_path.glob('*/*.log'))  # the test run logged into --work-dir


@pytest.mark.slow
def test_headline_command_without_voc_fails_with_the_one_line_error(tmp_path, torch_home):
    """Checked once before torchrun starts any process: the one line, no rank prefix, no traceback (torchrun's
    included), no warning a user cannot act on."""
    voc_root = str(tmp_path / 'data' / 'VOCdevkit') + '/'
    proc = headline(2, small_voc_options(voc_root, tmp_path / 'work'), torch_home)
    assert proc.returncode == 1, proc.stdout[-6000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout[-6000:]
    assert lines[0].startswith(f'error: {voc_root}VOC2007/ImageSets/Main/trainval.txt: VOC image list not found'), lines
    assert 'host.robots.ox.ac.uk/pascal/VOC/' in lines[0] and 'Expected layout' in lines[0], lines
    assert not (tmp_path / 'work').exists()  # no process started
