"""CIFAR-10 for mmpretrain from local files: no md5 check of the official batches, no download."""
from typing import List

from mmengine.fileio import exists, join_path
from mmpretrain.datasets import CIFAR10
from mmpretrain.registry import DATASETS

LAYOUT = ('<data_root>/cifar-10-batches-py/{data_batch_1, ..., data_batch_5, test_batch, '
          'batches.meta}: the CIFAR-10 "python version" (cifar-10-python.tar.gz extracted, or '
          'written by tools/make_small_datasets.py)')


@DATASETS.register_module()
class LocalCIFAR10(CIFAR10):
    """mmpretrain's :class:`CIFAR10` reading python batches that already exist under ``data_root``.

    The stock class checks the md5 sums of the official files and downloads them when the check
    fails, so it rejects any other data in the same format (a subset, a re-pickled copy, the
    synthetic set of :mod:`mmemanet.datasets.synthetic`). This one only requires the files of the
    requested split to exist (``data_batch_1`` ... ``data_batch_5`` for ``split='train'``,
    ``test_batch`` for ``split='test'``) and reads them exactly like the stock class. It never
    downloads. Use it in a config with ``type='LocalCIFAR10'`` in place of ``type='CIFAR10'``; all
    other arguments are the stock ones.

    Raises:
        FileNotFoundError: naming the missing file(s) and the expected layout.
    """

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, 'md5': None}

    def __init__(self, *args, download: bool = False, **kwargs):
        if download:
            raise ValueError(f'{type(self).__name__} reads local files only; use download=False '
                             "(or the stock type='CIFAR10' to download the official files)")
        super().__init__(*args, download=False, **kwargs)

    def _split_files(self) -> List[str]:
        files = self.test_list if getattr(self, 'split', 'train') == 'test' else self.train_list
        return [name for name, _ in files]

    def missing_files(self) -> List[str]:
        """Paths of the files this split needs that do not exist."""
        folder = join_path(self.data_prefix['root'], self.base_folder)
        paths = [join_path(folder, name) for name in self._split_files()]
        return [path for path in paths if not exists(path)]

    def _check_integrity(self) -> bool:
        return not self.missing_files()

    def load_data_list(self):
        missing = self.missing_files()
        if missing:
            raise FileNotFoundError(
                f"{type(self).__name__} (split={getattr(self, 'split', None)!r}) cannot find "
                f"{', '.join(missing)}. Expected layout: {LAYOUT}.")
        return super().load_data_list()
