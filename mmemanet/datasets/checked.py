"""VOC and COCO datasets that check their files while loading and name the offending file.

The stock mmdet datasets fail late or silently on broken input: a garbled VOC XML gives a bare
``ParseError: mismatched tag: line 7`` or ``'NoneType' object has no attribute 'text'``, a COCO box
outside its image is dropped or kept unclipped without a word, and a missing or truncated image
surfaces only when the data loader reaches it (a truncated JPEG is even decoded silently with a
grey bottom). :class:`CheckedVOCDataset` and :class:`CheckedCocoDataset` are drop-in
replacements (``type='CheckedVOCDataset'`` / ``'CheckedCocoDataset'``, same arguments) that check,
while the annotation list is built (before the first iteration):

- the dataset is there at all: the VOC image list / COCO annotation file and image folder exist;
  if not, the error names the path, the expected layout and where the official files come from;
- every image file exists, is not empty and is complete (a JPEG ends with its EOI marker, a PNG with
  its IEND chunk; only local files are checked for completeness);
- VOC: the XML parses, ``size/width`` and ``size/height`` (when present) and each object's ``name``,
  ``bndbox/{xmin,ymin,xmax,ymax}`` and ``difficult`` (when present) are there and numeric;
- COCO: every ``bbox`` is four finite numbers with positive width and height inside its image
  (1 pixel of tolerance). ``invalid_boxes='skip'`` drops such a box with a warning naming the file
  instead of raising.

Every error is a one-line :class:`DatasetFileError` whose message starts with the offending file.

Both also say what loading drops or ignores, once per dataset, one log line per cause
(:mod:`~mmemanet.datasets.load_report`): boxes of a class not in the dataset's ``classes`` (the names, their
counts and the ``metainfo=dict(classes=...)`` that keeps them), VOC boxes ignored under
``filter_cfg.bbox_min_size`` or as ``difficult``, COCO boxes mmdet skips (under 1 px, no area, outside the
image, ``ignore``) or ignores (``iscrowd``), COCO ``classes`` that are not categories of the file, and images
left out of training; a training dataset left with no box to train on is refused
(:class:`~mmemanet.datasets.errors.EmptyDatasetError`, one line naming the cause).

The evaluation names the classes after the dataset's own ``classes``: mmdet's ``VOCMetric`` labels its table
with VOC's 20 names whenever the dataset's ``dataset_type`` is ``VOC2007`` / ``VOC2012`` (a ``data_root`` or
``sub_data_root`` containing that name), whatever classes it declares; :class:`CheckedVOCDataset` keeps that
``dataset_type`` only when its classes are VOC's own, in VOC's order.
"""
import logging
import math
import os.path as osp
import xml.etree.ElementTree as ET

from mmdet.datasets import CocoDataset, VOCDataset
from mmdet.registry import DATASETS
from mmengine.fileio import exists, get_local_path
from mmengine.logging import print_log

from .errors import DatasetFileError, missing_dataset
from .load_report import LoadReportMixin, names

VOC_LAYOUT = ('<data_root>/VOC2007/{ImageSets/Main/{trainval,test}.txt, Annotations/<id>.xml, '
              'JPEGImages/<id>.jpg} and <data_root>/VOC2012/ (trainval) alike, as the VOCdevkit/ folder of '
              'the official archives')
VOC_SOURCE = ('VOCtrainval_06-Nov-2007.tar, VOCtest_06-Nov-2007.tar and VOCtrainval_11-May-2012.tar from '
              'http://host.robots.ox.ac.uk/pascal/VOC/ (each unpacks to VOCdevkit/)')
COCO_LAYOUT = ('<data_root>/annotations/instances_{train,val}2017.json, <data_root>/train2017/*.jpg, '
               '<data_root>/val2017/*.jpg')
COCO_SOURCE = ('train2017.zip, val2017.zip and annotations_trainval2017.zip from '
               'https://cocodataset.org/#download, unpacked into data_root')
BOX_TOLERANCE = 1.0  # pixels a COCO box may exceed its image by (rounding in real annotations)
_TAIL = 1024


def check_image_file(path: str, backend_args=None) -> None:
    """Raise :class:`DatasetFileError` unless ``path`` exists and (when local) is a complete image."""
    if not exists(path, backend_args=backend_args):
        raise DatasetFileError(f'{path}: image file not found')
    if backend_args is not None or not osp.isfile(path):
        return
    size = osp.getsize(path)
    if size == 0:
        raise DatasetFileError(f'{path}: image file is empty')
    with open(path, 'rb') as f:
        head = f.read(8)
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    if head[:2] == b'\xff\xd8' and b'\xff\xd9' not in tail:
        raise DatasetFileError(f'{path}: truncated JPEG ({size:,} bytes, no end-of-image marker); '
                               're-copy or re-encode the file, or remove it from the image list')
    if head == b'\x89PNG\r\n\x1a\n' and b'IEND' not in tail:
        raise DatasetFileError(f'{path}: truncated PNG ({size:,} bytes, no IEND chunk)')


