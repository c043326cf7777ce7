"""Synthetic but learnable datasets, written in the REAL on-disk formats.

Three writers, each deterministic for a given seed and needing nothing but numpy and Pillow:

- :func:`write_cifar10`: ``cifar-10-batches-py/`` with ``data_batch_1`` ... ``data_batch_5``,
  ``test_batch`` and ``batches.meta``, pickled exactly like the official Python-2 files
  (protocol 2, keys and strings as Python 2 ``str``): ``pickle.load(f, encoding='bytes')`` gives
  ``b'data'`` (uint8, ``[N, 3072]``, channel-major RGB) and ``b'labels'``, and
  ``encoding='latin1'`` (what mmpretrain and torchvision use) gives ``'data'`` / ``'labels'``.
  Class ``k`` is shape ``CIFAR_SHAPES[k % 5]`` in the colour family ``CIFAR_COLOURS[k // 5]``
  (random hue inside the family, random size, position and rotation) on a noisy textured
  background, so a small CNN learns it in minutes on a CPU.
- :func:`write_voc`: ``VOCdevkit/VOC2007/`` and ``VOCdevkit/VOC2012/`` (the VOC0712 layout of
  the stock mmdet configs) with ``JPEGImages/*.jpg``, ``Annotations/*.xml`` (size,
  object/name/pose/truncated/difficult/bndbox, 1-based inclusive pixel boxes) and
  ``ImageSets/Main/{trainval,train,val[,test]}.txt``.
- :func:`write_coco`: ``train2017/``, ``val2017/`` and ``annotations/instances_{train,val}2017.json``
  with ``bbox`` (xywh), ``area`` (polygon area), ``iscrowd=0``, a polygon ``segmentation`` and
  all 80 COCO ``categories``.

and, for a dataset of one's own (the recipes of ``configs/custom/``), writers of given annotations:

- :func:`write_voc_folder`: one VOC-format folder (``JPEGImages/``, ``Annotations/``,
  ``ImageSets/Main/<split>.txt``) of the given images and objects, any class names, ``difficult`` flags.
- :func:`write_coco_files`: ``<split>/*.jpg`` and ``annotations/<split>.json`` of the given images and
  objects, with the given categories.
- :func:`write_image_folder`: ``<split>/<class>/*.jpg``, the class-per-folder layout of mmpretrain's
  ``CustomDataset``.

Detection images hold 1-3 non-overlapping shapes (so polygon masks are exact) of at least
``MIN_OBJECT_SIZE`` pixels, which keeps them clear of the stock mmdet VOC filter
(``bbox_min_size=32``). The detection classes (:data:`DET_CLASSES`) carry names that exist in
both the VOC and the COCO vocabularies, so the stock ``VOCDataset`` / ``CocoDataset`` class lists
pick them up unchanged.
"""
import colorsys
import json
import math
import os
import os.path as osp
import pickle
import struct
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

# ----------------------------------------------------------------------------------------------
# Classes
# ----------------------------------------------------------------------------------------------
CIFAR10_LABEL_NAMES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                       'ship', 'truck')
CIFAR_SHAPES = ('circle', 'square', 'triangle', 'cross', 'ring')
# hue ranges (fractions of the colour wheel) of the two colour families
CIFAR_COLOURS = {'warm': (-0.06, 0.14), 'cool': (0.45, 0.72)}

# name -> (shape, hue); names valid in the VOC and the COCO vocabularies alike
DET_CLASSES = {
    'person': ('circle', 0.00),
    'car': ('rectangle', 0.62),
    'bird': ('triangle', 0.33),
    'bottle': ('cross', 0.15),
}
# The 80 COCO categories (id order). The COCO files list them all, like a subset of the real COCO
# would, so the stock 80-class CocoDataset / CocoMetric map every predicted label to a category id.
COCO_CATEGORY_NAMES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush')
COCO_CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69,
                                                               71, 83))
