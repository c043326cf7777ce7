"""tools/test.py --show-dir / --out on a detector: the demo's Faster R-CNN (EMANet-18 backbone)
trained one short epoch on the tiny synthetic VOC0712 set, then tested on VOC2007 test with its
predictions drawn by mmdet's own DetVisualizationHook and dumped by mmdet's DumpDetResults. Both
tools run in this process (their ``main(argv)``)."""
import os
import os.path as osp
import pickle

import mmcv
import numpy as np
import pytest

from tool_modules import ROOT
from tool_runs import run_in_process

CONFIG = osp.join(ROOT, 'configs/demo/faster_rcnn_emanet18_synthetic_voc.py')


@pytest.mark.slow
def test_detections_drawn_and_dumped(small_datasets, tmp_path):
    voc = f'{small_datasets}/VOCdevkit/'
    options = [*(f'train_dataloader.dataset.dataset.datasets.{i}.data_root={voc}' for i in (0, 1)),
               f'test_dataloader.dataset.data_root={voc}', 'model.backbone.init_cfg=None',
               'train_cfg.max_epochs=1']
    run_in_process('train', [CONFIG, '--work-dir', tmp_path, '--no-validate', '--cfg-options', *options])
    show_dir, results = tmp_path / 'drawn', tmp_path / 'detections.pkl'
    # score threshold 0: every kept box is drawn, however unsure a one-epoch detector is
    output = run_in_process('test', [CONFIG, tmp_path / 'epoch_1.pth', '--work-dir', tmp_path,
                                     '--show-dir', show_dir, '--out', results, '--cfg-options', *options,
                                     'default_hooks.visualization.score_thr=0', 'model.test_cfg.rcnn.score_thr=0'])
    assert 'pascal_voc/mAP' in output

    with open(f'{voc}VOC2007/ImageSets/Main/test.txt') as f:
        names = [line.strip() for line in f if line.strip()]
    assert sorted(os.listdir(show_dir)) == sorted(f'{name}.jpg' for name in names)
    for name in names:
        drawn = mmcv.imread(str(show_dir / f'{name}.jpg'))
        source = mmcv.imread(osp.join(voc, 'VOC2007', 'JPEGImages', f'{name}.jpg'))
        # mmdet's visualizer puts the ground truth (left) beside the predictions (right)
        h, w = source.shape[:2]
        assert drawn.shape == (h, 2 * w, 3)
        for half in (drawn[:, :w], drawn[:, w:]):
            # boxes and labels, not JPEG noise: a visible share of the pixels changed by a lot
            changed = (np.abs(half.astype(int) - source.astype(int)).max(axis=2) > 60).mean()
            assert changed > 0.01, (name, changed)

    with open(results, 'rb') as f:
        detections = pickle.load(f)
    assert len(detections) == len(names)
    for det in detections:
        boxes = det['pred_instances']['bboxes']
        assert boxes.shape[1] == 4 and len(boxes) == len(det['pred_instances']['scores']) > 0
