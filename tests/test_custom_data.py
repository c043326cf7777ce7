"""Your own data: the checked VOC / COCO datasets say what they drop or ignore and refuse an empty training
set; the evaluation names the dataset's own classes; the recipes of configs/custom/ train and evaluate on a
one-class VOC-format folder and a class-per-folder image set that the tests write, and the COCO-format recipe
loads its folder and scores a perfect prediction under its class names.

The unit tests build datasets in the real formats (mmemanet.testing.synthetic_datasets) with each drop /
ignore case; the recipe runs (marked slow) are tools/train.py in process on the shipped config with
--cfg-options only (data root, 64 / 32-px images, one epoch of one step, no download, no checkpoint),
validation included.
"""
import logging
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.logging import MMLogger

import mmemanet  # noqa: F401
from mmemanet.datasets import DatasetFileError, EmptyDatasetError
from mmemanet.testing.synthetic_datasets import write_coco_files, write_image_folder, write_voc_folder

from tool_modules import ROOT
from tool_runs import run_in_process

SIZE = (96, 64)  # (w, h) of the test images
# one image per case; boxes (x0, y0, x1, y1) as written, read back by mmdet as integer (x0, y0, x1, y1)
IMAGES = {
    'big': dict(size=SIZE, objects=[dict(name='tree', bbox=(4, 4, 44, 44)), dict(name='tree', bbox=(50, 8, 90, 50))]),
    'small': dict(size=SIZE, objects=[dict(name='tree', bbox=(4, 4, 44, 44)),
                                      dict(name='tree', bbox=(60, 10, 72, 22))]),
    'difficult': dict(size=SIZE, objects=[dict(name='tree', bbox=(10, 10, 50, 50), difficult=1),
                                          dict(name='bush', bbox=(55, 5, 90, 40))]),
    'bushes': dict(size=SIZE, objects=[dict(name='bush', bbox=(10, 10, 50, 50)),
                                       dict(name='Tree', bbox=(52, 4, 92, 60))]),
}


@pytest.fixture(scope='module')
def voc_folder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('my_voc') / 'VOC2007')  # a name with VOC2007 in it, as users' folders have
    write_voc_folder(root, IMAGES, {'train': list(IMAGES), 'val': list(IMAGES)})
    return root


def build(cfg):
    from mmengine.registry import DATASETS, DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(cfg, pipeline=[]))


def voc(root, **kwargs):
    return build(dict(type='CheckedVOCDataset', data_root=root, ann_file='ImageSets/Main/train.txt',
                      data_prefix=dict(sub_data_root=''), **kwargs))


class Logged:
    """The records mmengine's current logger receives inside (as the datasets log)."""

    def __enter__(self):
        self.records = []
        self.handler = logging.Handler(logging.DEBUG)
        self.handler.emit = self.records.append
        self.logger = MMLogger.get_current_instance()
        self.logger.addHandler(self.handler)
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)

    def lines(self, containing=''):
        return [r.getMessage() for r in self.records if containing in r.getMessage()]


