"""Datasets.

- :class:`~mmemanet.datasets.cifar.CheckedCIFAR10` (mmpretrain ``DATASETS``): the stock CIFAR-10 of
  the official files (md5-checked, downloaded when missing) whose failures are one line naming the
  folder, the expected layout and the official archive.
- :class:`~mmemanet.datasets.cifar.LocalCIFAR10` (mmpretrain ``DATASETS``): CIFAR-10 read from a
  local ``cifar-10-batches-py`` folder, without mmpretrain's md5 check of the official files and
  without downloading.
- :class:`~mmemanet.datasets.checked.CheckedVOCDataset`, :class:`~mmemanet.datasets.checked.CheckedCocoDataset`
  (mmdet ``DATASETS``): the stock VOC / COCO datasets checking that the dataset is there and every
  annotation and image file while loading, with errors that name the file; they say in one log line per cause
  what loading drops or ignores (unknown classes, ``bbox_min_size``, difficult / crowd boxes, left-out images;
  :mod:`~mmemanet.datasets.load_report`) and refuse a training set left without a box.
- :class:`~mmemanet.datasets.errors.DatasetFileError`: the one-line error all of them raise;
  :class:`~mmemanet.datasets.errors.EmptyDatasetError` (a ``DatasetFileError``): a training set with no box.

(The writers of the small synthetic datasets that the demo and the tests use are in :mod:`mmemanet.testing`.)
"""
from ..registry import installed
from .errors import DatasetFileError, EmptyDatasetError  # noqa: F401

if installed('mmpretrain'):
    from .cifar import CheckedCIFAR10, LocalCIFAR10  # noqa: F401

if installed('mmdet'):
    from .checked import CheckedCocoDataset, CheckedVOCDataset  # noqa: F401

__all__ = ['DatasetFileError', 'EmptyDatasetError'] + \
    (['CheckedCIFAR10', 'LocalCIFAR10'] if installed('mmpretrain') else []) + \
    (['CheckedCocoDataset', 'CheckedVOCDataset'] if installed('mmdet') else [])
