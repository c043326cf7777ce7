# Modelled on tools/visualization/vis_cam.py of MMPretrain 1.x (Apache-2.0, OpenMMLab).
"""Grad-CAM (or Grad-CAM++, ...) heatmaps of one or several classifiers on an image or a folder.

    python tools/analysis/vis_cam.py IMG_OR_DIR CONFIG CHECKPOINT [--compare CONFIG CHECKPOINT ...]
        [--labels NAME ...] [--method gradcam++] [--target-layers backbone.layer4]
        [--target-category 3] [--input-size 224] [--save-path cam.png] [--device cpu]

The CAMs come from the ``grad-cam`` package (``pytorch_grad_cam``), as in mmpretrain's tool; the
models are built and loaded with ``mmpretrain.apis.get_model``. Output: one PNG, a row per image
and a column per model after the image itself (EMCA's figure: image, ResNet-50, EMCA), and a
table of each model's predicted class and score.

- Target layer (``--target-layers``, module names as ``--preview-model`` prints them): by default
  the output of the backbone's last stage; for a backbone with EMCA gates, the last gate's output
  (the gated residual branch of the last stage).
- Input: the whole image with its short edge resized to ``--input-size`` (aspect ratio kept,
  nothing cropped), so the heatmap covers all of it; default: the test pipeline's crop size, or
  32 for the CIFAR configs. The model's own data preprocessor normalises it. Images read from
  files are BGR, as ``LoadImageFromFile`` gives them; for configs whose test pipeline reads no
  file (CIFAR, kept in memory as RGB) the image is passed as RGB.
- The heatmap (values 0..1) is resized back to the image's size and laid over it.
"""
import argparse
import os
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence

import cv2
import matplotlib

matplotlib.use('Agg')  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import pytorch_grad_cam as cam_lib  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmpretrain.apis import get_model  # noqa: E402
from pytorch_grad_cam.utils.image import show_cam_on_image  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

import mmemanet  # noqa: E402,F401  (registers the modules; safe checkpoint loading)
from mmemanet.checkpoints import check_state_dict_fits, load_model_state  # noqa: E402
from mmemanet.models.layers import EMCA  # noqa: E402

# the CAM methods that compute from activations and gradients of the target layers
METHODS = {
    'gradcam': cam_lib.GradCAM,
    'gradcam++': cam_lib.GradCAMPlusPlus,
    'xgradcam': cam_lib.XGradCAM,
    'hirescam': cam_lib.HiResCAM,
    'layercam': cam_lib.LayerCAM,
    'eigengradcam': cam_lib.EigenGradCAM,
}
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
CIFAR_SIZE = 32


class Classifier(NamedTuple):
    """A loaded classifier, the modules whose outputs the CAM explains, and how to feed it."""
    label: str
    model: torch.nn.Module
    target_layers: List[str]
    targets: List[torch.nn.Module]
    input_size: int
    bgr: bool  # True: the model's pipeline reads image files (BGR); False: in-memory RGB arrays


class Cam(NamedTuple):
    """One model's result on one image: heatmap ``[H, W]`` in 0..1 at the image's size, class, score."""
    heatmap: np.ndarray
    category: int
    score: float


