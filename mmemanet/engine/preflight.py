"""What a run needs, checked before anything is built: the files of the config's datasets and (training) the
start checkpoints.

The checked datasets (:mod:`mmemanet.datasets`) raise a one-line :class:`~mmemanet.datasets.DatasetFileError`
when their files are missing, and :func:`~mmemanet.checkpoints.start.check_start_checkpoints` a
:class:`~mmemanet.checkpoints.start.StartCheckpointError`; a Runner would get there only after building the
model, and a distributed launch once per process, before torchrun's own traceback. ``tools/train.py`` / ``test.py`` call
:func:`check_run` first, and ``tools/dist_train.sh`` / ``dist_test.sh`` run it once before torchrun starts the
processes (``--check-only``): one line per problem.
"""
import copy
from typing import Iterator, List, Sequence

from mmengine.config import Config
from mmengine.registry import DATASETS

from ..checkpoints.start import StartCheckpointError, check_start_checkpoints
from ..datasets import DatasetFileError

DATALOADERS = {'train': ('train_dataloader', 'val_dataloader'), 'test': ('test_dataloader', )}


class RunCheckError(Exception):
    """The problems :func:`check_run` found, one line each (``problems``: the errors, in the order found)."""

    def __init__(self, problems: List[Exception]):
        self.problems = problems
        super().__init__('\n'.join(str(p) for p in problems))


def check_run(cfg: Config, run: str) -> None:
    """Check what a ``run`` (``'train'`` or ``'test'``) of ``cfg`` needs before anything is built: the start
    checkpoints (training) and the files of the datasets it reads. Raises :class:`RunCheckError` with every
    problem found."""
    checks = [check_start_checkpoints] if run == 'train' else []
    checks.append(lambda cfg: check_dataset_files(cfg, run))
    problems = []
    for check in checks:
        try:
            check(cfg)
        except (DatasetFileError, StartCheckpointError) as e:
            problems.append(e)
    if problems:
        raise RunCheckError(problems)


def leaf_datasets(dataset: dict) -> Iterator[dict]:
    """The datasets a dataset config reads files through: itself, or those its wrappers hold
    (``ConcatDataset.datasets``, ``RepeatDataset.dataset``, ...)."""
    inner = [dataset['dataset']] if isinstance(dataset.get('dataset'), dict) else list(dataset.get('datasets') or [])
    if not inner:
        yield dataset
    for child in inner:
        yield from leaf_datasets(child)


def check_dataset_files(cfg: Config, run: str) -> None:
    """Raise the first missing-file error of the datasets a ``run`` (``'train'``: train and val loaders,
    ``'test'``: the test loader) reads; the datasets are built without loading (``lazy_init``), and only those
    that can check their files (a ``check_files()`` method) are looked at."""
    with DATASETS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
        for dataset in _datasets_of(cfg, DATALOADERS[run]):
            cls = registry.get(dataset['type']) if isinstance(dataset.get('type'), str) else dataset.get('type')
            if hasattr(cls, 'check_files'):
                registry.build(dict(copy.deepcopy(dataset), lazy_init=True)).check_files()


def _datasets_of(cfg: Config, loaders: Sequence[str]) -> Iterator[dict]:
    for name in loaders:
        loader = cfg.get(name)
        if isinstance(loader, dict) and isinstance(loader.get('dataset'), dict):
            yield from leaf_datasets(loader['dataset'])