# ---------------------------------------------------------------------------- VOC: what is dropped / ignored
def test_voc_reports_each_cause_once_in_one_line(voc_folder):
    with Logged() as log:
        dataset = voc(voc_folder, metainfo=dict(classes=('tree', )),
                      filter_cfg=dict(filter_empty_gt=True, bbox_min_size=16))
    lines = log.lines('CheckedVOCDataset')
    assert all('\n' not in line and voc_folder in line for line in lines)
    assert len(lines) == 4, lines  # unknown class, under bbox_min_size, difficult, image left out
    unknown, = log.lines('their class is not in')
    assert "dropped 3 of 8 boxes" in unknown and "'bush' x 2, 'Tree' x 1" in unknown, unknown
    assert "metainfo=dict(classes=('tree', 'bush', 'Tree'))" in unknown and 'num_classes=3' in unknown
    small, = log.lines('bbox_min_size')
    assert 'ignored 1 of 8 boxes' in small and 'filter_cfg.bbox_min_size=16 px' in small
    assert 'filter_cfg.bbox_min_size=None' in small
    difficult, = log.lines('difficult')
    assert 'ignored 1 of 8 boxes' in difficult
    left_out, = log.lines('out of training')
    assert 'left 1 of 4 images out of training' in left_out and 'filter_empty_gt' in left_out
    levels = {r.getMessage(): r.levelno for r in log.records}
    assert levels[unknown] == levels[small] == logging.WARNING and levels[difficult] == logging.INFO

    assert len(dataset) == 3  # 'bushes' has no tree
    flags = [i['ignore_flag'] for k in range(len(dataset)) for i in dataset.get_data_info(k)['instances']]
    assert sorted(flags) == [0, 0, 0, 1, 1]
    with Logged() as log:  # once per dataset: nothing more when it is used
        dataset.full_init()
        dataset[0]
    assert not log.lines('CheckedVOCDataset')


def test_voc_with_nothing_to_drop_says_nothing(tmp_path):
    root = str(tmp_path)
    write_voc_folder(root, {'a': IMAGES['big']}, {'train': ['a']})
    with Logged() as log:
        assert len(voc(root, metainfo=dict(classes=('tree', )))) == 1
    assert not log.lines('CheckedVOCDataset')


def test_voc_default_classes_empty_training_set_is_refused_in_one_line(voc_folder):
    """The user's class is not among mmdet's 20 VOC names: every box vanishes; the line says which setting
    keeps them."""
    with Logged() as log, pytest.raises(EmptyDatasetError) as err:
        voc(voc_folder, filter_cfg=dict(filter_empty_gt=True))
    message = str(err.value)
    assert isinstance(err.value, DatasetFileError) and '\n' not in message
    assert message.startswith(osp.join(voc_folder, 'ImageSets/Main/train.txt') + ': no box to train on')
    assert "VOCDataset's default classes ('aeroplane'" in message
    assert "'tree' x 5, 'bush' x 2, 'Tree' x 1" in message
    assert "metainfo=dict(classes=('tree', 'bush', 'Tree'))" in message  # VOC's own names are not suggested
    assert log.lines('dropped 8 of 8 boxes')  # the report came first


def test_voc_every_box_ignored_is_refused_naming_bbox_min_size(tmp_path):
    root = str(tmp_path)
    write_voc_folder(root, {'a': IMAGES['small']}, {'train': ['a']})
    with pytest.raises(EmptyDatasetError, match=r'2 ignored: width or height under filter_cfg.bbox_min_size=64 px'):
        voc(root, metainfo=dict(classes=('tree', )), filter_cfg=dict(bbox_min_size=64))


def test_voc_evaluation_set_without_a_known_box_is_refused(voc_folder):
    with pytest.raises(EmptyDatasetError, match='no box to evaluate against: .*metainfo=dict'):
        voc(voc_folder, test_mode=True, metainfo=dict(classes=('oak', )))
    assert len(voc(voc_folder, test_mode=True, metainfo=dict(classes=('tree', )))) == 4  # all kept for evaluation


def test_stock_synthetic_voc_loads_silently_and_keeps_its_dataset_type(tmp_path):
    from mmemanet.testing.synthetic_datasets import write_voc
    write_voc(str(tmp_path), num_trainval=2, num_test=0, num_trainval_2012=0, size_range=(64, 64))
    with Logged() as log:
        dataset = build(dict(type='CheckedVOCDataset', data_root=str(tmp_path / 'VOCdevkit'),
                             ann_file='VOC2007/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2007/'),
                             filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32)))
    assert not log.lines('CheckedVOCDataset') and len(dataset) == 2
    assert dataset.metainfo['dataset_type'] == 'VOC2007'  # VOC's own classes: VOCMetric's VOC2007 handling stays


