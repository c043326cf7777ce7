"""Bad input gets a clear, early error that names the offending file / value and what is valid.

Unknown attention types, broken VOC / COCO files and images, checkpoints of another architecture,
truncated or malicious checkpoint files, and a loss that turns NaN during training.
"""
import json
import os
import os.path as osp
import re
import xml.etree.ElementTree as ET

import pytest
import torch
from mmengine.registry import MODELS

import mmemanet  # noqa: F401
from mmemanet.checkpoints import CheckpointLoadError, CheckpointMismatchError, load_from_local
from mmemanet.datasets.checked import DatasetFileError
from mmemanet.engine import NonFiniteLossError
from mmemanet.testing.synthetic_datasets import write_coco, write_voc


# ---------------------------------------------------------------------------- unknown attention types
@pytest.mark.parametrize('backbone,slot,known', [
    (dict(type='AttnResNet', depth=18, attention=dict(type='CBAMGate')), 'attention', 'SEGate'),
    (dict(type='AttnResNet', depth=50, mixer=dict(type='MixtureAtention')), 'mixer', 'MixtureAttention'),
    (dict(type='AttnResNet', depth=50, plugins=[dict(cfg=dict(type='NoSuchPlugin'), position='after_conv2')]),
     'attention', 'ECAGate'),
])
def test_unknown_attention_type_lists_known_ones(backbone, slot, known):
    with pytest.raises(KeyError) as err:
        MODELS.build(backbone)
    msg = str(err.value)
    bad = (backbone.get('attention') or backbone.get('mixer') or backbone['plugins'][0]['cfg'])['type']
    assert f'unknown {slot} type {bad!r}' in msg and known in msg, msg


# ---------------------------------------------------------------------------- VOC
@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('voc')
    write_voc(str(root), num_trainval=3, num_test=1, num_trainval_2012=0, size_range=(64, 96))
    return osp.join(str(root), 'VOCdevkit')


def voc_dataset(data_root, dataset_type='CheckedVOCDataset'):
    from mmdet.registry import DATASETS
    return DATASETS.build(dict(type=dataset_type, data_root=data_root, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                               data_prefix=dict(sub_data_root='VOC2007/'), pipeline=[]))


def test_checked_voc_is_a_drop_in_replacement(voc_root):
    checked, stock = voc_dataset(voc_root), voc_dataset(voc_root, 'VOCDataset')
    assert len(checked) == len(stock) == 3
    assert [checked.get_data_info(i) for i in range(3)] == [stock.get_data_info(i) for i in range(3)]


def _edit_copy(voc_root, tmp_path):
    """A copy of the VOC tree to break (the module fixture stays intact)."""
    import shutil
    dst = tmp_path / 'VOCdevkit'
    shutil.copytree(voc_root, dst)
    return str(dst), osp.join(str(dst), 'VOC2007')


def _break_xml(path, edit):
    tree = ET.parse(path)
    edit(tree.getroot())
    tree.write(path)


@pytest.mark.parametrize('edit,message', [
    (lambda r: r.find('object/bndbox').remove(r.find('object/bndbox/xmin')),
     r'<object> #1 \(\w+\) <bndbox> has no <xmin>'),
    (lambda r: setattr(r.find('object/bndbox/ymax'), 'text', '12O'),
     r"<object> #1 \(\w+\) <bndbox> <ymax> is '12O', not a number"),
    (lambda r: r.find('object').remove(r.find('object/name')), r'<object> #1 has no <name>'),
    (lambda r: setattr(r.find('size/width'), 'text', 'wide'), r"<size> <width> is 'wide', not a number"),
])
def test_voc_xml_missing_or_garbled_field_names_file(voc_root, tmp_path, edit, message):
    root, voc07 = _edit_copy(voc_root, tmp_path)
    xml = osp.join(voc07, 'Annotations', '000002.xml')
    _break_xml(xml, edit)
    with pytest.raises(DatasetFileError, match=re.escape(xml) + ': ' + message):
        voc_dataset(root)


