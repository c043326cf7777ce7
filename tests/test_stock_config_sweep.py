"""Every stock config shipped inside the installed mmdet 3.3 and mmpretrain 1.2 whose backbone is a ResNet
takes this package's backbones when only the backbone's ``type`` changes (a drop-in swap, as people write it:
``model = dict(backbone=dict(type='EMCAResNet', host='eca'))``, no ``_delete_``).

The sweep walks ``<package>/.mim/configs`` (every ``.py`` outside ``_base_``), keeps the configs whose resolved
``model.backbone.type`` is mmdet's ``ResNet`` (mmpretrain: ``ResNet``, ``ResNetV1c``, ``ResNetV1d``,
``ResNet_CIFAR``), and swaps the type to ``EMCAResNet`` (+ ``host='eca'``) and to ``EMANet``. Many configs
differ only in data, schedule or test settings: they are grouped by their distinct setting (detector or
classifier type, backbone, neck and heads, see :func:`setting_key`) and each distinct model is built once, in
its codebase's scope. A deterministic sample of the settings (every ``LOSS_EVERY``-th, sorted) also
computes its losses on a small batch (mmdet's ``demo_mm_inputs`` / random images through the model's own data
preprocessor). Settings a swap cannot support fail with the backbone's one-line error; ``UNSUPPORTED`` says
which (by backbone option) and why. Stock configs that do not build here with the stock backbone either
(missing optional packages, stock config bugs) are in ``STOCK_FAILURES``.

The sweep is the suite's largest part, so it is made cheap without changing what it asserts: the configs
are loaded once per test session (shared by the pytest-xdist workers); the build test constructs on the
``meta`` device (no weights are allocated or initialised), each distinct swapped backbone once (see
:class:`SharedBackbones`), and confirms every failure by building the setting again on the CPU without
sharing, so a failure and its message are always those of a plain build; the loss sample runs on the CPU,
initialised as a Runner does (``init_weights()``, downloaded starts dropped), on ``LOSS_SIDE``-pixel demo
images unpadded by fixed-size batch augments (see :func:`detector_loss`), with the training RoI counts capped
(:func:`with_fewer_rois`). Each config file is parsed once per session (:func:`each_file_parsed_once`).

Each test prints its counts (also without ``-s``):
``.venv/bin/python -m pytest tests/test_stock_config_sweep.py -q`` is the way to see them.
"""
import contextlib
import copy
import glob
import json
import os
import os.path as osp
import pickle
import re
import time
from typing import Callable, Dict, List, NamedTuple

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

import mmemanet  # noqa: F401  (registers the backbones in both codebases)

from tool_runs import once_per_session

