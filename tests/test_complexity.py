"""Complexity of whole detectors (tools/analysis/complexity.py on a detector config or preset): every parameter of
the detector and the MACs of one image through its data preprocessor and ``mode='tensor'``, as mmdet's
get_flops.py counts them, next to the EMANet paper's VOC Faster R-CNN figures. The tool runs in this process
(its ``main()``)."""
import os.path as osp
import re

import pytest
from mmengine.config import Config

import mmemanet  # noqa: F401  (registers the models)
from mmemanet.analysis import build_target, count_parameters, measure_complexity, measure_detector_complexity
from mmemanet.analysis.build import resize_shape
from mmemanet.analysis.presets import PRESETS
from mmemanet.analysis.published import published_for_config

from tool_modules import ROOT
from tool_runs import run_in_process

VOC_CONFIGS = ('configs/baselines/faster_rcnn_r50_voc.py', 'configs/faster_rcnn_emanet50_voc.py')


def test_detector_test_size_comes_from_its_test_pipeline():
    assert resize_shape(Config.fromfile(osp.join(ROOT, VOC_CONFIGS[0]))) == (3, 600, 1000)
    assert build_target('faster_rcnn_r50').input_shape == (3, 800, 1333)


@pytest.mark.slow
def test_whole_detector_is_counted_on_the_padded_input():
    """Image 100 x 150 -> the data preprocessor pads to 128 x 160 (size divisor 32); the whole detector's
    parameters; more MACs than its backbone alone on that input (neck, RPN and RoI head)."""
    detector = build_target('faster_rcnn_emca_eca50').model
    report = measure_detector_complexity(detector, (3, 100, 150))
    assert report.input_shape == (1, 3, 128, 160)
    assert report.params_true == count_parameters(detector)['true']
    backbone = measure_complexity(detector.backbone, report.input_shape)
    assert report.macs > 1.2 * backbone.macs > 0


@pytest.mark.slow
def test_tool_prints_the_paper_figures_next_to_the_voc_detectors():
    output = run_in_process('analysis/complexity', [*VOC_CONFIGS, '--shape', '1', '3', '96', '96'])
    rows = [line.split() for line in output.splitlines() if line.startswith('configs/')]
    assert [r[0] for r in rows] == list(VOC_CONFIGS)
    assert [(r[1], r[5], r[7]) for r in rows] == [('3x96x96', '28.470', '317.980'), ('3x96x96', '26.130', '268.570')]
    resnet_params, emanet_params = (int(r[2].replace(',', '')) for r in rows)
    assert resnet_params > emanet_params > 35_000_000  # whole detectors (the backbones alone are ~23 M / ~21 M)


def test_readme_output_shows_the_metafile_figures():
    """The README's output of the tool (a transcript, not written by it) has each model's published figures as its
    metafile entry has them, the one place they are written."""
    with open(osp.join(ROOT, 'README.md')) as f:
        rows = [line.split() for line in f.read().splitlines()
                if re.match(r'(cifar_|emca_|configs/)\S+ +\d+x\d+x\d+ ', line)]
    assert len(rows) >= 10
    for row in rows:
        figures = PRESETS[row[0]].published if row[0] in PRESETS else published_for_config(row[0])
        assert [row[5], row[7]] == [f'{v:.3f}' if v else '-' for v in (figures.params_m, figures.macs_g)], row


def test_readme_prose_quotes_the_metafile_figures():
    """The figures the README's text quotes for EMANet-50 on CIFAR-10 (top-1, parameters) are its metafile entry's."""
    from mmemanet.analysis.published import models, published
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    entry = next(m for m in models() if m['Name'] == 'emanet50_cifar10')
    top1 = entry['Results'][0]['Metrics']['Top 1 Accuracy']
    params = f'{published("emanet50_cifar10").params_m:.2f} M'
    assert f'EMANet-50 reaches {top1} % top-1 on CIFAR-10 with {params} parameters' in text
    assert f'the published {params} is what thop' in text