# ---------------------------------------------------------------------------- the evaluation's class names
def voc_table(dataset):
    """The VOCMetric table for a perfect prediction of ``dataset``'s first image."""
    import torch
    from mmdet.evaluation import VOCMetric
    metric = VOCMetric()
    metric.dataset_meta = dataset.metainfo
    info = dataset.get_data_info(0)
    boxes = torch.tensor([i['bbox'] for i in info['instances']], dtype=torch.float32)
    labels = torch.tensor([i['bbox_label'] for i in info['instances']])
    empty = dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    metric.process({}, [dict(gt_instances=dict(bboxes=boxes, labels=labels), ignored_instances=empty,
                             pred_instances=dict(bboxes=boxes, scores=torch.ones(len(boxes)), labels=labels))])
    with Logged() as log:
        result = metric.evaluate(1)
    return result, '\n'.join(log.lines())


def test_voc_table_names_the_datasets_classes(voc_folder):
    """A VOC2007-named folder with its own classes: mmdet's VOCDataset marks it VOC2007 and VOCMetric then names
    the rows with VOC's names; the checked one names them after its classes."""
    stock = build(dict(type='VOCDataset', data_root=voc_folder, ann_file='ImageSets/Main/train.txt',
                       data_prefix=dict(sub_data_root=''), metainfo=dict(classes=('tree', 'bush'))))
    _, table = voc_table(stock)
    assert re.search(r'\|\s*aeroplane\s*\|', table), table  # mmdet's behaviour, which the checked dataset fixes
    result, table = voc_table(voc(voc_folder, metainfo=dict(classes=('tree', 'bush'))))
    assert re.search(r'\|\s*tree\s*\|', table) and re.search(r'\|\s*bush\s*\|', table), table
    assert 'aeroplane' not in table
    assert result['pascal_voc/mAP'] == pytest.approx(1.0)


# ---------------------------------------------------------------------------- COCO
COCO_IMAGES = {
    'a.jpg': dict(size=SIZE, objects=[dict(name='tree', bbox=(4, 4, 44, 44)), dict(name='bush', bbox=(50, 8, 90, 50))]),
    'b.jpg': dict(size=SIZE, objects=[dict(name='tree', bbox=(4, 4, 44, 44), iscrowd=1),
                                      dict(name='tree', bbox=(60, 10, 60.5, 30))]),  # 0.5 px wide: mmdet skips it
    'c.jpg': dict(size=SIZE, objects=[dict(name='bush', bbox=(10, 10, 50, 50))]),
}


@pytest.fixture(scope='module')
def coco_folder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('my_coco'))
    write_coco_files(root, {'train': COCO_IMAGES}, categories=['bush', 'tree'])
    return root


def coco(root, **kwargs):
    return build(dict(type='CheckedCocoDataset', data_root=root, ann_file='annotations/train.json',
                      data_prefix=dict(img='train/'), **kwargs))


def test_coco_reports_each_cause_once_in_one_line(coco_folder):
    with Logged() as log:
        dataset = coco(coco_folder, metainfo=dict(classes=('tree', )), filter_cfg=dict(filter_empty_gt=True))
    lines = log.lines('CheckedCocoDataset')
    assert len(lines) == 4, lines
    unknown, = log.lines('their class is not in')
    assert "dropped 2 of 5 boxes" in unknown and "'bush' x 2" in unknown
    assert "metainfo=dict(classes=('bush', 'tree'))" in unknown  # in the file's category order
    assert log.lines('dropped 1 of 5 boxes: narrower or lower than 1 px')
    assert log.lines('ignored 1 of 5 boxes (kept as no-loss regions): iscrowd=1')
    assert log.lines('left 1 of 3 images out of training: without a box')
    assert len(dataset) == 2


def test_coco_classes_the_file_does_not_have_or_orders_otherwise(coco_folder):
    with Logged() as log:
        coco(coco_folder, metainfo=dict(classes=('tree', 'Bush')))
    missing, = log.lines('are not categories of this file')
    assert "('Bush',)" in missing and "('bush', 'tree')" in missing
    with Logged() as log:
        coco(coco_folder, metainfo=dict(classes=('tree', 'bush')))
    order, = log.lines('the labels follow the order')
    assert "('bush', 'tree')" in order