# first category id of each COCO supercategory
COCO_SUPERCATEGORIES = ((1, 'person'), (2, 'vehicle'), (10, 'outdoor'), (16, 'animal'),
                        (27, 'accessory'), (34, 'sports'), (44, 'kitchen'), (52, 'food'),
                        (62, 'furniture'), (72, 'electronic'), (78, 'appliance'), (84, 'indoor'))
MIN_OBJECT_SIZE = 36

DEFAULT_SIZES = {
    'cifar': (2000, 500),  # train, test
    'voc': (120, 40),  # VOC2007 trainval (+ as many VOC2012 trainval), VOC2007 test
    'coco': (120, 40),  # train2017, val2017
}


def cifar_class_description() -> List[str]:
    """Human-readable meaning of the 10 synthetic CIFAR classes, in label order."""
    colours = list(CIFAR_COLOURS)
    return [f'{k}: {colours[k // 5]} {CIFAR_SHAPES[k % 5]}' for k in range(10)]


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] of shape (h, w, 3): a coarse random grid, bicubic-upsampled."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    grid = rng.uniform(0, 255, size=(gh, gw, 3)).astype(np.uint8)
    big = Image.fromarray(grid).resize((w, h), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 127.5 - 1.0


def textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A dull, noisy, textured background (float32 RGB in [0, 255])."""
    base_hue = rng.uniform(0, 1)
    base = np.array(colorsys.hsv_to_rgb(base_hue, rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.7)),
                    dtype=np.float32) * 255
    img = np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    img = img + 35 * _smooth_noise(rng, h, w, cell=max(4, min(h, w) // 4))
    img = img + 15 * _smooth_noise(rng, h, w, cell=2)
    # stripes of a random orientation and period
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(3, max(4, min(h, w) / 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period
                     + rng.uniform(0, 2 * math.pi))
    img = img + rng.uniform(5, 20) * stripes[..., None]
    return img


def _finish(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    img = img + rng.normal(0, sigma, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _colour(rng: np.random.Generator, hue_lo: float, hue_hi: float) -> Tuple[int, int, int]:
    hue = rng.uniform(hue_lo, hue_hi) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def shape_polygon(shape: str, cx: float, cy: float, radius: float, angle: float,
                  aspect: float = 1.0) -> List[Tuple[float, float]]:
    """Vertices of ``shape`` centred at (cx, cy) with circumradius ``radius``, rotated by ``angle``."""
    if shape == 'circle':
        pts = [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    elif shape in ('square', 'rectangle'):
        a = math.sqrt(0.5)
        pts = [(-a * aspect, -a), (a * aspect, -a), (a * aspect, a), (-a * aspect, a)]
    elif shape == 'triangle':
        pts = [(math.cos(t), math.sin(t)) for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif shape == 'cross':
        a, b = 1.0, 0.33
        pts = [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b),
               (-a, b), (-a, -b), (-b, -b)]
    else:
        raise ValueError(f'unknown shape {shape!r}')
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + radius * (x * c - y * s), cy + radius * (x * s + y * c)) for x, y in pts]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, radius: float,
                angle: float, fill: Tuple[int, int, int], aspect: float = 1.0) -> List[float]:
    """Draw ``shape`` filled; return its polygon as a flat [x0, y0, x1, y1, ...] list."""
    if shape == 'ring':
        width = max(2, int(round(radius * 0.4)))
        box = [cx - radius, cy - radius, cx + radius, cy + radius]
        draw.ellipse(box, outline=fill, width=width)
        return []
    poly = shape_polygon(shape, cx, cy, radius, angle, aspect)
    draw.polygon(poly, fill=fill)
    return [round(v, 2) for xy in poly for v in xy]


# ----------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# ----------------------------------------------------------------------------------------------
def cifar_image(rng: np.random.Generator, label: int, size: int = 32) -> np.ndarray:
    """One ``size`` x ``size`` RGB uint8 image of class ``label`` (see the module docstring)."""
    shape = CIFAR_SHAPES[label % 5]
    hue_lo, hue_hi = list(CIFAR_COLOURS.values())[label // 5]
    img = Image.fromarray(_finish(textured_background(rng, size, size), rng, 4))
    draw = ImageDraw.Draw(img)
    radius = rng.uniform(0.24, 0.38) * size
    margin = radius + 1
    cx, cy = rng.uniform(margin, size - margin, size=2)
    _draw_shape(draw, shape, cx, cy, radius, rng.uniform(0, 2 * math.pi), _colour(rng, hue_lo, hue_hi))
    return _finish(np.asarray(img, dtype=np.float32), rng, 6)


class _Py2Str(bytes):
    """A Python 2 ``str``: pickled with the (SHORT_)BINSTRING opcode like the official files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us choose opcodes per type
    """Pickle protocol 2 the way Python 2 wrote the official CIFAR files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', n) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str

    def save_global(self, obj, name=None):
        if obj is _reconstruct:  # the name old and new numpy both resolve
            self.write(pickle.GLOBAL + b'numpy.core.multiarray\n_reconstruct\n')
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            obj = np.ascontiguousarray(obj)
            state = (1, obj.shape, obj.dtype, False, _Py2Str(obj.tobytes()))
            return _reconstruct, (np.ndarray, (0, ), _Py2Str(b'b')), state
        return NotImplemented


def _py2(obj):
    """Turn every str (keys included) into a Python 2 str, recursively."""
    if isinstance(obj, str):
        return _Py2Str(obj.encode('latin1'))
    if isinstance(obj, dict):
        return {_py2(k): _py2(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_py2(v) for v in obj)
    return obj


def dump_py2_pickle(obj, path: str) -> None:
    """Write ``obj`` like Python 2's ``cPickle.dump(obj, f, 2)`` wrote the CIFAR batches."""
    with open(path, 'wb') as f:
        _Py2Pickler(f, protocol=2).dump(_py2(obj))


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    return labels


def write_cifar10(out_dir: str, num_train: int = 2000, num_test: int = 500, seed: int = 0,
                  num_batches: int = 5) -> Dict[str, object]:
    """Write ``out_dir/cifar-10-batches-py`` (point ``data_root`` of a CIFAR10 dataset at ``out_dir``).

    Returns a summary dict (folder, files, counts).
    """
    rng = np.random.default_rng([seed, 10])
    folder = osp.join(out_dir, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)
    files = []

    def make(n: int, tag: str):
        labels = _balanced_labels(rng, n, 10)
        data = np.empty((n, 3072), dtype=np.uint8)
        for i, label in enumerate(labels):
            data[i] = cifar_image(rng, int(label)).transpose(2, 0, 1).reshape(-1)
        names = [f'synthetic_{tag}_{i:05d}.png' for i in range(n)]
        return data, [int(v) for v in labels], names

    data, labels, names = make(num_train, 'train')
    bounds = np.linspace(0, num_train, num_batches + 1).astype(int)
    for b in range(num_batches):
        lo, hi = bounds[b], bounds[b + 1]
        path = osp.join(folder, f'data_batch_{b + 1}')
        dump_py2_pickle({'batch_label': f'training batch {b + 1} of {num_batches}',
                         'labels': labels[lo:hi], 'data': data[lo:hi], 'filenames': names[lo:hi]}, path)
        files.append(path)
    data, labels, names = make(num_test, 'test')
    path = osp.join(folder, 'test_batch')
    dump_py2_pickle({'batch_label': 'testing batch 1 of 1', 'labels': labels, 'data': data,
                     'filenames': names}, path)
    files.append(path)
    path = osp.join(folder, 'batches.meta')
    dump_py2_pickle({'num_cases_per_batch': int(bounds[1] - bounds[0]),
                     'label_names': list(CIFAR10_LABEL_NAMES), 'num_vis': 3072}, path)
    files.append(path)
    return dict(kind='cifar', root=out_dir, folder=folder, files=files, num_train=num_train,
                num_test=num_test, classes=cifar_class_description())


# ----------------------------------------------------------------------------------------------
# Detection scenes (shared by VOC and COCO)
# ----------------------------------------------------------------------------------------------
def detection_scene(rng: np.random.Generator, size_range: Sequence[int] = (160, 224),
                    max_objects: int = 3) -> Tuple[np.ndarray, List[dict]]:
    """An image with 1..max_objects non-overlapping coloured shapes of the DET_CLASSES.

    Returns the RGB uint8 image and a list of objects, each with ``name``, ``bbox``
    (x0, y0, x1, y1 in continuous pixel coordinates) and ``polygon`` (flat list).
    """
    w, h = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
    img = Image.fromarray(_finish(textured_background(rng, h, w), rng, 3))
    draw = ImageDraw.Draw(img)
    names = list(DET_CLASSES)
    objects: List[dict] = []
    boxes: List[Tuple[float, float, float, float]] = []
    target = int(rng.integers(1, max_objects + 1))
    max_radius = max(MIN_OBJECT_SIZE * 0.75, min(w, h) * 0.3)
    for _ in range(50 * target):
        if len(objects) == target:
            break
        name = names[int(rng.integers(len(names)))]
        shape, hue = DET_CLASSES[name][:2]
        radius = rng.uniform(MIN_OBJECT_SIZE * 0.72, max_radius)
        aspect = rng.uniform(1.3, 1.9) if shape == 'rectangle' else 1.0
        angle = (rng.uniform(-0.25, 0.25) if shape in ('rectangle', 'triangle')
                 else rng.uniform(0, 2 * math.pi))
        radius_x = radius * aspect
        if 2 * radius_x + 4 > w or 2 * radius + 4 > h:
            continue
        cx = rng.uniform(radius_x + 2, w - radius_x - 2)
        cy = rng.uniform(radius + 2, h - radius - 2)
        poly = shape_polygon(shape, cx, cy, radius, angle, aspect)
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        box = (max(0.0, min(xs)), max(0.0, min(ys)), min(w - 1.0, max(xs)), min(h - 1.0, max(ys)))
        if box[2] - box[0] < MIN_OBJECT_SIZE or box[3] - box[1] < MIN_OBJECT_SIZE:
            continue
        if any(box[0] < b[2] + 3 and b[0] < box[2] + 3 and box[1] < b[3] + 3 and b[1] < box[3] + 3
               for b in boxes):
            continue
        flat = _draw_shape(draw, shape, cx, cy, radius, angle, _colour(rng, hue - 0.04, hue + 0.04),
                           aspect)
        boxes.append(box)
        objects.append(dict(name=name, bbox=box, polygon=flat))
    return _finish(np.asarray(img, dtype=np.float32), rng, 4), objects


def coco_categories() -> List[dict]:
    """The 80 COCO ``categories`` entries (id, name, supercategory)."""
    categories = []
    for cat_id, name in zip(COCO_CATEGORY_IDS, COCO_CATEGORY_NAMES):
        supercategory = [sup for first, sup in COCO_SUPERCATEGORIES if first <= cat_id][-1]
        categories.append(dict(id=cat_id, name=name, supercategory=supercategory))
    return categories


def _polygon_area(flat: Sequence[float]) -> float:
    xs, ys = np.asarray(flat[0::2]), np.asarray(flat[1::2])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))


