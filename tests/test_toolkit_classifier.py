"""The researcher's toolkit on two real classifier runs: Grad-CAM (vis_cam.py), the EMCA fusion
weights (emca_scales.py), training curves (plot_curves.py) and tools/test.py --show-dir / --out.

The fixture trains a ResNet-18 and an EMCA-ECA ResNet-18 (the shipped CIFAR-10 recipe) with
tools/train.py (in this process) for two short epochs on the tiny synthetic CIFAR-10 set, validating
and saving a checkpoint after each epoch, once per test session for all the tests that use it. The
CAMs are computed on a real photograph that matplotlib ships.
"""
import os
import os.path as osp
import pickle
import shutil

import matplotlib
import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import CheckpointLoader

import mmemanet  # noqa: F401
from mmemanet.checkpoints import CheckpointMismatchError

from tool_modules import load_tool
from tool_runs import once_per_session, run_in_process

vis_cam = load_tool('analysis/vis_cam')
emca_scales = load_tool('analysis/emca_scales')
plot_curves = load_tool('analysis/plot_curves')

PHOTO = osp.join(matplotlib.get_data_path(), 'sample_data', 'grace_hopper.jpg')
RESNET = 'configs/baselines/resnet50_cifar10.py'
EMCA = 'configs/emca/emca_eca_resnet18_cifar10.py'


