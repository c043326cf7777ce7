"""CIFAR-10 for mmpretrain: local files without md5 check (:class:`LocalCIFAR10`), or the official
files with one-line errors (:class:`CheckedCIFAR10`)."""
from typing import List

import mmengine.dist as dist
from mmengine.fileio import LocalBackend, exists, get_file_backend, join_path
from mmpretrain.datasets import CIFAR10
from mmpretrain.datasets.utils import check_md5, download_and_extract_archive
from mmpretrain.registry import DATASETS

from .errors import DatasetFileError, missing_dataset

LAYOUT = ('<data_root>/cifar-10-batches-py/{data_batch_1, ..., data_batch_5, test_batch, '
          'batches.meta}: the CIFAR-10 "python version" (cifar-10-python.tar.gz extracted, or '
          'written by tools/make_small_datasets.py)')
SOURCE = f'{CIFAR10.url} (unpacks to cifar-10-batches-py/)'


def _split_missing(dataset: CIFAR10, lists) -> List[str]:
    """Paths of the batch files in ``lists`` that do not exist under the dataset's root."""
    folder = join_path(dataset.data_prefix['root'], dataset.base_folder)
    paths = [join_path(folder, name) for name, _ in lists]
    return [path for path in paths if not exists(path)]


@DATASETS.register_module()
class LocalCIFAR10(CIFAR10):
    """mmpretrain's :class:`CIFAR10` reading python batches that already exist under ``data_root``.

    The stock class checks the md5 sums of the official files and downloads them when the check
    fails, so it rejects any other data in the same format (a subset, a re-pickled copy, the
    synthetic set of :mod:`mmemanet.testing.synthetic_datasets`). This one only requires the files of the
    requested split to exist (``data_batch_1`` ... ``data_batch_5`` for ``split='train'``,
    ``test_batch`` for ``split='test'``) and reads them exactly like the stock class. It never
    downloads. Use it in a config with ``type='LocalCIFAR10'`` in place of ``type='CIFAR10'``; all
    other arguments are the stock ones.

    Raises:
        DatasetFileError: naming the first missing file, the expected layout and the official files.
    """

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, 'md5': None}

    def __init__(self, *args, download: bool = False, **kwargs):
        if download:
            raise ValueError(f'{type(self).__name__} reads local files only; use download=False '
                             "(or the stock type='CIFAR10' to download the official files)")
        super().__init__(*args, download=False, **kwargs)

    def missing_files(self) -> List[str]:
        """Paths of the files this split needs that do not exist."""
        return _split_missing(self, self.test_list if self.split == 'test' else self.train_list)

    def _check_integrity(self) -> bool:
        return not self.missing_files()

    def check_files(self) -> None:
        """Raise :class:`DatasetFileError` naming the first missing file of this split."""
        missing = self.missing_files()
        if missing:
            raise missing_dataset(missing[0], f'CIFAR-10 batch file (split={self.split!r})',
                                  self.data_root, LAYOUT, SOURCE)

    def load_data_list(self):
        self.check_files()
        return super().load_data_list()


@DATASETS.register_module()
class CheckedCIFAR10(CIFAR10):
    """mmpretrain's :class:`CIFAR10` (the official files, md5-checked, downloaded when missing and
    ``download=True``) whose failures are one line.

    Where the stock class fails with a urllib traceback (offline machine) or a bare
    ``RuntimeError`` / ``AssertionError``, this one raises :class:`DatasetFileError` naming the first
    missing file, the expected layout and the official archive; for files that are all there but
    are not the official ones (md5), it names the first such file and points to
    :class:`LocalCIFAR10` (same format, no md5 check) instead of downloading over them. Same
    arguments as the stock class: ``type='CheckedCIFAR10'`` in place of ``type='CIFAR10'``.
    """

    def check_files(self) -> None:
        """Raise :class:`DatasetFileError` naming the first missing file when the files are not all there and
        ``download=False`` (with ``download=True`` the run downloads them)."""
        missing = _split_missing(self, self.train_list + self.test_list)
        if missing and not self.download:
            raise missing_dataset(missing[0], 'CIFAR-10 batch file', self.data_root, LAYOUT, SOURCE)

    def load_data_list(self):
        root = self.data_prefix['root']
        local = isinstance(get_file_backend(root, enable_singleton=True), LocalBackend)
        if local and dist.is_main_process() and not self._check_integrity():
            self._fetch_official_files(root)
        return super().load_data_list()

    def _fetch_official_files(self, root: str) -> None:
        """Download the official archive when files are missing; raise one line when that cannot be done."""
        missing = _split_missing(self, self.train_list + self.test_list)
        if not missing:
            folder = join_path(root, self.base_folder)
            differs = next(join_path(folder, name) for name, md5 in self.train_list + self.test_list
                           if not check_md5(join_path(folder, name), md5))
            raise DatasetFileError(
                f"{differs}: not the official CIFAR-10 file (md5 differs). For other data in this format "
                f"use type='LocalCIFAR10' (no md5 check); the official files: {SOURCE}")
        if not self.download:
            raise missing_dataset(missing[0], 'CIFAR-10 batch file', self.data_root, LAYOUT, SOURCE)
        try:
            download_and_extract_archive(self.url, root, filename=self.filename, md5=self.tgz_md5)
        except Exception as e:  # any failure of the download (offline, refused, corrupt archive)
            reason = ' '.join(f'{type(e).__name__}: {e}'.split())
            raise missing_dataset(missing[0], f'CIFAR-10 batch file (and downloading it failed: {reason})',
                                  self.data_root, LAYOUT, SOURCE) from None