def _number(elem, field: str, xml_path: str, where: str) -> float:
    node = elem.find(field)
    if node is None or node.text is None or not node.text.strip():
        raise DatasetFileError(f'{xml_path}: {where} has no <{field}> (a VOC annotation needs it)')
    try:
        value = float(node.text)
    except ValueError:
        raise DatasetFileError(f'{xml_path}: {where} <{field}> is {node.text.strip()!r}, not a number') from None
    if not math.isfinite(value):
        raise DatasetFileError(f'{xml_path}: {where} <{field}> is {node.text.strip()!r}, not a finite number')
    return value


def check_voc_xml(xml_path: str, backend_args=None) -> None:
    """Raise :class:`DatasetFileError` naming ``xml_path`` and the field when it is not a valid
    VOC annotation (see the module docstring for what is checked)."""
    if not exists(xml_path, backend_args=backend_args):
        raise DatasetFileError(f'{xml_path}: annotation file not found')
    with get_local_path(xml_path, backend_args=backend_args) as local_path:
        try:
            root = ET.parse(local_path).getroot()
        except ET.ParseError as e:
            raise DatasetFileError(f'{xml_path}: not well-formed XML ({e})') from None
    size = root.find('size')
    if size is not None:
        for field in ('width', 'height'):
            if _number(size, field, xml_path, '<size>') <= 0:
                raise DatasetFileError(f'{xml_path}: <size> <{field}> must be positive')
    for i, obj in enumerate(root.findall('object')):
        where = f'<object> #{i + 1}'
        name = obj.find('name')
        if name is None or not (name.text or '').strip():
            raise DatasetFileError(f'{xml_path}: {where} has no <name> (the class name)')
        where = f'<object> #{i + 1} ({name.text.strip()})'
        if obj.find('difficult') is not None:
            _number(obj, 'difficult', xml_path, where)
        box = obj.find('bndbox')
        if box is None:
            raise DatasetFileError(f'{xml_path}: {where} has no <bndbox>')
        x0, y0, x1, y1 = (_number(box, f, xml_path, f'{where} <bndbox>') for f in ('xmin', 'ymin', 'xmax', 'ymax'))
        if x1 < x0 or y1 < y0:
            raise DatasetFileError(f'{xml_path}: {where} <bndbox> ({x0:g}, {y0:g}, {x1:g}, {y1:g}) has '
                                   'xmax < xmin or ymax < ymin')


