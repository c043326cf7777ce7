"""Checkpoints: reading them safely, what a model takes from them, and the reference EMANet's layout.

- :mod:`.safe_loading`: mmengine's checkpoints weights-only on torch >= 2.6, with errors that name the file
  (:func:`~.safe_loading.install`, called by ``import mmemanet``);
- :mod:`.model_state`: the model weights inside a checkpoint, the one ``module.`` prefix rule;
- :mod:`.compare`: a model's state dict against a checkpoint's, the one listing of what does not fit,
  :class:`~.compare.CheckpointMismatchError`;
- :mod:`.pretrained_report`: the one log line of a ``Pretrained`` start, from what mmengine loaded;
- :mod:`.start`: can the checkpoints a training run starts from be had (before anything is built);
- :mod:`.reference_conversion`: reference EMANet checkpoints -> this package's classifier.
"""
from .compare import CheckpointMismatchError, Mismatches, check_state_dict_fits, describe, state_dict_mismatches
from .model_state import load_model_state, model_state_of, strip_module_prefix
from .pretrained_report import recorded_loads, report_pretrained_init
from .reference_conversion import ReferenceCheckpointError, convert_reference_emanet
from .safe_loading import CheckpointLoadError, load_from_local
from .start import StartCheckpointError, check_start_checkpoints

__all__ = ['CheckpointLoadError', 'CheckpointMismatchError', 'Mismatches', 'ReferenceCheckpointError',
           'StartCheckpointError', 'check_start_checkpoints', 'check_state_dict_fits', 'convert_reference_emanet',
           'describe', 'load_from_local', 'load_model_state', 'model_state_of', 'recorded_loads',
           'report_pretrained_init', 'state_dict_mismatches', 'strip_module_prefix']
