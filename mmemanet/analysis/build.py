"""The one model builder of the analysis tools (benchmark, complexity, ONNX export): a preset name or a config
file -> the built model, what kind it is and the input it is measured at.

The models must be registered before :func:`build_target` is called: the tools import ``mmemanet`` (every
config here imports it too, through ``custom_imports``); this library module does not import it itself.
"""
import os
from dataclasses import dataclass
from typing import Optional, Tuple

from torch import nn

from .presets import DETECTOR_PRESETS, PRESETS, Preset


@dataclass
class BuiltModel:
    """A built model and how to feed it.

    ``kind``: ``'classifier'`` (mmpretrain ``ImageClassifier``: ``model(x, mode='tensor')`` gives logits
    ``[B, num_classes]``), ``'detector'`` (an mmdet detector with its data preprocessor, fed lists of uint8
    images and ``DetDataSample``\\ s) or ``'backbone'`` (``model(x: [B, 3, H, W])`` gives a tuple of maps).
    ``input_shape``: ``(C, H, W)`` of one image at which the model is measured by default: the preset's, a
    detector config's test-pipeline resize scale, else 3 x 224 x 224. ``preset``: the classifier preset, if any.
    ``config``: the mmengine Config the model was built from (None for a classifier preset).
    """
    name: str
    model: nn.Module
    kind: str
    input_shape: Tuple[int, int, int]
    preset: Optional[Preset] = None
    config: object = None


def resize_shape(cfg) -> Optional[Tuple[int, int, int]]:
    """``(3, H, W)`` of the ``Resize`` scale in a detector config's test pipeline (mmdet's ``scale=(W, H)``:
    the longest and shortest side an image is resized to fit), or None when the pipeline has none."""
    pipeline = cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    for step in pipeline:
        if step.get('type') == 'Resize' and step.get('scale'):
            w, h = step['scale']
            return 3, int(h), int(w)
    return None


def _build_config(name, cfg) -> BuiltModel:
    from mmengine.registry import MODELS, DefaultScope
    scope = cfg.get('default_scope', 'mmengine')
    with DefaultScope.overwrite_default_scope(scope):  # the codebase's registry; no scope left behind
        model = MODELS.build(cfg.model)
    if scope == 'mmdet':
        return BuiltModel(name, model, 'detector', resize_shape(cfg) or (3, 800, 1333), config=cfg)
    kind = 'classifier' if hasattr(model, 'head') and hasattr(model, 'extract_feat') else 'backbone'
    return BuiltModel(name, model, kind, (3, 224, 224), config=cfg)


def check_target(target: str) -> None:
    """Raise a one-line ``ValueError`` unless ``target`` is a preset or an existing config file (``.py``)."""
    if target in PRESETS or target in DETECTOR_PRESETS:
        return
    if not target.endswith('.py'):
        raise ValueError(f'{target!r} is neither a config file (.py) nor a preset; presets: '
                         f'{", ".join([*PRESETS, *DETECTOR_PRESETS])}')
    if not os.path.isfile(target):
        raise ValueError(f'config file {target!r} does not exist')


def build_target(target: str, cfg_options: Optional[dict] = None) -> BuiltModel:
    """Build a classifier preset, a detector preset (:data:`DETECTOR_PRESETS`) or a config file (``.py``,
    with ``cfg_options`` merged into it as ``--cfg-options`` does).

    A config whose ``default_scope`` is ``mmdet`` builds its detector; any other config builds ``cfg.model``
    (an mmpretrain classifier, or a bare backbone).
    """
    from mmengine.registry import MODELS, DefaultScope
    check_target(target)
    if target in PRESETS:
        preset = PRESETS[target]
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(preset.model_cfg())
        return BuiltModel(target, model, 'classifier', tuple(preset.input_shape[1:]), preset=preset)
    if target in DETECTOR_PRESETS:
        return _build_config(target, DETECTOR_PRESETS[target].config())
    from mmengine.config import Config
    cfg = Config.fromfile(target)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return _build_config(target, cfg)
