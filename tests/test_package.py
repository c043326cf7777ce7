"""The package as users get it: its configs inherited as ``mmemanet::<folder>/<config>.py`` from a config of
their own, anywhere."""
import os.path as osp
import textwrap

from mmengine.config import Config

import mmemanet  # noqa: F401  (lets mmengine resolve mmemanet::)

from tool_modules import ROOT


def test_own_config_inherits_ours_through_the_package(tmp_path):
    own = tmp_path / 'my_detector.py'
    own.write_text(textwrap.dedent("""
        _base_ = 'mmemanet::emanet/faster_rcnn_emanet50_voc.py'
        train_cfg = dict(max_epochs=2)
    """))
    cfg = Config.fromfile(str(own))
    ours = Config.fromfile(osp.join(ROOT, 'configs', 'emanet', 'faster_rcnn_emanet50_voc.py'))
    assert cfg.train_cfg.max_epochs == 2
    cfg.train_cfg.max_epochs = ours.train_cfg.max_epochs
    # read as its own file would be: no ``_scope_='mmemanet'`` stamped on the inherited dicts
    assert cfg.to_dict() == ours.to_dict()
    assert cfg.model.backbone.type == 'EMANet' and cfg.default_scope == 'mmdet'
    assert cfg.train_dataloader.dataset.dataset.datasets[0].type == 'CheckedVOCDataset'