SWAPS = {'emca_eca': dict(type='EMCAResNet', host='eca'), 'emanet': dict(type='EMANet')}
RESNETS = {'mmdet': ('ResNet', ), 'mmpretrain': ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNet_CIFAR')}
LOSS_EVERY = {'mmdet': 10, 'mmpretrain': 2}
LOSS_PARTS = 2  # the loss sample runs as this many tests (every LOSS_PARTS-th sampled setting each)
LOSS_SIDE = 96  # the loss sample's image side: whether a loss is finite does not depend on it
# the loss sample's caps on the training-time RoI and proposal counts of train_cfg (which setting_key leaves
# out): RoI heads on 512 sampled RoIs per image cost ~2-10 s a model on the CPU, whatever the backbone
LOSS_TRAIN_CAPS = {'num': 16, 'max_per_img': 32, 'max_num': 32, 'nms_pre': 64}


class Unsupported(NamedTuple):
    """Stock settings a swap cannot support: which (``applies`` to the stock backbone config), the backbone's
    one-line error (regex) and why."""
    swap: str
    applies: Callable[[dict], bool]
    error: str
    reason: str


def _dcn_stages(backbone: dict) -> bool:
    return bool(backbone.get('dcn')) and any(backbone.get('stage_with_dcn', (True, ) * 4))


UNSUPPORTED = [
    Unsupported('emanet', _dcn_stages,
                r"^ValueError: dcn=\{.*\} cannot combine with mixer type 'MixtureAttention' \(the mixer replaces the "
                r'3x3 conv that dcn would deform\)',
                'the MA module takes the place of the 3x3 convolution that DCN deforms'),
    Unsupported('emanet', lambda backbone: any(d != 1 for d in backbone.get('dilations', (1, ))),
                r"^ValueError: dilation=\d+ is not supported by mixer type 'MixtureAttention'",
                "MA's branch kernels are the published, undilated ones"),
]
# Stock configs that do not build in this environment with the stock backbone either ((codebase, config
# path regex) -> why). For them the swapped build must fail with exactly the stock build's error: the backbone,
# built before the part that fails, is not what stops them.
STOCK_FAILURES = {
    ('mmdet', r'^boxinst/'): 'BoxInst needs scikit-image, which is not in the pinned stack',
    ('mmdet', r'^grounding_dino/'): 'Grounding DINO needs fairscale (and a BERT model from the Hugging Face hub)',
    ('mmdet', r'^cascade_rpn/cascade-rpn_r50-caffe_fpn_1x_coco\.py$'):
        'mmdet 3.3.0 config bug: its CascadeRPNHead lacks the num_classes argument',
    ('mmpretrain', r'^resnet/resnet50_8xb32-cutmix_in1k\.py$'):
        "mmpretrain 1.2.0 config bug: it names 'BatchCutMix', registered as 'CutMix'",
}


class Setting(NamedTuple):
    """A distinct model setting: the configs that share it (sorted) and the first one's resolved config."""
    configs: List[str]
    cfg: Config


def config_root(codebase: str) -> str:
    package = __import__(codebase)
    return osp.join(osp.dirname(package.__file__), '.mim', 'configs')


def setting_key(model: ConfigDict) -> str:
    """What decides how the swapped backbone is built and used: the whole model config except the
    backbone's start (``init_cfg`` / ``pretrained``) and the ``train_cfg`` / ``test_cfg`` thresholds."""
    model = copy.deepcopy(model.to_dict())
    model['backbone'].pop('init_cfg', None)
    model['backbone'].pop('pretrained', None)
    model.pop('train_cfg', None)
    model.pop('test_cfg', None)
    return json.dumps(model, sort_keys=True, default=repr)


class Sweep(NamedTuple):
    """The stock configs of one codebase: how many, which failed to load, the ResNet ones and their settings."""
    total: int
    unloadable: Dict[str, str]
    resnet: List[str]
    settings: Dict[str, Setting]
    load_s: float


@contextlib.contextmanager
def each_file_parsed_once():
    """Within the block, mmengine's own parser (``Config._file2dict``) reads each config file once: its result
    is kept per (file, options) and every later read, a ``_base_`` shared by hundreds of configs above all,
    gets a deep copy of it (no config sees another's edits). Loading the stock configs is ~3x faster; every
    loaded config is the same."""
    parse = Config.__dict__['_file2dict']
    parsed = {}

    def file2dict_once(filename, *args, **kwargs):
        key = (osp.abspath(osp.expanduser(filename)), args, tuple(sorted(kwargs.items())))
        if key not in parsed:
            parsed[key] = parse.__func__(filename, *args, **kwargs)
        return copy.deepcopy(parsed[key])

    Config._file2dict = staticmethod(file2dict_once)
    try:
        yield
    finally:
        Config._file2dict = parse


def collect(codebase: str) -> Sweep:
    root = config_root(codebase)
    start = time.time()
    paths = sorted(p for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
                   if '_base_' not in osp.relpath(p, root).split(os.sep))
    unloadable, resnet, settings = {}, [], {}
    with each_file_parsed_once():
        for path in paths:
            name = osp.relpath(path, root)
            try:
                cfg = Config.fromfile(path, import_custom_modules=False)
            except Exception as e:  # a stock config this installation cannot load at all
                unloadable[name] = f'{type(e).__name__}: {e}'.splitlines()[0]
                continue
            backbone = cfg.get('model', {}).get('backbone') if isinstance(cfg.get('model'), dict) else None
            if not (isinstance(backbone, dict) and backbone.get('type') in RESNETS[codebase]):
                continue
            resnet.append(name)
            key = setting_key(cfg.model)
            if key in settings:
                settings[key].configs.append(name)
            else:
                settings[key] = Setting([name], cfg)
    return Sweep(len(paths), unloadable, resnet, settings, time.time() - start)


@pytest.fixture(scope='module', params=[
    # one xdist worker takes a codebase's sweep (the other need not wait for its configs to load); slow:
    # the sweep is left to the full suite, but mmpretrain's configs are found in the fast subset too
    pytest.param('mmdet', marks=[pytest.mark.slow, pytest.mark.xdist_group('sweep_mmdet')]),
    pytest.param('mmpretrain', marks=pytest.mark.xdist_group('sweep_mmpretrain'))])
def sweep(request, tmp_path_factory):
    """``(codebase, Sweep)``: the stock configs loaded once per test session (the xdist workers share them)."""
    codebase = request.param

    def make(folder):
        with open(folder / 'sweep.pkl', 'wb') as f:
            pickle.dump(collect(codebase), f)

    with open(once_per_session(f'sweep_{codebase}', tmp_path_factory, make) / 'sweep.pkl', 'rb') as f:
        return codebase, pickle.load(f)


def runnable_here(model: ConfigDict, codebase: str) -> ConfigDict:
    """``model`` as it builds outside an mmdet checkout and offline: the distillation detectors (LD, LAD)
    build their teacher at construction from ``teacher_config`` (a path relative to the mmdet repository:
    here the package's ``.mim`` folder) and download ``teacher_ckpt`` (dropped: the teacher's weights do not
    matter to a build)."""
    model = copy.deepcopy(model)
    teacher = model.get('teacher_config')
    if isinstance(teacher, str) and not osp.isabs(teacher):
        model.teacher_config = osp.join(osp.dirname(config_root(codebase)), teacher)
    if model.get('teacher_ckpt') is not None:
        model.teacher_ckpt = None
    return model


def swapped_model(cfg: Config, swap: dict, codebase: str) -> ConfigDict:
    """``cfg.model`` with only the backbone's type changed (plus ``host`` for EMCA; ``swap={}``: the stock one),
    and the config's top-level ``data_preprocessor`` as the Runner passes it."""
    model = runnable_here(cfg.model, codebase)
    model.backbone.update(swap)
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return model


@pytest.fixture(scope='module', autouse=True)
def single_process_group(tmp_path_factory):
    """A one-process gloo group while the sweep runs: mmcv's ``MMSyncBN`` (the heads of the ``syncbn-all``
    configs) asks for the world size when it is built."""
    import torch.distributed as dist
    if dist.is_initialized():
        yield
        return
    store = tmp_path_factory.mktemp('process_group') / 'store'
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def without_downloads(node):
    """``node`` (a model config) with every start that is a download dropped: ``pretrained`` and the
    ``Pretrained`` entries of each ``init_cfg`` (the backbone's, a whole detector's, ...)."""
    if isinstance(node, list):
        return [without_downloads(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = type(node)()
    for key, value in node.items():
        if key == 'pretrained':
            continue
        if key == 'init_cfg':
            inits = [i for i in (value if isinstance(value, list) else [value])
                     if isinstance(i, dict) and i.get('type') != 'Pretrained']
            value = inits if isinstance(value, list) else (inits[0] if inits else None)
        out[key] = without_downloads(value)
    return out


def with_fewer_rois(train_cfg):
    """``train_cfg`` with each RoI / proposal count (a sampler's ``num``, ``max_per_img``, ``nms_pre``...)
    capped by ``LOSS_TRAIN_CAPS``: how many RoIs a head samples changes the cost, not whether the swapped
    backbone fits the detector."""
    if isinstance(train_cfg, list):
        return [with_fewer_rois(item) for item in train_cfg]
    if not isinstance(train_cfg, dict):
        return train_cfg
    return type(train_cfg)({
        key: min(value, LOSS_TRAIN_CAPS[key]) if key in LOSS_TRAIN_CAPS and type(value) is int
        else with_fewer_rois(value) for key, value in train_cfg.items()})


def initialised_here(cfg: Config, swap: str, codebase: str) -> ConfigDict:
    """The swapped model with its downloaded starts dropped (:func:`without_downloads`), so that
    ``init_weights()`` runs offline: stock parts such as Deformable DETR's ``level_embed``
    (``torch.Tensor(n, c)``) hold whatever memory they got until it runs, which made a loss NaN now and then.
    For the loss sample: its training RoI counts capped (:func:`with_fewer_rois`)."""
    model = without_downloads(swapped_model(cfg, SWAPS[swap], codebase))
    if 'train_cfg' in model:
        model.train_cfg = with_fewer_rois(model.train_cfg)
    return model


def scope(codebase: str, cfg: Config) -> str:
    """The codebase that builds ``cfg`` (mmpretrain ships mmdet configs for its detection benchmarks)."""
    return cfg.get('default_scope') or codebase


def registry_of(codebase: str):
    """The ``MODELS`` registry of ``codebase`` (``'mmdet'`` or ``'mmpretrain'``)."""
    return __import__(f'{codebase}.registry', fromlist=['MODELS']).MODELS


def build(codebase: str, cfg: Config, model: ConfigDict):
    """``model`` built by its codebase's registry in its scope (a copy: some detectors edit their config)."""
    if 'custom_imports' in cfg:
        import_modules_from_strings(**cfg.custom_imports)
    codebase = scope(codebase, cfg)
    with DefaultScope.overwrite_default_scope(codebase):
        return registry_of(codebase).build(copy.deepcopy(model))


class SharedBackbones:
    """The backbones of a sweep's builds, each distinct one constructed once.

    Hundreds of settings differ in their detector but share a handful of backbone configs, and constructing
    the backbone is most of a build. :meth:`build` gives the model's backbone a ``type`` that, called by the
    detector's build with the backbone's arguments, builds ``(type name, arguments)`` through the codebase's
    registry the first time and hands the same module (or raises the same error) to every later setting
    with equal arguments: construction is deterministic, so this is the module a plain build would make.
    """

    def __init__(self):
        self.built = {}

    def factory(self, codebase: str, type_name: str):
        def shared_backbone(**kwargs):
            key = (codebase, type_name, json.dumps(kwargs, sort_keys=True, default=repr))
            if key not in self.built:
                try:
                    self.built[key] = registry_of(codebase).build(dict(type=type_name, **copy.deepcopy(kwargs)))
                except Exception as e:
                    self.built[key] = e
            if isinstance(self.built[key], Exception):
                raise self.built[key]
            return self.built[key]
        return shared_backbone

    def build(self, codebase: str, cfg: Config, model: ConfigDict):
        """:func:`build` on the meta device with the shared backbone."""
        model = copy.deepcopy(model)
        model.backbone.type = self.factory(scope(codebase, cfg), model.backbone.type)
        with torch.device('meta'):
            return build(codebase, cfg, model)


def build_or_error(codebase: str, cfg: Config, model: ConfigDict, backbones: SharedBackbones):
    """``None`` when ``model`` builds, else the error text of a plain CPU build (``backbones`` builds first:
    on the meta device, sharing; a failure there is built again the plain way, whose outcome counts)."""
    try:
        backbones.build(codebase, cfg, model)
        return None
    except Exception:
        pass
    try:
        build(codebase, cfg, model)
        return None
    except Exception as e:
        return error_text(e)


def unsupported(swap: str, cfg: Config):
    """The :class:`Unsupported` entry that applies to ``cfg`` under ``swap``, or ``None``."""
    return next((u for u in UNSUPPORTED if u.swap == swap and u.applies(cfg.model.backbone)), None)


def stock_failure(codebase: str, name: str):
    """Why the stock config ``name`` does not build here with the stock backbone either, or ``None``."""
    return next((why for (cb, pattern), why in STOCK_FAILURES.items() if cb == codebase and re.search(pattern, name)),
                None)


def error_text(e: Exception) -> str:
    return f'{type(e).__name__}: {e}'


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f'\n[sweep] {line}')


def test_stock_resnet_configs_are_found(sweep, capsys):
    codebase, found = sweep
    report(capsys, f'{codebase}: {found.total} configs, {len(found.unloadable)} not loadable here, '
                   f'{len(found.resnet)} with a {"/".join(RESNETS[codebase])} backbone, '
                   f'{len(found.settings)} distinct settings (loaded in {found.load_s:.0f} s)')
    for name, why in sorted(found.unloadable.items()):
        report(capsys, f'  not loadable: {name}: {why}')
    assert len(found.resnet) >= {'mmdet': 400, 'mmpretrain': 30}[codebase]
    assert sum(len(s.configs) for s in found.settings.values()) == len(found.resnet)


@pytest.mark.slow
@pytest.mark.parametrize('swap', sorted(SWAPS))
def test_every_stock_resnet_config_builds_with_only_the_type_swapped(sweep, swap, capsys):
    codebase, found = sweep
    settings_by_name = {setting.configs[0]: setting for setting in found.settings.values()}
    start, failures, built, unexpected, backbones = time.time(), {}, 0, [], SharedBackbones()
    for key in sorted(found.settings):
        setting = found.settings[key]
        name = setting.configs[0]
        error = build_or_error(codebase, setting.cfg, swapped_model(setting.cfg, SWAPS[swap], codebase), backbones)
        if error is None:
            built += 1
        else:
            failures[name] = (len(setting.configs), error)
        if stock_failure(codebase, name):  # must fail as the stock backbone does
            stock_error = build_or_error(codebase, setting.cfg, swapped_model(setting.cfg, {}, codebase), backbones)
            if stock_error is None:
                unexpected.append(f'{name}: listed in STOCK_FAILURES but builds with the stock backbone')
            elif error != stock_error:
                unexpected.append(f'{name}: {error or "built"!r} != stock {stock_error!r}')
    configs_built = len(found.resnet) - sum(count for count, _ in failures.values())
    report(capsys, f'{codebase} -> {swap}: {built}/{len(found.settings)} distinct settings built '
                   f'({configs_built}/{len(found.resnet)} configs) '
                   f'in {time.time() - start:.0f} s')
    for name, (count, message) in sorted(failures.items()):
        why = stock_failure(codebase, name)
        expected = unsupported(swap, settings_by_name[name].cfg)
        report(capsys, f'  failed ({count} configs): {name}: ' + (
            f'as with the stock backbone ({why})' if why else
            f'unsupported ({expected.reason}): {message}' if expected else message[:300]))
        if why is None and (expected is None or '\n' in message or not re.search(expected.error, message)):
            unexpected.append(f'{name}: {message[:300]}')
    for name, setting in sorted(settings_by_name.items()):
        if unsupported(swap, setting.cfg) and name not in failures:
            unexpected.append(f'{name}: built, but UNSUPPORTED says it cannot')
    assert not unexpected, '\n'.join(unexpected)


def detector_loss(model, cfg):
    """Losses of a detector on mmdet's ``demo_mm_inputs`` (two ``LOSS_SIDE`` x ``LOSS_SIDE`` images with boxes;
    masks and a semantic map when the model learns them; the boxes as proposals for a Fast R-CNN) through the
    model's data preprocessor. A ``BatchFixedSizePad`` batch augment (the LSJ configs' 1024 x 1024, crop-640
    configs) pads to the demo images' own size: the zeros it would add change the cost (~20 s of a
    50-layer forward on the CPU), not whether the swapped backbone fits the detector."""
    from mmdet.models.data_preprocessors import BatchFixedSizePad
    from mmdet.testing import demo_mm_inputs
    from mmengine.structures import InstanceData
    for augment in getattr(model.data_preprocessor, 'batch_augments', None) or []:
        if isinstance(augment, BatchFixedSizePad):
            augment.size = (LOSS_SIDE, LOSS_SIDE)
    text = json.dumps(cfg.model.to_dict(), default=repr)
    classes = [int(n) for n in re.findall(r'"num_classes": (\d+)', text)] or [80]
    data = demo_mm_inputs(2, image_shapes=[(3, LOSS_SIDE, LOSS_SIDE)] * 2, num_classes=max(2, min(classes)),
                          with_mask='mask' in text, with_semantic='semantic' in text or 'panoptic' in text)
    if cfg.model.type == 'FastRCNN':
        for sample in data['data_samples']:
            boxes = sample.gt_instances.bboxes
            sample.proposals = InstanceData(bboxes=boxes, scores=torch.ones(len(boxes)))
    data = model.data_preprocessor(data, True)
    return model(**data, mode='loss')


def classifier_loss(model, cfg):
    """Losses of a classifier on two random images (32 x 32 for a CIFAR config, else 64 x 64) through the
    model's data preprocessor."""
    from mmpretrain.structures import DataSample
    side = 32 if 'cifar' in json.dumps(cfg.get('train_dataloader', {}), default=repr).lower() else 64
    gen = torch.Generator().manual_seed(0)
    data = dict(inputs=[torch.randint(0, 256, (3, side, side), generator=gen, dtype=torch.uint8) for _ in range(2)],
                data_samples=[DataSample().set_gt_label(i) for i in range(2)])
    data = model.data_preprocessor(data, True)
    return model(**data, mode='loss')


def has_loss_batch(codebase: str, cfg: Config) -> bool:
    """Whether the loss sample can feed this model: every detector, and mmpretrain's ``ImageClassifier``
    (the self-supervised algorithms need multi-view batches of their own pipelines)."""
    return scope(codebase, cfg) == 'mmdet' or cfg.model.type == 'ImageClassifier'


@pytest.mark.slow
@pytest.mark.parametrize('part', range(LOSS_PARTS), ids=lambda part: f'part{part + 1}of{LOSS_PARTS}')
@pytest.mark.parametrize('swap', sorted(SWAPS))
def test_a_sample_of_the_swapped_models_computes_finite_losses(sweep, swap, part, capsys):
    codebase, found = sweep
    keys = sorted(key for key, setting in found.settings.items() if has_loss_batch(codebase, setting.cfg))
    keys = keys[::LOSS_EVERY[codebase]][part::LOSS_PARTS]
    start, failures = time.time(), []
    for key in keys:
        setting = found.settings[key]
        name = setting.configs[0]
        if unsupported(swap, setting.cfg) or stock_failure(codebase, name):
            continue
        torch.manual_seed(0)
        # SyncBatchNorm runs on GPUs only: as BatchNorm (mmengine's conversion for CPU inference)
        model = revert_sync_batchnorm(build(codebase, setting.cfg, initialised_here(setting.cfg, swap, codebase)))
        model.train()
        try:
            model.init_weights()  # as the Runner does: some stock parts are uninitialised memory until then
            loss = detector_loss if scope(codebase, setting.cfg) == 'mmdet' else classifier_loss
            losses = loss(model, setting.cfg)
            total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                        for k, v in losses.items() if 'loss' in k)
            if not torch.isfinite(total):
                failures.append(f'{name}: non-finite loss {total}')
        except Exception as e:
            failures.append(f'{name}: {type(e).__name__}: {str(e)[:300]}')
    report(capsys, f'{codebase} -> {swap}: losses of {len(keys) - len(failures)}/{len(keys)} sampled settings '
                   f'(part {part + 1} of {LOSS_PARTS} of every {LOSS_EVERY[codebase]}th classifier / detector '
                   f'setting) in {time.time() - start:.0f} s')
    assert not failures, '\n'.join(failures)
