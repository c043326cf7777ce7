"""Shared pytest fixtures, and the suite's scheduling across pytest-xdist workers."""
import os

import pytest
import torch

from mmemanet.testing.synthetic_datasets import write_small_datasets

# image counts per kind: CIFAR (train, test), VOC (VOC2007 trainval + as many VOC2012, test),
# COCO (train2017, val2017); small detection images keep the tool runs short
SMALL_SIZES = {'cifar': (8, 10), 'voc': (4, 4), 'coco': (4, 4)}

# each xdist worker computes on its share of the cores (subprocess tools run with OMP_NUM_THREADS=1)
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if WORKERS > 1:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // WORKERS))


def pytest_collection_modifyitems(config, items):
    """The modules with slow tests first, each kept in its own order (module fixtures stay shared): the
    workers start on the long ones and end on short ones."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker('slow')}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)


@pytest.fixture(scope='session')
def small_datasets(tmp_path_factory):
    """Tiny synthetic CIFAR-10 / VOC0712 / COCO sets in the real formats, written once per session.

    Returns the folder holding ``cifar10/``, ``VOCdevkit/`` and ``coco/``.
    """
    root = tmp_path_factory.mktemp('small_datasets')
    write_small_datasets(str(root), sizes=SMALL_SIZES, det_size_range=(96, 128))
    return root