def test_coco_default_classes_empty_training_set_is_refused(coco_folder):
    with pytest.raises(EmptyDatasetError) as err:
        coco(coco_folder)
    message = str(err.value)
    assert '\n' not in message and message.startswith(osp.join(coco_folder, 'annotations/train.json'))
    assert "CocoDataset's default classes ('person'" in message
    assert "metainfo=dict(classes=('bush', 'tree'))" in message


# ---------------------------------------------------------------------------- the recipes, end to end
# 64-px images, one epoch of one step (two training images, batch 2), validation on two images, no download
# no checkpoint (saving EMANet-50 and the config text costs seconds; tools/test.py on a checkpoint: test_end_to_end.py)
NO_CHECKPOINT = ['default_hooks.checkpoint.save_best=None', 'default_hooks.checkpoint.save_last=False',
                 'default_hooks.checkpoint.interval=-1']
DETECTOR_RUN = ['train_cfg.max_epochs=1', 'model.backbone.init_cfg=None', *NO_CHECKPOINT,
                # the backbone frozen: no backward through EMANet-50 (its training: test_end_to_end.py), a third
                # of the run's time
                'model.backbone.frozen_stages=4',
                'model.rpn_head.anchor_generator.scales=[4]',  # 16-px anchors for the 12-28 px trees
                'model.train_cfg.rcnn.sampler.num=64', 'model.test_cfg.rpn.max_per_img=100',
                'model.test_cfg.rcnn.score_thr=0.0',  # after one step every score is low: keep boxes for the table
                *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
                  for key in ('num_workers=0', 'persistent_workers=False'))]


def data_options(root, resize_index={'train': 2, 'val': 1, 'test': 1}):
    return [f'{split}_dataloader.dataset.{key}' for split, index in resize_index.items()
            for key in (f'data_root={root}', f'pipeline.{index}.scale=(64,64)')]


def tree_images(n, seed):
    """``n`` 64-px images of 1-2 trees (12-40 px) each, and one bush (a class the recipe does not train)."""
    rng = np.random.default_rng(seed)
    images = {}
    for i in range(n):
        objects = []
        for x in (2, 34)[:1 + i % 2]:
            side = int(rng.integers(12, 28))
            objects.append(dict(name='tree', bbox=(x, 4, x + side, 4 + side)))
        if i == 0:
            objects.append(dict(name='bush', bbox=(8, 40, 30, 60)))
        images[f'{i:04d}'] = dict(size=(64, 64), objects=objects)
    return images


def validation(output, key):
    lines = [line for line in output.splitlines() if 'Epoch(val)' in line and key in line]
    assert lines, output[-3000:]
    return float(re.search(re.escape(key) + r': (-?\d+\.\d+)', lines[-1]).group(1))


@pytest.mark.slow
def test_voc_format_recipe_trains_and_evaluates(tmp_path):
    root = str(tmp_path / 'my_trees')
    train, val = tree_images(2, 0), tree_images(2, 1)
    write_voc_folder(root, {**train, **{f'v{k}': v for k, v in val.items()}},
                     {'train': list(train), 'val': [f'v{k}' for k in val]})
    config = osp.join(ROOT, 'configs/custom/faster_rcnn_emanet50_voc_format.py')
    output = run_in_process('train', [config, '--work-dir', tmp_path / 'work', '--cfg-options',
                                      *data_options(root + '/'), *DETECTOR_RUN])
    assert "dropped 1 of 4 boxes: their class is not in the dataset's classes ('tree',): 'bush' x 1" in output
    assert 'Iter(train) [1/1]' in output or 'Epoch(train) [1][1/1]' in output, output[-3000:]
    assert 0.0 <= validation(output, 'pascal_voc/mAP') <= 1.0
    assert re.search(r'\|\s*tree\s*\|', output) and 'aeroplane' not in output