def image_paths(img: str) -> List[str]:
    """``img`` itself, or the images of the folder ``img`` in name order."""
    if osp.isdir(img):
        paths = sorted(osp.join(img, f) for f in os.listdir(img) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise FileNotFoundError(f'{img!r} holds no image ({", ".join(IMAGE_EXTENSIONS)})')
        return paths
    if not osp.isfile(img):
        raise FileNotFoundError(f'{img!r} is neither an image file nor a folder')
    return [img]


def pipeline_input(cfg: Config, input_size: Optional[int] = None):
    """(short-edge size, reads BGR files): ``input_size`` or what the config's test pipeline implies."""
    pipeline = cfg.test_dataloader.dataset.get('pipeline', [])
    types = {t['type']: t for t in pipeline}
    reads_files = any(name.startswith('LoadImage') for name in types)
    if input_size is not None:
        return input_size, reads_files
    for name, key in (('CenterCrop', 'crop_size'), ('ResizeEdge', 'scale'), ('Resize', 'scale')):
        if name in types:
            size = types[name][key]
            return (min(size) if isinstance(size, (tuple, list)) else size), reads_files
    if 'CIFAR' in cfg.test_dataloader.dataset.type:
        return CIFAR_SIZE, reads_files
    raise ValueError(f'the test pipeline {[t["type"] for t in pipeline]} gives no input size: '
                     'pass --input-size')


def default_target_layers(model: torch.nn.Module) -> List[str]:
    """The last EMCA gate of the backbone if it has any, else the backbone's last stage."""
    backbone = model.backbone
    gates = [name for name, m in backbone.named_modules() if isinstance(m, EMCA)]
    if gates:
        return [f'backbone.{gates[-1]}']
    if hasattr(backbone, 'res_layers'):
        return [f'backbone.{backbone.res_layers[-1]}']
    raise ValueError(f'no default target layer for the backbone {type(backbone).__name__}: '
                     'pass --target-layers (names from --preview-model)')


def load_classifier(config: str, checkpoint: str, label: str, target_layers: Sequence[str] = (),
                    input_size: Optional[int] = None, cfg_options=None, device: str = 'cpu') -> Classifier:
    """Build and load an mmpretrain classifier (a checkpoint of another architecture stops with the
    mismatching keys); resolve its target layers and input size."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('default_scope') != 'mmpretrain':
        raise ValueError(f'{config!r} has default_scope={cfg.get("default_scope")!r}; Grad-CAM here needs '
                         "a classifier config (default_scope='mmpretrain')")
    model = get_model(cfg, checkpoint, device=device)
    check_state_dict_fits(model.state_dict(), load_model_state(checkpoint), source=checkpoint)
    names = dict(model.named_modules())
    layers = list(target_layers) or default_target_layers(model)
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(f'--target-layers {unknown} not in {config!r}; e.g. '
                         f'{[n for n in names if n.startswith("backbone.layer")][-3:]} (see --preview-model)')
    size, bgr = pipeline_input(cfg, input_size)
    targets = [names[name] for name in layers]
    return Classifier(label, model, layers, targets, size, bgr)


def model_input(classifier: Classifier, image_bgr: np.ndarray) -> torch.Tensor:
    """The image as the model's data preprocessor makes it: ``[1, 3, h, w]`` (short edge ``input_size``)."""
    h, w = image_bgr.shape[:2]
    scale = classifier.input_size / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = mmcv.imresize(image_bgr, size, interpolation='area' if scale < 1 else 'bilinear')
    if not classifier.bgr:
        resized = mmcv.bgr2rgb(resized)
    inputs = torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1)))
    return classifier.model.data_preprocessor(dict(inputs=[inputs]), False)['inputs']