def _save_jpeg(img: np.ndarray, path: str) -> None:
    Image.fromarray(img).save(path, quality=95)


def _voc_xml(image_id: str, w: int, h: int, objects: List[dict]) -> str:
    lines = ['<annotation>', '\t<folder>VOC2007</folder>', f'\t<filename>{image_id}.jpg</filename>',
             '\t<source>', '\t\t<database>mmemanet synthetic shapes</database>', '\t</source>',
             '\t<size>', f'\t\t<width>{w}</width>', f'\t\t<height>{h}</height>',
             '\t\t<depth>3</depth>', '\t</size>', '\t<segmented>0</segmented>']
    for obj in objects:
        x0, y0, x1, y1 = obj['bbox']
        # VOC boxes are 1-based and inclusive: the first and last pixel covered, plus one
        xmin, ymin = int(math.floor(x0)) + 1, int(math.floor(y0)) + 1
        xmax, ymax = int(math.ceil(x1)) + 1, int(math.ceil(y1)) + 1
        xmax, ymax = min(xmax, w), min(ymax, h)
        lines += ['\t<object>', f"\t\t<name>{obj['name']}</name>", '\t\t<pose>Unspecified</pose>',
                  '\t\t<truncated>0</truncated>', f"\t\t<difficult>{obj.get('difficult', 0)}</difficult>",
                  '\t\t<bndbox>',
                  f'\t\t\t<xmin>{xmin}</xmin>', f'\t\t\t<ymin>{ymin}</ymin>',
                  f'\t\t\t<xmax>{xmax}</xmax>', f'\t\t\t<ymax>{ymax}</ymax>', '\t\t</bndbox>',
                  '\t</object>']
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