def test_coco_format_recipe_loads_the_folder_and_its_evaluation_names_the_classes(tmp_path):
    """The COCO recipe's datasets and metric as its config builds them (data root set as with --cfg-options; the
    training itself is the VOC recipe's, end to end below): a perfect prediction scores 1.0 under the class
    names of the config."""
    import torch
    from mmdet.registry import METRICS
    from mmengine.config import Config
    root = str(tmp_path / 'my_trees') + '/'
    write_coco_files(root, {'train': {f'{k}.jpg': v for k, v in tree_images(2, 0).items()},
                            'val': {f'{k}.jpg': v for k, v in tree_images(2, 1).items()}}, categories=['tree'])
    cfg = Config.fromfile(osp.join(ROOT, 'configs/custom/faster_rcnn_emanet50_coco_format.py'))
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': root, 'val_dataloader.dataset.data_root': root,
                         'val_evaluator.ann_file': f'{root}annotations/val.json'})
    assert cfg.model.roi_head.bbox_head.num_classes == 1
    with Logged() as log:
        train, val = build(cfg.train_dataloader.dataset), build(cfg.val_dataloader.dataset)
    # 'bush' is not a category of the file: an id without a name, which classes cannot keep
    unknown, = log.lines(f'{root}annotations/train.json: dropped 1 of 4 boxes')
    assert "their class is not in the dataset's classes ('tree',): 'category_id 2" in unknown
    assert 'add one (id, name) for each to keep them' in unknown
    assert len(train) == len(val) == 2
    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = val.metainfo
    for i in range(len(val)):
        info = val.get_data_info(i)
        boxes = torch.tensor([o['bbox'] for o in info['instances']], dtype=torch.float32)
        labels = torch.tensor([o['bbox_label'] for o in info['instances']])
        metric.process({}, [dict(img_id=info['img_id'], ori_shape=(info['height'], info['width']),
                                 pred_instances=dict(bboxes=boxes, scores=torch.ones(len(boxes)), labels=labels))])
    with Logged() as log:
        result = metric.evaluate(len(val))
    assert result['coco/bbox_mAP_50'] == pytest.approx(1.0)
    assert re.search(r'\|\s*tree\s*\|', '\n'.join(log.lines())), log.lines()  # the classwise table


@pytest.mark.slow
def test_image_folder_recipe_trains_and_evaluates(tmp_path):
    root = str(tmp_path / 'my_images')
    write_image_folder(root, {'train': {'cat': 1, 'dog': 1}, 'val': {'cat': 1, 'dog': 1}}, size=32)
    config = osp.join(ROOT, 'configs/custom/emanet50_image_folder.py')
    output = run_in_process('train', [
        config, '--work-dir', tmp_path / 'work', '--cfg-options', 'train_cfg.max_epochs=1', *NO_CHECKPOINT,
        *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
          for key in (f'dataset.data_root={root}', 'num_workers=0', 'batch_size=2')),
        'train_dataloader.dataset.pipeline.1.scale=32', 'val_dataloader.dataset.pipeline.1.scale=32',
        'val_dataloader.dataset.pipeline.2.crop_size=32'])
    assert 0.0 <= validation(output, 'accuracy/top1') <= 100.0


def test_image_folder_recipe_reads_the_folders_and_refuses_another_class_count(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DATASETS, DefaultScope
    root = str(tmp_path / 'my_images')
    write_image_folder(root, {'train': {'cat': 2, 'dog': 1}}, size=8)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/custom/emanet50_image_folder.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root))
        assert [dataset.get_data_info(i)['gt_label'] for i in range(3)] == [0, 0, 1]
        assert dataset.metainfo['classes'] == ('cat', 'dog') and cfg.model.head.num_classes == 2
        write_image_folder(root, {'train': {'emu': 1}}, size=8)
        with pytest.raises(AssertionError, match=r'number of subfolders \(3\) doesn.t match'):
            DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root))
