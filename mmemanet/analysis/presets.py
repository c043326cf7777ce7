"""Named models of the two papers' tables, each the model of one of this package's configs.

A classifier preset names its config file (the mmpretrain ``ImageClassifier`` it builds: backbone, head width,
number of classes) and, for the table rows that have no config of their own, what its backbone adds to that
config's (a gate, a mixer, the other MA implementation). Its published figures are those of its config's
entry in the config folder's ``metafile.yml`` (:mod:`.published`, where each figure is written once); a preset
that changes its config's model has the figures of no entry, unless it names the entry whose model it builds
(``entry``). Nothing here restates a model or a figure.
"""
import os.path as osp
from typing import Dict, NamedTuple, Optional, Tuple

from .published import Published, index_root, published


def config_path(config: str) -> str:
    """The file of ``config`` (a path under ``configs/``, e.g. ``'emca/emca_se_resnet18_imagenet.py'``)."""
    return osp.join(index_root(), 'configs', config)


class FromConfig(NamedTuple):
    """A value read from a config file when the preset is built (``key``: a dotted path in the config)."""
    config: str
    key: str

    def resolve(self):
        from mmengine.config import Config
        value = Config.fromfile(config_path(self.config))
        for part in self.key.split('.'):
            value = value[part]
        return value


#: the published ECA-ResNet-50's gates (kernel sizes 3, 5, 5, 7 by stage), as its CIFAR-10 config has them
ECA_RESNET50_GATES = FromConfig('baselines/eca_resnet50_cifar10.py', 'model.backbone.attention')


def _resolved(options: dict) -> dict:
    return {k: v.resolve() if isinstance(v, FromConfig) else v for k, v in options.items()}


CIFAR = (1, 3, 32, 32)
IMAGENET = (1, 3, 224, 224)


class Preset(NamedTuple):
    """``config`` (under ``configs/``) with ``backbone`` merged into its ``model.backbone``, measured at
    ``input_shape``; ``entry``: the metafile entry whose published figures the model has (default: the config's
    own when ``backbone`` changes nothing)."""
    config: str
    input_shape: Tuple[int, int, int, int]
    backbone: Optional[dict] = None
    entry: Optional[str] = None

    def config_file(self) -> str:
        return config_path(self.config)

    def model_cfg(self) -> dict:
        """mmpretrain config of the whole classifier (the config's ``model``)."""
        from mmengine.config import Config
        cfg = Config.fromfile(self.config_file())
        if self.backbone:
            cfg.merge_from_dict(dict(model=dict(backbone=_resolved(self.backbone))))
        return cfg.model.to_dict()

    @property
    def published(self) -> Optional[Published]:
        """The published figures of the model (from its metafile entry), or None."""
        entry = self.entry or (None if self.backbone else osp.splitext(osp.basename(self.config))[0])
        return published(entry) if entry else None

    @property
    def published_params_m(self) -> Optional[float]:
        """Published params / 2^20 (as thop counts), or None."""
        return self.published and self.published.params_m

    @property
    def published_macs_g(self) -> Optional[float]:
        """Published MACs / 2^30, or None."""
        return self.published and self.published.macs_g


PRESETS: Dict[str, Preset] = {
    # the EMANet paper's CIFAR-10 table
    'cifar_resnet50': Preset('baselines/resnet50_cifar10.py', CIFAR),
    'cifar_epsanet50': Preset('baselines/epsanet50_cifar10.py', CIFAR),
    'cifar_se_resnet50': Preset('baselines/se_resnet50_cifar10.py', CIFAR),
    'cifar_eca_resnet50': Preset('baselines/eca_resnet50_cifar10.py', CIFAR),
    'cifar_fcanet50': Preset('baselines/fcanet50_cifar10.py', CIFAR),
    'cifar_emanet50': Preset('emanet/emanet50_cifar10.py', CIFAR),
    'cifar_emanet50_reference_impl': Preset('emanet/emanet50_cifar10.py', CIFAR, dict(ma_impl='reference'),
                                            entry='emanet50_cifar10'),  # the same model, the other implementation
}
# the EMCA paper's ImageNet table
for _depth in (18, 34, 50):
    PRESETS[f'resnet{_depth}'] = Preset(f'baselines/resnet{_depth}_imagenet.py', IMAGENET)
    PRESETS[f'se_resnet{_depth}'] = Preset(f'baselines/se_resnet{_depth}_imagenet.py', IMAGENET)
    PRESETS[f'eca_resnet{_depth}'] = Preset(f'baselines/resnet{_depth}_imagenet.py', IMAGENET, dict(
        attention=dict(type='ECAGate', kernel_size=3) if _depth < 50 else ECA_RESNET50_GATES))
    PRESETS[f'srm_resnet{_depth}'] = Preset(f'baselines/resnet{_depth}_imagenet.py', IMAGENET,
                                            dict(attention=dict(type='SRMGate')))
    for _host in ('se', 'eca', 'srm'):
        PRESETS[f'emca_{_host}_resnet{_depth}'] = Preset(f'emca/emca_{_host}_resnet{_depth}_imagenet.py', IMAGENET)
PRESETS['epsanet50'] = Preset('baselines/resnet50_imagenet.py', IMAGENET,
                              dict(mixer=dict(type='PyramidSplitAttention')))
PRESETS['emanet50'] = Preset('emanet/emanet50_imagenet.py', IMAGENET)

STOCK_FASTER_RCNN = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'


class DetectorPreset(NamedTuple):
    """mmdet's stock Faster R-CNN R-50 FPN 1x COCO config with its backbone swapped (None: kept as it is).

    The swapped backbone takes the stock ResNet's detection settings (four FPN levels, stem + stage 1
    frozen, BatchNorm in eval mode) and the ImageNet stem; like the stock config, nothing is loaded at build.
    """
    backbone: Optional[dict] = None
    base: str = STOCK_FASTER_RCNN

    def config(self):
        """The resolved mmengine Config."""
        from mmengine.config import Config, ConfigDict
        cfg = Config.fromstring(f'_base_ = {self.base!r}', file_format='.py')
        if self.backbone is not None:
            stock = cfg.model.backbone
            cfg.model.backbone = ConfigDict(
                dict(_resolved(self.backbone), depth=stock.depth, stem='imagenet', out_indices=stock.out_indices,
                     frozen_stages=stock.frozen_stages, norm_cfg=stock.norm_cfg, norm_eval=stock.norm_eval))
        return cfg


DETECTOR_PRESETS: Dict[str, DetectorPreset] = {
    'faster_rcnn_r50': DetectorPreset(),  # mmdet's own ResNet
    'faster_rcnn_attnresnet50': DetectorPreset(dict(type='AttnResNet')),  # this package's plain ResNet
    'faster_rcnn_emanet50': DetectorPreset(dict(type='EMANet')),
    'faster_rcnn_emca_eca50': DetectorPreset(dict(type='EMCAResNet', host='eca')),
    'faster_rcnn_emca_se50': DetectorPreset(dict(type='EMCAResNet', host='se')),
    'faster_rcnn_se50': DetectorPreset(dict(type='AttnResNet', attention=dict(type='SEGate'))),
    'faster_rcnn_eca50': DetectorPreset(dict(type='AttnResNet', attention=ECA_RESNET50_GATES)),
}