def compute_cam(classifier: Classifier, image_bgr: np.ndarray, method: str = 'gradcam',
                category: Optional[int] = None) -> Cam:
    """The CAM of ``category`` (default: the predicted class) at the image's size, values 0..1."""
    model = classifier.model
    inputs = model_input(classifier, image_bgr)
    with torch.no_grad():
        scores = model(inputs).softmax(dim=-1)[0]
    if category is None:
        category = int(scores.argmax())
    elif not 0 <= category < scores.numel():
        raise ValueError(f'--target-category {category}: the model has {scores.numel()} classes (0..'
                         f'{scores.numel() - 1})')
    with METHODS[method](model=model, target_layers=classifier.targets) as cam:
        grayscale = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(category)])[0]
    h, w = image_bgr.shape[:2]
    heatmap = cv2.resize(grayscale.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return Cam(heatmap, category, float(scores[category]))


def class_name(model: torch.nn.Module, category: int) -> str:
    """The dataset's name of ``category`` (from the checkpoint's meta), else its index."""
    classes = getattr(model, '_dataset_meta', {}).get('classes')  # set by mmpretrain's get_model
    return str(classes[category]) if classes and category < len(classes) else str(category)


def draw(paths: Sequence[str], classifiers: Sequence[Classifier], cams: Sequence[Sequence[Cam]],
         method: str, out_file: str):
    """The grid: a row per image, columns image | one overlay per model; saves ``out_file``."""
    cols = 1 + len(classifiers)
    fig, axes = plt.subplots(len(paths), cols, figsize=(2.6 * cols, 2.8 * len(paths)), squeeze=False)
    for row, path in enumerate(paths):
        rgb = mmcv.bgr2rgb(mmcv.imread(path)).astype(np.float32) / 255
        axes[row][0].imshow(rgb)
        axes[row][0].set_title(osp.basename(path), fontsize=8)
        for col, (classifier, result) in enumerate(zip(classifiers, cams[row]), start=1):
            axes[row][col].imshow(show_cam_on_image(rgb, result.heatmap, use_rgb=True))
            axes[row][col].set_title(f'{classifier.label}\n{class_name(classifier.model, result.category)} '
                                     f'{result.score:.2f}', fontsize=8)
    for ax in axes.flat:
        ax.axis('off')
    fig.suptitle({'gradcam': 'Grad-CAM', 'gradcam++': 'Grad-CAM++'}.get(method, method), fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    return fig


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Grad-CAM heatmaps of classifiers (image or folder)')
    parser.add_argument('img', help='image file, or a folder of images')
    parser.add_argument('config', help='classifier config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--compare', nargs=2, action='append', default=[], metavar=('CONFIG', 'CHECKPOINT'),
                        help='another classifier, drawn in the next column (repeatable)')
    parser.add_argument('--labels', nargs='+', help='a column title per model (default: config names)')
    parser.add_argument('--method', default='gradcam', type=str.lower, choices=sorted(METHODS),
                        help='CAM method (default: gradcam)')
    parser.add_argument('--target-layers', nargs='+', default=[],
                        help='module names for every model (default: last EMCA gate or last stage)')
    parser.add_argument('--target-category', type=int,
                        help='class index to explain (default: each model\'s predicted class)')
    parser.add_argument('--input-size', type=int, help='short edge of the model input in pixels '
                        '(default: the test pipeline\'s crop size; 32 for CIFAR configs)')
    parser.add_argument('--preview-model', action='store_true', help='print the module names and stop')
    parser.add_argument('--save-path', default='cam.png', help='the PNG to write (default: cam.png)')
    parser.add_argument('--device', default='cpu', help='device to run on (default: cpu)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every config, key=value (as tools/train.py)')
    args = parser.parse_args(argv)
    models = 1 + len(args.compare)
    if args.labels is not None and len(args.labels) != models:
        parser.error(f'--labels has {len(args.labels)} names for {models} models')
    if args.input_size is not None and args.input_size < 1:
        parser.error(f'--input-size {args.input_size}: give a positive number of pixels')
    return args


def main(argv=None):
    args = parse_args(argv)
    pairs = [(args.config, args.checkpoint), *map(tuple, args.compare)]
    labels = args.labels or [osp.splitext(osp.basename(config))[0] for config, _ in pairs]
    paths = image_paths(args.img)
    classifiers = [load_classifier(config, checkpoint, label, args.target_layers, args.input_size,
                                   args.cfg_options, args.device)
                   for (config, checkpoint), label in zip(pairs, labels)]
    if args.preview_model:
        for classifier in classifiers:
            print(classifier.label, classifier.model)
        return None
    cams = []
    print(f'{"image":<28} {"model":<28} {"target layer":<24} {"class":>12} {"score":>6}')
    for path in paths:
        image = mmcv.imread(path)
        row = [compute_cam(c, image, args.method, args.target_category) for c in classifiers]
        for classifier, result in zip(classifiers, row):
            print(f'{osp.basename(path):<28} {classifier.label:<28} {",".join(classifier.target_layers):<24} '
                  f'{class_name(classifier.model, result.category):>12} {result.score:>6.3f}')
        cams.append(row)
    draw(paths, classifiers, cams, args.method, args.save_path)
    print(f'heatmaps: {args.save_path}')
    return cams


if __name__ == '__main__':
    main()
