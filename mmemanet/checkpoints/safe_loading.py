"""Safe loading of mmengine 0.10.7 checkpoints on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 does not pass
``weights_only``, so its own checkpoints (``load_from``, ``--resume``, ``tools/test.py``) stop at
"Unsupported global: mmengine.logging.history_buffer.HistoryBuffer". Turning ``weights_only`` off
would run any code pickled into the file. Instead, :func:`install` (called by ``import mmemanet``)

- allow-lists exactly the globals a Runner checkpoint contains beyond torch's own weights-only set
  (which already has tensors, ``OrderedDict`` and ``_codecs.encode``), :data:`SAFE_GLOBALS`: numpy
  arrays, scalars and dtypes, and ``HistoryBuffer``;
- maps the ``builtins.getattr`` those checkpoints use (to pickle ``HistoryBuffer.min`` and the other
  statistics methods) to :func:`checkpoint_getattr`, which resolves ONLY those (class, attribute)
  pairs and refuses everything else;
- replaces mmengine's loader for local paths by :func:`load_from_local`: the same ``torch.load``
  with ``weights_only=True`` stated explicitly, and errors that name the file and the reason
  (missing, truncated/corrupt, or a global that is not allowed) instead of a pickle traceback.

Anything else in a checkpoint (``os.system``, ``getattr`` reaching any other attribute, an unknown
class) is refused by torch's weights-only unpickler.
"""
import _compat_pickle
import collections
import os.path as osp
import pickle
import types
import zipfile

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.torch_compat import weights_only_by_default

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

#: HistoryBuffer's built-in statistics methods, pickled as ``getattr(HistoryBuffer, name)``.
HISTORY_BUFFER_METHODS = ('min', 'max', 'mean', 'current')


class CheckpointLoadError(RuntimeError):
    """A checkpoint file that cannot be loaded safely (truncated, corrupt or not allowed)."""


def checkpoint_getattr(obj, name):
    """The only ``getattr`` a checkpoint may call: ``HistoryBuffer.<min|max|mean|current>``."""
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint calls getattr({getattr(obj, "__qualname__", type(obj).__name__)}, {name!r}); '
        f'only getattr(HistoryBuffer, name) for name in {HISTORY_BUFFER_METHODS} is allowed')


#: Globals of an mmengine 0.10.7 Runner checkpoint beyond torch's own weights-only set.
SAFE_GLOBALS = [
    _reconstruct,
    scalar,
    np.ndarray,
    np.dtype,
    HistoryBuffer,
    collections.Counter,  # in torch's own set from 2.4; a Runner checkpoint's dataset meta holds one
    (checkpoint_getattr, 'builtins.getattr'),
]
# numpy 2 pickles dtypes by their class (numpy.dtypes.Float64DType, ...) in some paths.
SAFE_GLOBALS += [type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV']


def _allowed_globals() -> dict:
    """``'module.name' -> object`` for torch's own weights-only globals plus :data:`SAFE_GLOBALS`."""
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    allowed['_codecs.encode'] = __import__('_codecs').encode
    for entry in SAFE_GLOBALS:
        obj, name = entry if isinstance(entry, tuple) else (entry, f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle unpickler that resolves only the globals of :func:`_allowed_globals` (torch < 2.6)."""

    def find_class(self, module, name):
        # protocol-2 pickles (torch.save's) name Python 2 modules, e.g. ``__builtin__.getattr``
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        obj = _allowed_globals().get(f'{module}.{name}')
        if obj is None:
            raise pickle.UnpicklingError(f'Unsupported global: GLOBAL {module}.{name} is not allowed by mmemanet')
        return obj


#: The pickle module :func:`load_from_local` hands ``torch.load`` where torch has no usable allow-list.
restricted_pickle = types.SimpleNamespace(
    __name__='mmemanet_restricted_pickle', Unpickler=RestrictedUnpickler,
    load=lambda file, **kwargs: RestrictedUnpickler(file, **kwargs).load())


def _torch_load(filename, map_location):
    if weights_only_by_default():
        return torch.load(filename, map_location=map_location, weights_only=True)
    return torch.load(filename, map_location=map_location, weights_only=False, pickle_module=restricted_pickle)


def load_from_local(filename, map_location=None):
    """mmengine's local checkpoint loader, weights-only with clear errors.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointLoadError: the file is truncated or corrupt, or carries a global that is not on
            the allow-list; the message names the file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        return _torch_load(filename, map_location)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0]
        raise CheckpointLoadError(
            f'refused to load checkpoint {filename}: it is not a plain weights/optimizer/'
            f'mmengine-Runner checkpoint ({first_line}). mmemanet loads checkpoints with '
            f'weights-only (an allow-list of globals) and does not execute code from files.') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointLoadError(
            f'checkpoint {filename} ({osp.getsize(filename):,} bytes) is truncated or corrupt and '
            f'cannot be read: {str(e).strip().splitlines()[0]}') from None


def install() -> None:
    """Allow-list :data:`SAFE_GLOBALS` (where torch loads weights-only by default) and route mmengine's local
    loads through :func:`load_from_local`."""
    if weights_only_by_default():
        torch.serialization.add_safe_globals(SAFE_GLOBALS)
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