@DATASETS.register_module()
class CheckedVOCDataset(LoadReportMixin, VOCDataset):
    """mmdet's :class:`VOCDataset` that checks each XML and image while loading and reports what it drops or
    ignores (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if tuple(self._metainfo['classes']) != tuple(VOCDataset.METAINFO['classes']):
            # not VOC's classes: VOCMetric then names the table's rows after the dataset's classes
            self._metainfo['dataset_type'] = None

    def _parse_instance_info(self, raw_ann_info, minus_one: bool = True):
        """mmdet's parsing, counting each box that it drops (class not in ``classes``) or ignores
        (``difficult``, under ``bbox_min_size``; as mmdet measures: integer corners, ``xmax - xmin``)."""
        report, classes, min_size = self.load_report, self._metainfo['classes'], self.bbox_min_size
        for obj in raw_ann_info.findall('object'):
            report.boxes += 1
            name = obj.find('name').text
            if name not in classes:
                report.unknown[name] += 1
                continue
            difficult = obj.find('difficult')
            if difficult is not None and int(float(difficult.text)):
                report.ignored['marked difficult (the VOC convention: ignored in training and evaluation)'] += 1
                continue
            if min_size is not None:
                x0, y0, x1, y1 = (int(float(obj.find(f'bndbox/{k}').text)) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
                if x1 - x0 < min_size or y1 - y0 < min_size:
                    report.ignored[f'width or height under filter_cfg.bbox_min_size={min_size} px; set '
                                   'filter_cfg.bbox_min_size=None (or smaller) to train on them, with anchors that '
                                   "small (the anchor generator's scales)"] += 1
        return super()._parse_instance_info(raw_ann_info, minus_one)

    def check_files(self) -> None:
        """Raise :class:`DatasetFileError` (one line: path, layout, official source) when the image list is
        missing; each XML and image is checked while loading."""
        if not exists(self.ann_file, backend_args=self.backend_args):
            raise missing_dataset(self.ann_file, 'VOC image list', self.data_root, VOC_LAYOUT, VOC_SOURCE)

    def load_data_list(self):
        self.check_files()
        return super().load_data_list()

    def parse_data_info(self, img_info: dict):
        check_voc_xml(img_info['xml_path'], self.backend_args)
        check_image_file(osp.join(self.sub_data_root, img_info['file_name']), self.backend_args)
        return super().parse_data_info(img_info)


@DATASETS.register_module()
class CheckedCocoDataset(LoadReportMixin, CocoDataset):
    """mmdet's :class:`CocoDataset` that checks each image and box while loading and reports what it drops or
    ignores (module docstring).

    Args:
        invalid_boxes (str): ``'error'`` (default) raises on a box outside its image or degenerate;
            ``'skip'`` drops it with a warning naming the file.
        **kwargs: as :class:`CocoDataset`.
    """
    INVALID_BOXES = ('error', 'skip')

    def __init__(self, *args, invalid_boxes: str = 'error', **kwargs):
        if invalid_boxes not in self.INVALID_BOXES:
            raise ValueError(f'invalid_boxes={invalid_boxes!r}; valid values are {list(self.INVALID_BOXES)}')
        self.invalid_boxes = invalid_boxes
        super().__init__(*args, **kwargs)

    def check_files(self) -> None:
        """Raise :class:`DatasetFileError` (one line: path, layout, official source) when the annotation file
        or the image folder is missing; each image and box is checked while loading."""
        for path, what in ((self.ann_file, 'COCO annotation file'),
                           (self.data_prefix.get('img', ''), 'COCO image folder')):
            if not exists(path, backend_args=self.backend_args):
                raise missing_dataset(path, what, self.data_root, COCO_LAYOUT, COCO_SOURCE)

    def load_data_list(self):
        self.check_files()
        return super().load_data_list()

    def _box_problem(self, ann: dict, width: float, height: float):
        bbox = ann.get('bbox')
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in bbox):
            return f'bbox {bbox!r} is not four finite numbers [x, y, w, h]'
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            return f'bbox {bbox} has a non-positive width or height'
        t = BOX_TOLERANCE
        if x < -t or y < -t or x + w > width + t or y + h > height + t:
            return f'bbox {bbox} (x0, y0, x1, y1 = {x:g}, {y:g}, {x + w:g}, {y + h:g}) lies outside the ' \
                   f'{width:g} x {height:g} image'
        return None

    def parse_data_info(self, raw_data_info: dict):
        img_info = raw_data_info['raw_img_info']
        img_path = osp.join(self.data_prefix['img'], img_info['file_name'])
        check_image_file(img_path, self.backend_args)
        kept = []
        for ann in raw_data_info['raw_ann_info']:
            problem = self._box_problem(ann, img_info['width'], img_info['height'])
            if problem is None:
                kept.append(ann)
                continue
            message = f"{img_path}: annotation id {ann.get('id')} in {self.ann_file}: {problem}"
            if self.invalid_boxes == 'error':
                raise DatasetFileError(message + "; fix it, or pass invalid_boxes='skip' to drop such boxes")
            print_log(message + '; skipped', logger='current', level=logging.WARNING)
            self.load_report.dropped["invalid (invalid_boxes='skip'; each named in a warning above)"] += 1
        self._count(raw_data_info['raw_ann_info'], kept, img_info)
        return super().parse_data_info(dict(raw_data_info, raw_ann_info=kept))

    def _count(self, anns, kept, img_info) -> None:
        """Count what mmdet's parsing does with each box (its own tests, in its order)."""
        report = self.load_report
        if report.file_classes is None:  # the annotation file is open (self.coco) while images are parsed
            report.file_classes = [c['name'] for c in self.coco.dataset.get('categories', [])]
            report.file_categories = {c['id']: c['name'] for c in self.coco.dataset.get('categories', [])}
        report.boxes += len(anns)
        for ann in kept:
            x, y, w, h = ann['bbox']
            if ann.get('ignore', False):
                report.dropped['marked ignore=1 (mmdet skips them)'] += 1
            elif (min(x + w, img_info['width']) - max(x, 0) <= 0
                  or min(y + h, img_info['height']) - max(y, 0) <= 0):
                report.dropped['outside their image (mmdet skips them)'] += 1
            elif ann.get('area', 1) <= 0 or w < 1 or h < 1:
                report.dropped['narrower or lower than 1 px, or with area <= 0 (mmdet skips them)'] += 1
            elif ann['category_id'] not in self.cat_ids:
                cat = ann['category_id']
                report.unknown[report.file_categories.get(cat, f'category_id {cat} (not a listed category)')] += 1
            elif ann.get('iscrowd', False):
                report.ignored['iscrowd=1 (the COCO convention: ignored in training and evaluation)'] += 1

    def report_lines(self):
        """The mixin's lines, and the ``classes`` that do not match the file's categories: names it does not
        have (no box can get those labels), or another order (the labels follow the file's order)."""
        lines = super().report_lines()
        file_classes = self.load_report.file_classes
        if file_classes is None:
            return lines
        classes = list(self.metainfo['classes'])
        missing = [c for c in classes if c not in file_classes]
        if missing and self.classes_from_config:
            lines.append((logging.WARNING, f'the classes {names(missing)} are not categories of this file (its '
                          f'categories: {names(file_classes, 8)}): no box gets their labels; spell them as the file '
                          'does'))
        present = [c for c in classes if c in file_classes]
        in_file_order = [c for c in file_classes if c in classes]
        if present != in_file_order:
            lines.append((logging.WARNING, f'the labels follow the order of the categories in this file, '
                          f'{names(in_file_order, 8)}, not that of metainfo classes {names(present, 8)}; the '
                          'evaluation would name the classes wrongly: list the classes in the order of the file'))
        return lines