def test_voc_xml_not_well_formed_names_file(voc_root, tmp_path):
    root, voc07 = _edit_copy(voc_root, tmp_path)
    xml = osp.join(voc07, 'Annotations', '000003.xml')
    text = open(xml).read()
    open(xml, 'w').write(text[:len(text) // 2])  # cut mid-file
    with pytest.raises(DatasetFileError, match=re.escape(xml) + r': not well-formed XML'):
        voc_dataset(root)


def test_truncated_jpeg_names_file(voc_root, tmp_path):
    root, voc07 = _edit_copy(voc_root, tmp_path)
    jpg = osp.join(voc07, 'JPEGImages', '000001.jpg')
    data = open(jpg, 'rb').read()
    open(jpg, 'wb').write(data[:len(data) * 2 // 3])
    with pytest.raises(DatasetFileError, match=re.escape(jpg) + r': truncated JPEG'):
        voc_dataset(root)


def test_voc_missing_image_names_file(voc_root, tmp_path):
    root, voc07 = _edit_copy(voc_root, tmp_path)
    jpg = osp.join(voc07, 'JPEGImages', '000003.jpg')
    os.remove(jpg)
    with pytest.raises(DatasetFileError, match=re.escape(jpg) + ': image file not found'):
        voc_dataset(root)


# ---------------------------------------------------------------------------- COCO
@pytest.fixture()
def coco_root(tmp_path):
    write_coco(str(tmp_path), num_train=3, num_val=1, size_range=(64, 96))
    return str(tmp_path)


def coco_dataset(root, **kwargs):
    from mmdet.registry import DATASETS
    return DATASETS.build(dict(type='CheckedCocoDataset', data_root=root,
                               ann_file='annotations/instances_train2017.json',
                               data_prefix=dict(img='train2017/'), pipeline=[], **kwargs))


def _move_first_box_outside(root):
    ann_file = osp.join(root, 'annotations', 'instances_train2017.json')
    coco = json.load(open(ann_file))
    ann = coco['annotations'][0]
    image = next(i for i in coco['images'] if i['id'] == ann['image_id'])
    ann['bbox'][0] = image['width'] - ann['bbox'][2] / 2  # half of the box beyond the right edge
    json.dump(coco, open(ann_file, 'w'))
    return ann, osp.join(root, 'train2017', image['file_name'])


def test_coco_box_outside_image_names_file(coco_root):
    assert len(coco_dataset(coco_root)) == 3  # intact files load
    ann, img = _move_first_box_outside(coco_root)
    with pytest.raises(DatasetFileError) as err:
        coco_dataset(coco_root)
    msg = str(err.value)
    assert msg.startswith(f"{img}: annotation id {ann['id']}") and 'lies outside the' in msg, msg
    assert "invalid_boxes='skip'" in msg


def test_coco_box_outside_image_documented_skip_warns(coco_root):
    import logging

    from mmengine.logging import MMLogger
    instances = lambda ds: sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))  # noqa: E731
    intact = instances(coco_dataset(coco_root))
    ann, img = _move_first_box_outside(coco_root)
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()  # where print_log(logger='current') goes
    logger.addHandler(handler)
    try:
        ds = coco_dataset(coco_root, invalid_boxes='skip')
    finally:
        logger.removeHandler(handler)
    assert any(re.search(re.escape(f"{img}: annotation id {ann['id']}") + '.*lies outside the .*; skipped',
                         r.getMessage()) for r in records), [r.getMessage() for r in records]
    assert instances(ds) == intact - 1
    with pytest.raises(ValueError, match=r"invalid_boxes='drop'; valid values are \['error', 'skip'\]"):
        coco_dataset(coco_root, invalid_boxes='drop')


def test_coco_missing_image_names_file(coco_root):
    img = osp.join(coco_root, 'train2017', sorted(os.listdir(osp.join(coco_root, 'train2017')))[1])
    os.remove(img)
    with pytest.raises(DatasetFileError, match=re.escape(img) + ': image file not found'):
        coco_dataset(coco_root)


# ---------------------------------------------------------------------------- checkpoints
def tiny_classifier(backbone, channels=64):
    """ImageClassifier with one stage of ``backbone`` (CIFAR stem) and a 10-class head."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    init_default_scope('mmpretrain')
    return PRETRAIN_MODELS.build(dict(
        type='ImageClassifier', backbone=dict(backbone, stem='cifar', num_stages=1, strides=(1, ), out_indices=(0, )),
        neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=10, in_channels=channels)))


def test_checkpoint_of_other_architecture_lists_keys_and_shapes(tmp_path):
    """Through a real Runner (as tools/test.py and load_from load): refused before loading anything."""
    from mmengine.runner import Runner
    ckpt = tmp_path / 'emanet50.pth'
    other = tiny_classifier(dict(type='EMANet', depth=50), channels=256).state_dict()
    torch.save({'meta': {}, 'state_dict': other}, ckpt)
    model = tiny_classifier(dict(type='EMANet', depth=18))
    runner = Runner(model=model, work_dir=str(tmp_path / 'work'), default_scope='mmpretrain', load_from=str(ckpt),
                    custom_hooks=[dict(type='CheckpointCompatibilityHook')])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        runner.load_checkpoint(str(ckpt))
    msg = str(err.value)
    assert msg.startswith(f'checkpoint {ckpt} does not fit the model'), msg
    # the first mismatching keys of each kind, with both shapes
    ours = model.state_dict()
    first_shape = next(k for k in ours if k in other and other[k].shape != ours[k].shape)
    first_missing = next(k for k in ours if k not in other)
    first_unexpected = next(k for k in other if k not in ours)
    assert f'{first_shape}: checkpoint {list(other[first_shape].shape)}, model {list(ours[first_shape].shape)}' in msg
    assert f'{first_missing} (model {list(ours[first_missing].shape)})' in msg
    assert f'{first_unexpected} (checkpoint {list(other[first_unexpected].shape)})' in msg
    assert 'head.fc.weight: checkpoint [10, 256], model [10, 64]' in msg, msg
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing was loaded


def test_truncated_checkpoint_clear_error(tmp_path):
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {}, 'state_dict': tiny_classifier(dict(type='EMANet', depth=18)).state_dict()}, ckpt)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:len(data) // 2])
    from mmengine.runner import load_checkpoint
    truncated = re.escape(str(ckpt)) + r' \([\d,]+ bytes\) is truncated or corrupt'
    with pytest.raises(CheckpointLoadError, match=truncated) as err:
        load_checkpoint(tiny_classifier(dict(type='EMANet', depth=18)), str(ckpt))
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no pickle traceback chained
    assert 'Traceback' not in str(err.value) and 'pickle' not in str(err.value).lower()


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.mark.parametrize('payload', [pytest.param('os.system', marks=pytest.mark.slow), 'getattr'])
def test_malicious_checkpoint_refused(tmp_path, payload):
    """A checkpoint that would run a command (directly, or through getattr) is refused, not executed —
    by the loader behind load_from / --resume / tools/test.py and by the reference converter."""
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'evil.pth'
    if payload == 'os.system':
        torch.save({'state_dict': {}, 'meta': _RunsCommand(str(marker))}, ckpt)
    else:  # getattr on the allow-listed HistoryBuffer, reaching beyond its statistics methods
        from mmengine.logging import HistoryBuffer

        class _Getattr:
            def __reduce__(self):
                return getattr, (HistoryBuffer, 'register_statistics')
        torch.save({'state_dict': {}, 'meta': _Getattr()}, ckpt)
    with pytest.raises(CheckpointLoadError, match=r'refused to load checkpoint .*evil\.pth'):
        load_from_local(str(ckpt))
    if payload == 'os.system':  # the converter's input goes through the same loader
        from test_checkpoints import run_converter
        proc = run_converter(str(ckpt), str(tmp_path / 'out.pth'))
        assert proc.returncode != 0 and 'refused to load checkpoint' in proc.stderr, proc.stderr
        assert not osp.exists(tmp_path / 'out.pth')
    assert not marker.exists()


# ---------------------------------------------------------------------------- non-finite loss
@pytest.mark.parametrize('interval,stops_at,message', [
    (2, 4, 'non-finite loss at iteration 4'),                   # NaN loss in a non-checkpoint iteration
    (1, 3, 'refusing to save a checkpoint at iteration 3'),     # finite loss, non-finite update, checkpoint due
])
def test_non_finite_loss_stops_before_overwriting_a_good_checkpoint(tmp_path, interval, stops_at, message):
    """lr becomes inf after iteration 2: training stops naming the iteration; no checkpoint with
    non-finite weights is written and the latest checkpoint stays the last good one."""
    from mmengine.runner import Runner

    from mmemanet.testing.synthetic_datasets import write_cifar10
    write_cifar10(str(tmp_path / 'cifar'), num_train=10, num_test=10)
    dataset = dict(type='LocalCIFAR10', data_root=str(tmp_path / 'cifar'), split='train',
                   pipeline=[dict(type='Resize', scale=16), dict(type='PackInputs')])
    work_dir = str(tmp_path / 'work')
    runner = Runner(
        model=tiny_classifier(dict(type='EMANet', depth=18)), work_dir=work_dir, default_scope='mmpretrain',
        train_dataloader=dict(batch_size=2, num_workers=0, dataset=dataset,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=False, milestones=[2], gamma=float('inf')),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=interval, by_epoch=False)),
        custom_hooks=[dict(type='NonFiniteLossHook')], randomness=dict(seed=0))
    with pytest.raises(NonFiniteLossError, match=message):
        runner.train()
    saved = sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))
    assert saved == [f'iter_{i}.pth' for i in range(interval, stops_at, interval)], saved
    for name in saved:
        state = torch.load(osp.join(work_dir, name))['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), name
    latest = open(osp.join(work_dir, 'last_checkpoint')).read().strip()
    assert osp.basename(latest) == saved[-1]
