"""The error of a dataset file or folder that is missing, incomplete or malformed, and its wording for a
missing dataset."""


class DatasetFileError(ValueError):
    """A dataset file or folder that is missing, incomplete or malformed.

    The message is one line that starts with the offending path; for a missing dataset it also gives
    the expected layout and where the official files come from. ``tools/train.py`` and
    ``tools/test.py`` print that line instead of a traceback.
    """


def missing_dataset(path: str, what: str, data_root: str, layout: str, source: str) -> DatasetFileError:
    """The one-line error for a dataset that is not at ``data_root``: ``path`` (the first missing
    file or folder), the expected ``layout`` and where the official files (``source``) come from."""
    return DatasetFileError(
        f'{path}: {what} not found, so there is no dataset at data_root={data_root!r}. Expected layout: '
        f'{layout}. The official files: {source}. Put them there, or set the dataset\'s data_root to your '
        'copy (in the config or with --cfg-options)')


class EmptyDatasetError(DatasetFileError):
    """A training dataset that, once loaded, holds no box to train on (every box dropped or ignored, or none
    there at all). The message is one line: the annotation file, then the cause and the setting that changes
    it. A :class:`DatasetFileError`, so the tools print it as one line too."""
