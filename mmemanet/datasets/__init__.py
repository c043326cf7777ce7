"""Datasets.

- :class:`~mmemanet.datasets.cifar.LocalCIFAR10` (mmpretrain ``DATASETS``): CIFAR-10 read from a
  local ``cifar-10-batches-py`` folder, without mmpretrain's md5 check of the official files and
  without downloading.
- :mod:`mmemanet.datasets.synthetic`: writers of small, learnable synthetic datasets in the real
  CIFAR-10 / VOC2007 / COCO on-disk formats (numpy + Pillow only; used by
  ``tools/make_small_datasets.py`` and the tests).
- :class:`~mmemanet.datasets.checked.CheckedVOCDataset`, :class:`~mmemanet.datasets.checked.CheckedCocoDataset`
  (mmdet ``DATASETS``): the stock VOC / COCO datasets checking every annotation and image file while
  loading, with errors that name the file.
"""
from ..registry import installed

if installed('mmpretrain'):
    from .cifar import LocalCIFAR10  # noqa: F401

if installed('mmdet'):
    from .checked import CheckedCocoDataset, CheckedVOCDataset  # noqa: F401

__all__ = (['LocalCIFAR10'] if installed('mmpretrain') else []) + \
    (['CheckedCocoDataset', 'CheckedVOCDataset'] if installed('mmdet') else [])