def cifar_options(data):
    cifar = f'{data}/cifar10'
    return [*(f'{split}_dataloader.dataset.{key}' for split in ('train', 'test', 'val')
              for key in ('type=LocalCIFAR10', f'data_root={cifar}')),
            *(f'{split}_dataloader.{key}' for split in ('train', 'test', 'val')
              for key in ('batch_size=4', 'num_workers=0', 'persistent_workers=False')),
            'train_cfg.max_epochs=2', 'optim_wrapper.optimizer.lr=0.01', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None']


# the ResNet-50 CIFAR config made ResNet-18, the depth of the EMCA config beside it
RESNET18 = {'model.backbone.depth': 18, 'model.head.in_channels': 512}
RESNET18_ARGS = [f'{key}={value}' for key, value in RESNET18.items()]


RUNS = (('resnet18', RESNET, RESNET18), ('emca_eca_r18', EMCA, {}))


@pytest.fixture(scope='module')
def runs(small_datasets, tmp_path_factory):
    """{'resnet18' | 'emca_eca_r18': (config, work_dir, cfg_options)} after tools/train.py, trained once per
    test session (the tests that use them are also grouped on one pytest-xdist worker)."""
    def train(root):
        for name, config, extra in RUNS:
            options = [*cifar_options(small_datasets), *(f'{key}={value}' for key, value in extra.items())]
            run_in_process('train', [config, '--work-dir', root / name, '--cfg-options', *options])

    root = once_per_session('toolkit_classifier_runs', tmp_path_factory, train)
    found = {}
    for name, config, extra in RUNS:
        work_dir = root / name
        for epoch in (1, 2):
            assert (work_dir / f'epoch_{epoch}.pth').is_file()
        found[name] = (config, work_dir, extra)
    return found


def classifier(runs, name, epoch=2, **kwargs):
    """vis_cam's classifier of run ``name`` after ``epoch``."""
    config, work_dir, cfg_options = runs[name]
    return vis_cam.load_classifier(config, str(work_dir / f'epoch_{epoch}.pth'), name,
                                   cfg_options=cfg_options, **kwargs)


# ------------------------------------------------------------------------------------------ vis_cam
@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_default_target_layers_are_the_last_stage_and_the_last_emca_gate(runs):
    assert classifier(runs, 'resnet18').target_layers == ['backbone.layer4']
    assert classifier(runs, 'emca_eca_r18').target_layers == ['backbone.layer4.0.attn']


@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
@pytest.mark.parametrize('method', ['gradcam', 'gradcam++'])
def test_cam_on_a_photograph_has_its_size_and_follows_the_weights(runs, method):
    image = mmcv.imread(PHOTO)
    after_1, after_2 = (vis_cam.compute_cam(classifier(runs, 'emca_eca_r18', epoch), image, method)
                        for epoch in (1, 2))
    for cam in (after_1, after_2):
        assert cam.heatmap.shape == image.shape[:2]
        assert np.isfinite(cam.heatmap).all()
        assert cam.heatmap.min() >= 0 and cam.heatmap.max() <= 1
        assert cam.heatmap.std() > 0.01  # not constant
        assert 0 <= cam.category < 10 and 0 < cam.score <= 1
    # one more epoch of training changes the weights, and with them the heatmap
    assert np.abs(after_1.heatmap - after_2.heatmap).mean() > 1e-3


@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_vis_cam_tool_draws_image_resnet_and_emca_side_by_side(runs, tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    shutil.copy(PHOTO, folder / 'grace_hopper.jpg')
    mmcv.imwrite(mmcv.imflip(mmcv.imread(PHOTO)), str(folder / 'mirrored.png'))
    out = tmp_path / 'cams.png'
    emca_config, emca_dir, _ = runs['emca_eca_r18']
    resnet_config, resnet_dir, _ = runs['resnet18']
    cams = vis_cam.main([str(folder), resnet_config, str(resnet_dir / 'epoch_2.pth'),
                         '--compare', emca_config, str(emca_dir / 'epoch_2.pth'),
                         '--labels', 'ResNet-18', 'EMCA-ECA R-18', '--method', 'gradcam++',
                         '--save-path', str(out), '--cfg-options', *RESNET18_ARGS])
    assert len(cams) == 2 and all(len(row) == 2 for row in cams)  # 2 images x 2 models
    # the CAM of the mirrored photograph is the mirrored CAM only up to the network's asymmetry:
    # both have the photograph's size
    assert cams[1][0].heatmap.shape == cams[0][0].heatmap.shape == mmcv.imread(PHOTO).shape[:2]
    drawn = mmcv.imread(str(out))
    assert drawn is not None and drawn.shape[1] > drawn.shape[0]  # 3 columns, 2 rows


@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_vis_cam_refuses_a_detector_config_and_an_unknown_layer(runs):
    _, work_dir, _ = runs['emca_eca_r18']
    checkpoint = str(work_dir / 'epoch_2.pth')
    with pytest.raises(ValueError, match="default_scope='mmdet'"):
        vis_cam.load_classifier('configs/faster_rcnn_emanet50_voc.py', checkpoint, 'x')
    with pytest.raises(ValueError, match='backbone.layer9'):
        vis_cam.load_classifier(EMCA, checkpoint, 'x', target_layers=['backbone.layer9'])
    with pytest.raises(CheckpointMismatchError):  # an EMANet-50 config with the EMCA checkpoint
        vis_cam.load_classifier('configs/emanet/emanet50_cifar10.py', checkpoint, 'x')


# ------------------------------------------------------------------------------------------ emca_scales
@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_emca_scales_reads_every_gate_of_a_trained_checkpoint(runs, tmp_path):
    config, work_dir, _ = runs['emca_eca_r18']
    checkpoint = str(work_dir / 'epoch_2.pth')
    out = tmp_path / 'scales.png'
    gates = emca_scales.main([config, checkpoint, '--out', str(out)])
    # ResNet-18, S = 1, N' = all: stage 1 is uni-scale, stages 2-4 fuse both blocks of the stage before
    assert [(g.name, g.scales) for g in gates] == [
        ('layer1.0.attn', ('own', )),
        ('layer2.0.attn', ('own', 'layer1.0', 'layer1.1')),
        ('layer3.0.attn', ('own', 'layer2.0', 'layer2.1')),
        ('layer4.0.attn', ('own', 'layer3.0', 'layer3.1'))]
    state = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')['state_dict']
    for gate in gates:
        stored = state[f'backbone.{gate.name}.fusion.weight'].flatten().tolist()
        assert list(gate.weights) == pytest.approx(stored, abs=0)
    # trained: the weights moved away from their initial 1 / R
    assert any(abs(w - 1 / 3) > 1e-6 for gate in gates[1:] for w in gate.weights)
    assert mmcv.imread(str(out)) is not None


@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_emca_scales_for_an_srm_host_and_a_refusal_without_emca(runs, tmp_path):
    """Any host: an EMCA-SRM checkpoint in the Runner's format with known fusion weights."""
    config = 'configs/emca/emca_srm_resnet18_cifar10.py'
    backbone = MODELS.build(Config.fromfile(config).model.backbone)
    with torch.no_grad():
        for i, gate in enumerate(m for m in backbone.modules() if hasattr(m, 'fusion_weight')):
            gate.fusion.weight.copy_(torch.linspace(-1, 1, gate.fusion.weight.numel()).view_as(gate.fusion.weight) * i)
    checkpoint = tmp_path / 'srm.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()}}, checkpoint)
    gates = emca_scales.main([config, str(checkpoint), '--out', str(tmp_path / 'srm.png')])
    assert [len(g.weights) for g in gates] == [1, 3, 3, 3]
    assert gates[2].weights == pytest.approx((-2.0, 0.0, 2.0))

    resnet_config, resnet_dir, resnet_options = runs['resnet18']
    with pytest.raises(ValueError, match='no EMCA gate'):
        emca_scales.main([resnet_config, str(resnet_dir / 'epoch_2.pth'), '--out', str(tmp_path / 'x.png'),
                          '--cfg-options', *RESNET18_ARGS])


# ------------------------------------------------------------------------------------------ plot_curves
@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_curves_of_two_runs_in_one_png(runs, tmp_path):
    out = tmp_path / 'curves.png'
    dirs = [str(runs[name][1]) for name in ('resnet18', 'emca_eca_r18')]
    plot_curves.main([*dirs, '--legend', 'ResNet-18', 'EMCA-ECA R-18', '--out', str(out)])
    loaded = [plot_curves.Run(d, name) for d, name in zip(dirs, ('ResNet-18', 'EMCA-ECA R-18'))]
    keys = plot_curves.default_keys(loaded)
    assert keys == ['loss', 'lr', 'accuracy/top1']
    # 8 training images, batch 4, 2 epochs: 4 logged iterations; 2 validations
    for run_ in loaded:
        assert [x for x, _ in run_.series('loss')] == [1, 2, 3, 4]
        assert [x for x, _ in run_.series('accuracy/top1')] == [1, 2]
    fig = plot_curves.plot_curves(loaded, keys, str(tmp_path / 'again.png'))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == keys
    for ax in panels:
        assert [line.get_label() for line in ax.get_lines()] == ['ResNet-18', 'EMCA-ECA R-18']
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ['ResNet-18', 'EMCA-ECA R-18']
    assert panels[-1].get_xlabel() == 'epoch' and panels[0].get_xlabel() == 'iteration'
    assert mmcv.imread(str(out)) is not None
    with pytest.raises(KeyError, match='coco/bbox_mAP'):
        plot_curves.plot_curves(loaded, ['coco/bbox_mAP'], str(tmp_path / 'none.png'))


# ------------------------------------------------------------------------------------------ test.py
@pytest.mark.slow
@pytest.mark.xdist_group('test_toolkit_classifier')
def test_test_tool_draws_and_dumps_classifier_predictions(runs, small_datasets, tmp_path):
    config, work_dir, _ = runs['emca_eca_r18']
    show_dir, results = tmp_path / 'shown', tmp_path / 'predictions.pkl'
    run_in_process('test', [config, work_dir / 'epoch_2.pth', '--work-dir', tmp_path,
                            '--show-dir', show_dir, '--out', results, '--cfg-options', *cifar_options(small_datasets),
                            # equal batches: mmpretrain's hook numbers the samples of a short last batch wrongly
                            'test_dataloader.batch_size=5'])
    # every test image, drawn with its predicted class, named <index>_<step>.png by mmpretrain's hook
    assert sorted(os.listdir(show_dir)) == sorted(f'{i}_0.png' for i in range(10))
    with open(results, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 10 and {'pred_label', 'pred_score', 'gt_label'} <= set(predictions[0])


def test_tools_name_a_bad_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='vis_data/scalars.json'):
        plot_curves.Run(str(tmp_path), 'empty')
    with pytest.raises(FileNotFoundError, match='holds no image'):
        vis_cam.image_paths(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='neither an image file nor a folder'):
        vis_cam.image_paths(str(tmp_path / 'missing.jpg'))
