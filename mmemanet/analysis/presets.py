"""Named models of the two papers' tables, with the figures they publish.

Each preset is a classifier config (mmpretrain ``ImageClassifier``: backbone + global average
pooling + linear head), the input size of its table, and the published parameter count
(params / 2^20, as thop counts) and MACs (/ 2^30) where the paper gives them.
"""
from typing import Dict, NamedTuple, Optional, Tuple

#: the published ECA-ResNet-50's gates: kernel sizes 3, 5, 5, 7 for its four stages
ECA_RESNET50_GATES = [dict(type='ECAGate', kernel_size=k) for k in (3, 5, 5, 7)]


class Preset(NamedTuple):
    backbone: dict
    num_classes: int
    input_shape: Tuple[int, int, int, int]
    published_params_m: Optional[float] = None
    published_macs_g: Optional[float] = None
    source: str = ''

    def model_cfg(self) -> dict:
        """mmpretrain config of the whole classifier."""
        channels = 512 if self.backbone.get('depth', 50) < 50 else 2048
        return dict(
            type='ImageClassifier', backbone=dict(self.backbone),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=self.num_classes, in_channels=channels))


CIFAR = (1, 3, 32, 32)
IMAGENET = (1, 3, 224, 224)
EMANET_PAPER = 'EMANet paper (Yang et al. 2022), CIFAR-10 table'
EMCA_PAPER = 'EMCA paper (Bakr et al.), ImageNet table'


def _cifar(backbone, params=None, macs=None):
    return Preset(dict(backbone, depth=50, stem='cifar'), 10, CIFAR, params, macs, EMANET_PAPER)


def _imagenet(backbone, depth, params=None):
    return Preset(dict(backbone, depth=depth), 1000, IMAGENET, params, None, EMCA_PAPER)


PRESETS: Dict[str, Preset] = {
    'cifar_resnet50': _cifar(dict(type='AttnResNet'), 22.43, 1.215),
    'cifar_epsanet50': _cifar(dict(type='AttnResNet', mixer=dict(type='PyramidSplitAttention')), 19.58, 1.066),
    'cifar_se_resnet50': _cifar(dict(type='AttnResNet', attention=dict(type='SEGate')),
                                24.83, 1.219),
    'cifar_eca_resnet50': _cifar(dict(type='AttnResNet', attention=ECA_RESNET50_GATES), 22.43, 1.217),
    'cifar_fcanet50': _cifar(dict(type='AttnResNet', attention=[
        dict(type='FcaGate', dct_size=s) for s in (56, 28, 14, 7)])),
    'cifar_emanet50': _cifar(dict(type='EMANet'), 20.20, 1.119),
    'cifar_emanet50_reference_impl': _cifar(dict(type='EMANet', ma_impl='reference'), 20.20, 1.119),
}
for _depth, _published in ((18, (11.148, 11.231, 11.190, 11.148, 11.150)),
                           (34, (20.788, 20.938, 20.829, 20.788, 20.790)),
                           (50, (24.373, 26.772, 25.037, 24.373, 24.380))):
    _plain, _se, _emca_se, _emca_eca, _emca_srm = _published
    PRESETS[f'resnet{_depth}'] = _imagenet(dict(type='AttnResNet'), _depth, _plain)
    PRESETS[f'se_resnet{_depth}'] = _imagenet(
        dict(type='AttnResNet', attention=dict(type='SEGate')), _depth, _se)
    PRESETS[f'eca_resnet{_depth}'] = _imagenet(
        dict(type='AttnResNet', attention=dict(type='ECAGate', kernel_size=3) if _depth < 50 else
             ECA_RESNET50_GATES), _depth)
    PRESETS[f'srm_resnet{_depth}'] = _imagenet(
        dict(type='AttnResNet', attention=dict(type='SRMGate')), _depth)
    for _host, _p in (('se', _emca_se), ('eca', _emca_eca), ('srm', _emca_srm)):
        PRESETS[f'emca_{_host}_resnet{_depth}'] = _imagenet(
            dict(type='EMCAResNet', host=_host), _depth, _p)
PRESETS['epsanet50'] = _imagenet(dict(type='AttnResNet', mixer=dict(type='PyramidSplitAttention')), 50)
PRESETS['emanet50'] = _imagenet(dict(type='EMANet', stem='imagenet'), 50)

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
                dict(self.backbone, depth=stock.depth, stem='imagenet', out_indices=stock.out_indices,
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

# The EMANet paper's VOC0712 Faster R-CNN figures (params / 2^20 and MACs / 2^30 as the paper counts them),
# by the file name of this package's config that builds the same detector.
PUBLISHED_DETECTORS: Dict[str, Tuple[float, float]] = {
    'faster_rcnn_r50_voc.py': (28.47, 317.98),
    'faster_rcnn_emanet50_voc.py': (26.13, 268.57),
}
