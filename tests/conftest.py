"""Shared pytest fixtures."""
import pytest

from mmemanet.testing.synthetic_datasets import write_small_datasets

# image counts per kind: CIFAR (train, test), VOC (VOC2007 trainval + as many VOC2012, test),
# COCO (train2017, val2017); small detection images keep the tool runs short
SMALL_SIZES = {'cifar': (8, 10), 'voc': (4, 4), 'coco': (4, 4)}


@pytest.fixture(scope='session')
def small_datasets(tmp_path_factory):
    """Tiny synthetic CIFAR-10 / VOC0712 / COCO sets in the real formats, written once per session.

    Returns the folder holding ``cifar10/``, ``VOCdevkit/`` and ``coco/``.
    """
    root = tmp_path_factory.mktemp('small_datasets')
    write_small_datasets(str(root), sizes=SMALL_SIZES, det_size_range=(96, 128))
    return root
