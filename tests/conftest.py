"""Shared pytest fixtures, and the suite's scheduling across pytest-xdist workers."""
import os
from collections import OrderedDict

import pytest
import torch
from _pytest.nodeid import coerce_node_id
from mmengine.registry import DefaultScope

from mmemanet.testing.synthetic_datasets import write_small_datasets

# image counts per kind: CIFAR (train, test), VOC (VOC2007 trainval + as many VOC2012, test),
# COCO (train2017, val2017); small detection images keep the tool runs short
SMALL_SIZES = {'cifar': (8, 10), 'voc': (4, 4), 'coco': (4, 4)}

# each xdist worker computes on its share of the cores (subprocess tools run with OMP_NUM_THREADS=1)
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if WORKERS > 1:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // WORKERS))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The modules with slow tests first, each kept in its own order (module fixtures stay shared): the
    workers start on the long ones and end on short ones.

    Under ``--dist loadgroup`` the tests marked ``xdist_group(name)`` go to one worker: pytest-xdist 3.8
    writes the group into ``item._nodeid``, which pytest 9 no longer reads (it reads ``item._id``); the
    group suffix is carried over here so that the grouping happens.
    """
    for item in items:
        if '_nodeid' in vars(item) and item._nodeid != item.nodeid:
            item._id = coerce_node_id(item._nodeid)
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker('slow')}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)


def _isolated_default_scope():
    """mmengine's default scope as it was before, after the fixture (``init_default_scope`` and Runners
    leave one behind; another test's ``DATASETS.build`` would then look in the wrong codebase)."""
    before = OrderedDict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


default_scope_per_module = pytest.fixture(scope='module', autouse=True,
                                          name='default_scope_per_module')(_isolated_default_scope)
default_scope_per_test = pytest.fixture(autouse=True, name='default_scope_per_test')(_isolated_default_scope)


@pytest.fixture(scope='session')
def small_datasets(tmp_path_factory):
    """Tiny synthetic CIFAR-10 / VOC0712 / COCO sets in the real formats, written once per session.

    Returns the folder holding ``cifar10/``, ``VOCdevkit/`` and ``coco/``.
    """
    root = tmp_path_factory.mktemp('small_datasets')
    write_small_datasets(str(root), sizes=SMALL_SIZES, det_size_range=(96, 128))
    return root