def _write_voc_year(root: str, ids: Sequence[str], splits: Dict[str, Sequence[str]],
                    rng: np.random.Generator, size_range: Sequence[int], max_objects: int,
                    counts: Dict[str, int]) -> None:
    """One ``VOC<year>`` folder: an image + XML per id and ``ImageSets/Main/<split>.txt``."""
    dirs = {k: osp.join(root, *k.split('/')) for k in ('JPEGImages', 'Annotations', 'ImageSets/Main')}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    for image_id in ids:
        img, objects = detection_scene(rng, size_range, max_objects)
        _save_jpeg(img, osp.join(dirs['JPEGImages'], f'{image_id}.jpg'))
        with open(osp.join(dirs['Annotations'], f'{image_id}.xml'), 'w') as f:
            f.write(_voc_xml(image_id, img.shape[1], img.shape[0], objects))
        for obj in objects:
            counts[obj['name']] += 1
    for split, split_ids in splits.items():
        with open(osp.join(dirs['ImageSets/Main'], f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{i}\n' for i in split_ids))


def write_voc(out_dir: str, num_trainval: int = 120, num_test: int = 40, seed: int = 0,
              size_range: Sequence[int] = (160, 224), max_objects: int = 3,
              num_trainval_2012: Optional[int] = None) -> Dict[str, object]:
    """Write ``out_dir/VOCdevkit/{VOC2007,VOC2012}`` (use ``data_root=out_dir/VOCdevkit/``).

    The layout of the VOC0712 configs: VOC2007 with ``trainval`` (``num_trainval`` images, split
    in half into ``train`` / ``val``) and ``test`` (``num_test``), and VOC2012 with ``trainval``
    only (``num_trainval_2012`` images, default ``num_trainval``).
    """
    rng = np.random.default_rng([seed, 2007])
    root = osp.join(out_dir, 'VOCdevkit')
    counts = {name: 0 for name in DET_CLASSES}
    ids = [f'{i + 1:06d}' for i in range(num_trainval + num_test)]
    _write_voc_year(osp.join(root, 'VOC2007'), ids, {
        'trainval': ids[:num_trainval], 'train': ids[:num_trainval // 2],
        'val': ids[num_trainval // 2:num_trainval], 'test': ids[num_trainval:]
    }, rng, size_range, max_objects, counts)
    n_2012 = num_trainval if num_trainval_2012 is None else num_trainval_2012
    ids = [f'2012_{i + 1:06d}' for i in range(n_2012)]
    _write_voc_year(osp.join(root, 'VOC2012'), ids, {
        'trainval': ids, 'train': ids[:n_2012 // 2], 'val': ids[n_2012 // 2:]
    }, rng, size_range, max_objects, counts)
    return dict(kind='voc', root=root, num_trainval=num_trainval, num_test=num_test,
                num_trainval_2012=n_2012, objects=counts, classes=list(DET_CLASSES))


def write_coco(out_dir: str, num_train: int = 120, num_val: int = 40, seed: int = 0,
               size_range: Sequence[int] = (160, 224), max_objects: int = 3) -> Dict[str, object]:
    """Write ``out_dir/{train2017,val2017}`` and ``out_dir/annotations/instances_*2017.json``."""
    rng = np.random.default_rng([seed, 2017])
    categories = coco_categories()
    cat_ids = {c['name']: c['id'] for c in categories}
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    files = []
    image_id = ann_id = 0
    summary: Dict[str, object] = dict(kind='coco', root=out_dir, classes=list(DET_CLASSES))
    for split, n in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for _ in range(n):
            image_id += 1
            img, objects = detection_scene(rng, size_range, max_objects)
            file_name = f'{image_id:012d}.jpg'
            _save_jpeg(img, osp.join(out_dir, split, file_name))
            images.append(dict(id=image_id, file_name=file_name, width=int(img.shape[1]),
                               height=int(img.shape[0])))
            for obj in objects:
                ann_id += 1
                x0, y0, x1, y1 = obj['bbox']
                annotations.append(dict(
                    id=ann_id, image_id=image_id, category_id=cat_ids[obj['name']],
                    bbox=[round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    area=round(_polygon_area(obj['polygon']), 2), iscrowd=0,
                    segmentation=[obj['polygon']]))
        path = osp.join(out_dir, 'annotations', f'instances_{split}.json')
        with open(path, 'w') as f:
            json.dump(dict(info=dict(description=f'mmemanet synthetic shapes ({split})',
                                     version='1.0', year=2017),
                           licenses=[], images=images, annotations=annotations,
                           categories=categories), f)
        files.append(path)
        summary[split] = dict(images=len(images), annotations=len(annotations))
    summary['files'] = files
    return summary


KINDS = ('cifar', 'voc', 'coco')


def write_small_datasets(out_dir: str, kinds: Sequence[str] = KINDS, seed: int = 0,
                         sizes: Optional[Dict[str, Tuple[int, int]]] = None,
                         det_size_range: Sequence[int] = (160, 224)) -> List[dict]:
    """Write the requested kinds under ``out_dir/{cifar10,VOCdevkit,coco}``; return summaries.

    ``sizes`` maps a kind to its two image counts (see :data:`DEFAULT_SIZES`);
    ``det_size_range`` bounds the width and height of the detection images.
    """
    unknown = [kind for kind in list(kinds) + list(sizes or {}) if kind not in KINDS]
    if unknown:
        raise ValueError(f'unknown dataset kind(s) {unknown}; valid kinds are {list(KINDS)}')
    sizes = dict(DEFAULT_SIZES, **(sizes or {}))
    results = []
    for kind in kinds:
        n_a, n_b = sizes[kind]
        if kind == 'cifar':
            results.append(write_cifar10(osp.join(out_dir, 'cifar10'), n_a, n_b, seed))
        elif kind == 'voc':
            results.append(write_voc(out_dir, n_a, n_b, seed, det_size_range))
        else:
            results.append(write_coco(osp.join(out_dir, 'coco'), n_a, n_b, seed, det_size_range))
    return results


# ----------------------------------------------------------------------------------------------
# A dataset of one's own: given annotations, any class names
# ----------------------------------------------------------------------------------------------
def _class_hue(name: str) -> float:
    """A hue of its own for each class name (deterministic)."""
    return (sum((i + 1) * ord(c) for i, c in enumerate(name)) * 0.618034) % 1.0


def object_image(rng: np.random.Generator, size: Sequence[int], objects: Sequence[dict]) -> np.ndarray:
    """A ``size`` = (w, h) textured image with each object drawn as a filled box of its class's colour
    (``bbox`` x0, y0, x1, y1 in continuous pixel coordinates)."""
    w, h = size
    img = Image.fromarray(_finish(textured_background(rng, h, w), rng, 3))
    draw = ImageDraw.Draw(img)
    for obj in objects:
        hue = _class_hue(obj['name'])
        draw.rectangle(list(obj['bbox']), fill=_colour(rng, hue - 0.03, hue + 0.03))
    return _finish(np.asarray(img, dtype=np.float32), rng, 3)


def write_voc_folder(root: str, images: Dict[str, dict], splits: Dict[str, Sequence[str]],
                     seed: int = 0) -> Dict[str, object]:
    """Write one VOC-format folder (the layout of one VOC year, e.g. ``VOC2007/``) at ``root``.

    Args:
        images: image id -> ``dict(size=(w, h), objects=[dict(name=..., bbox=(x0, y0, x1, y1),
            difficult=0 or 1), ...])``, boxes in continuous pixel coordinates (written 1-based inclusive).
        splits: split name -> image ids (``ImageSets/Main/<split>.txt``).

    Point a VOC dataset at it with ``data_root=root``, ``ann_file='ImageSets/Main/<split>.txt'``,
    ``data_prefix=dict(sub_data_root='')``.
    """
    rng = np.random.default_rng([seed, 7])
    dirs = {k: osp.join(root, *k.split('/')) for k in ('JPEGImages', 'Annotations', 'ImageSets/Main')}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    counts: Dict[str, int] = {}
    for image_id, info in images.items():
        w, h = info['size']
        _save_jpeg(object_image(rng, (w, h), info['objects']), osp.join(dirs['JPEGImages'], f'{image_id}.jpg'))
        with open(osp.join(dirs['Annotations'], f'{image_id}.xml'), 'w') as f:
            f.write(_voc_xml(image_id, w, h, info['objects']))
        for obj in info['objects']:
            counts[obj['name']] = counts.get(obj['name'], 0) + 1
    for split, ids in splits.items():
        with open(osp.join(dirs['ImageSets/Main'], f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{i}\n' for i in ids))
    return dict(kind='voc_folder', root=root, images=len(images), objects=counts, splits=dict(splits))


def write_coco_files(root: str, splits: Dict[str, Dict[str, dict]], categories: Sequence[str],
                     seed: int = 0) -> Dict[str, object]:
    """Write ``root/<split>/*.jpg`` and ``root/annotations/<split>.json`` in the COCO format.

    Args:
        splits: split name -> (file name -> ``dict(size=(w, h), objects=[dict(name=..., bbox=(x0, y0, x1, y1),
            iscrowd=0 or 1), ...])``); ``bbox`` is written as COCO's ``[x, y, w, h]``, ``area`` as w * h.
        categories: the category names (ids 1, 2, ...); an object whose name is not among them gets the
            next free id, without a ``categories`` entry.
    """
    rng = np.random.default_rng([seed, 8])
    cat_ids = {name: i + 1 for i, name in enumerate(categories)}
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    image_id = ann_id = 0
    files = []
    for split, images in splits.items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        image_list, annotations = [], []
        for file_name, info in images.items():
            image_id += 1
            w, h = info['size']
            _save_jpeg(object_image(rng, (w, h), info['objects']), osp.join(root, split, file_name))
            image_list.append(dict(id=image_id, file_name=file_name, width=w, height=h))
            for obj in info['objects']:
                ann_id += 1
                x0, y0, x1, y1 = obj['bbox']
                cat = cat_ids.setdefault(obj['name'], len(cat_ids) + 1)
                annotations.append(dict(id=ann_id, image_id=image_id, category_id=cat,
                                        bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0),
                                        iscrowd=obj.get('iscrowd', 0)))
        path = osp.join(root, 'annotations', f'{split}.json')
        with open(path, 'w') as f:
            json.dump(dict(images=image_list, annotations=annotations,
                           categories=[dict(id=i + 1, name=n) for i, n in enumerate(categories)]), f)
        files.append(path)
    return dict(kind='coco_files', root=root, files=files)


def write_image_folder(root: str, splits: Dict[str, Dict[str, int]], size: int = 32,
                       seed: int = 0) -> Dict[str, object]:
    """Write ``root/<split>/<class>/<class>_<i>.jpg``: ``splits`` maps a split to (class name -> image count).
    The k-th class (sorted names, the label order of mmpretrain's ``CustomDataset``) shows the k-th shape of
    the synthetic CIFAR classes."""
    rng = np.random.default_rng([seed, 9])
    for split, classes in splits.items():
        for label, name in enumerate(sorted(classes)):
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(classes[name]):
                _save_jpeg(cifar_image(rng, label % 10, size), osp.join(folder, f'{name}_{i:04d}.jpg'))
    return dict(kind='image_folder', root=root, splits={k: dict(v) for k, v in splits.items()})
