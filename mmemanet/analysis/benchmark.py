"""Throughput and peak-memory benchmark of models, measured side by side in one run.

What is measured, per model (a preset of :mod:`mmemanet.analysis.presets` or a config file):

- ``inference``: ``model.eval()`` forward under ``torch.inference_mode``;
  ``train``: ``model.train()`` forward + cross-entropy (a classifier; the mean of the outputs for a
  bare backbone) + backward + ``SGD(momentum=0.9, weight_decay=5e-4)`` step.
  Detectors (a detector preset or an mmdet config) run on a fixed batch of synthetic uint8 images with
  synthetic boxes (default 2 x 3 x 512 x 512 on CPU, 2 x 3 x 800 x 1333 on CUDA): ``train`` is mmengine's
  ``train_step`` (data preprocessor + losses + backward + ``SGD(momentum=0.9, weight_decay=1e-4)`` step),
  ``inference`` its ``test_step`` (data preprocessor + ``mode='predict'``, boxes after NMS).
- Throughput: after ``warmup`` steps, ``repeats`` rounds; in every round each model runs ``iters`` steps
  and is timed (``torch.cuda.synchronize`` around the timer on CUDA). The models take turns within a
  round (round robin, the order rotated every round), so a slow drift of the machine hits all of them
  alike. Reported: the median images/s over the rounds and, for each model, its ratio to the baseline
  computed PER ROUND (paired) -- median and min..max of those ratios, the spread to quote on a noisy
  machine. Also the process CPU time of every timed round (all threads) and the median paired ratio of
  it: on a machine shared with other jobs, the CPU-time ratio with ``threads=1`` is far less disturbed
  than the wall-clock one (time slices lost to other processes are not counted).
- Peak memory, each model in a fresh subprocess (so models and allocator caches do not mix), over
  building the model and ``warmup + iters`` steps; the subprocesses are forked from one server process
  that has imported torch, mmengine and the codebases once (``forkserver``; ``spawn`` where it does not
  exist), so a model's process starts without re-importing them and holds nothing of another model:
  ``peak MiB``, the peak of the bytes held by live tensors (weights, gradients, optimizer state,
  activations, workspaces) above what was held before the model was built: on CUDA
  ``torch.cuda.max_memory_allocated()``, on CPU the same figure computed from the allocation and free
  events that ``torch.profiler`` records with ``profile_memory=True`` (in a second run, after the RSS one);
  ``RSS MiB`` (CPU only): the peak resident set size of the process (``VmHWM``, the kernel's high-water
  mark) minus the resident size before the model was built -- the tensors plus what the C allocator
  keeps: glibc serves blocks up to 32 MiB from its heap and keeps freed ones, so this figure depends on
  the order and sizes of allocations as much as on what is needed (``MALLOC_MMAP_THRESHOLD_=131072`` in
  the environment makes it follow the tensors).
- ``amp``: ``torch.autocast`` with float16 on CUDA (plus a ``GradScaler`` in training) and bfloat16 on CPU.
- ``onnxruntime`` (CPU fp32 inference, classifiers and backbones): each model is also exported to ONNX
  (:mod:`mmemanet.analysis.onnx_export`) and run by onnxruntime on the same batch, with as many intra-op
  threads as torch uses, as one more row ``<model>@onnxruntime`` that takes its turns in the round robin.
  Its outputs are checked against PyTorch first (the export tool's tolerance); it has no memory figures.
"""
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from multiprocessing import get_all_start_methods, get_context
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..utils.torch_compat import grad_scaler
from .build import BuiltModel, build_target
from .detection_batch import synthetic_detection_batch
from .onnx_export import EXPORT_ATOL, EXPORT_RTOL, compare_outputs, export_onnx, exportable, output_names, torch_outputs

MODES = ('inference', 'train')
PRECISIONS = ('fp32', 'amp')
DEVICES = ('cpu', 'cuda')
CLASSIFIER_BATCH = 32
DETECTOR_BATCH = 2
DETECTOR_INPUT_SIZE = {'cpu': (512, 512), 'cuda': (800, 1333)}  # (H, W)


@dataclass(frozen=True)
class BenchSettings:
    """One benchmark table: every model runs with these settings."""
    mode: str = 'inference'
    precision: str = 'fp32'
    device: str = 'cpu'
    batch_size: Optional[int] = None  # None: each model's default (see default_input_shape)
    input_size: Optional[Tuple[int, int]] = None  # None: each model's default (see default_input_shape)
    channels_last: bool = False
    compile: bool = False
    warmup: int = 2
    repeats: int = 5
    iters: int = 1
    onnxruntime: bool = False

    def __post_init__(self):
        for name, value, valid in (('mode', self.mode, MODES), ('precision', self.precision, PRECISIONS),
                                   ('device', self.device, DEVICES)):
            if value not in valid:
                raise ValueError(f'{name}={value!r}; valid values are {list(valid)}')
        for name in ('batch_size', 'repeats', 'iters'):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f'{name}={getattr(self, name)} must be >= 1')
        if self.warmup < 0:
            raise ValueError(f'warmup={self.warmup} must be >= 0')
        if self.device == 'cuda' and not torch.cuda.is_available():
            raise ValueError('device=cuda but torch.cuda.is_available() is False; use device=cpu')
        if self.onnxruntime and (self.mode, self.precision, self.device, self.channels_last, self.compile) != (
                'inference', 'fp32', 'cpu', False, False):
            raise ValueError(f'onnxruntime rows are CPU fp32 inference only; got mode={self.mode!r}, '
                             f'precision={self.precision!r}, device={self.device!r}, '
                             f'channels_last={self.channels_last}, compile={self.compile}')


@dataclass
class ModelResult:
    """One model's figures in one table."""
    name: str
    input_shape: List[int]
    params: int
    seconds: List[float]                       # wall clock per round, for ``iters`` steps
    cpu_seconds: List[float]                   # process CPU time (all threads) per round
    images_per_s: float = 0.0                  # median over the rounds
    ratio: Optional[float] = None              # median paired ratio to the baseline (throughput)
    ratio_min: Optional[float] = None
    ratio_max: Optional[float] = None
    cpu_ratio: Optional[float] = None          # median paired ratio of CPU time (baseline / model)
    peak_memory_mib: Optional[float] = None    # live tensors (see the module docstring)
    peak_resident_mib: Optional[float] = None  # CPU: resident set size
    last_loss: Optional[float] = None          # training only


@dataclass
class BenchTable:
    settings: BenchSettings
    baseline: str
    results: List[ModelResult] = field(default_factory=list)
    load_before: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: Tuple[float, float, float] = (0.0, 0.0, 0.0)


def default_input_shape(built: BuiltModel, settings: BenchSettings) -> Tuple[int, int, int, int]:
    """``[B, C, H, W]`` of the batch a model is timed on: ``settings``' batch size and input size where given,
    else a classifier's own input (CIFAR 32, ImageNet 224) at batch 32, and for a detector a batch of
    :data:`DETECTOR_BATCH` images of :data:`DETECTOR_INPUT_SIZE` for the device."""
    detector = built.kind == 'detector'
    batch = settings.batch_size or (DETECTOR_BATCH if detector else CLASSIFIER_BATCH)
    size = settings.input_size or (DETECTOR_INPUT_SIZE[settings.device] if detector else built.input_shape[1:])
    return batch, built.input_shape[0], *size


def _autocast(settings: BenchSettings):
    if settings.precision == 'fp32':
        return nullcontext()
    dtype = torch.float16 if settings.device == 'cuda' else torch.bfloat16
    return torch.autocast(settings.device, dtype=dtype)


def _sync(settings: BenchSettings) -> None:
    if settings.device == 'cuda':
        torch.cuda.synchronize()


def _time_steps(step: Callable[[], None], iters: int, settings: BenchSettings) -> Tuple[float, float]:
    """(wall-clock seconds, process CPU seconds) of ``iters`` calls of ``step`` (CUDA synchronised around)."""
    _sync(settings)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step()
    _sync(settings)
    return time.perf_counter() - start, time.process_time() - start_cpu


class ModelUnderTest:
    """A built model, its input batch and the step function for ``settings``.

    Classifiers and bare backbones take a random float batch; detectors a fixed synthetic batch
    (:func:`synthetic_detection_batch`) through their own data preprocessor, trained with mmengine's
    ``train_step`` (preprocessor + loss + backward + optimizer step) and run with ``test_step``
    (preprocessor + ``mode='predict'``).
    """

    def __init__(self, target: str, settings: BenchSettings, seed: int = 0):
        torch.manual_seed(seed)
        built = self.built = build_target(target)
        self.input_shape = list(default_input_shape(built, settings))
        model = built.model
        fmt = torch.channels_last if settings.channels_last else torch.contiguous_format
        self.name = target
        self.kind = built.kind
        self.params = sum(p.numel() for p in model.parameters())
        self.model = model.to(settings.device, memory_format=fmt)
        self.settings = settings
        self.last_loss = None  # training: the loss of the latest step (a NaN would make timings meaningless)
        if self.kind == 'detector':
            if settings.compile:  # train_step / test_step call the detector itself: compile its forward
                self.model.forward = torch.compile(self.model.forward)
            num_classes = next(m.num_classes for m in model.modules()
                               if isinstance(getattr(m, 'num_classes', None), int))
            self.inputs = synthetic_detection_batch(self.input_shape[0], self.input_shape[1:], num_classes, seed=seed)
            self.step = self._detector_train_step() if settings.mode == 'train' else self._detector_inference_step()
            return
        self.forward = torch.compile(self.model) if settings.compile else self.model
        self.inputs = torch.randn(self.input_shape, device=settings.device).contiguous(memory_format=fmt)
        self.step = self._train_step() if settings.mode == 'train' else self._inference_step()

    def _outputs(self):
        if self.kind == 'classifier':
            return self.forward(self.inputs, mode='tensor')  # logits [B, num_classes]
        return self.forward(self.inputs)

    def _inference_step(self) -> Callable[[], None]:
        self.model.eval()

        def step():
            with torch.inference_mode(), _autocast(self.settings):
                self._outputs()
        return step

    def _train_step(self) -> Callable[[], None]:
        self.model.train()
        settings = self.settings
        optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        scaler = grad_scaler('cuda') if settings.precision == 'amp' and settings.device == 'cuda' else None
        labels = None
        if self.kind == 'classifier':
            num_classes = self.model.head.num_classes
            labels = torch.randint(num_classes, (self.input_shape[0], ), device=settings.device)

        def step():
            with _autocast(settings):
                out = self._outputs()
                if labels is not None:
                    loss = F.cross_entropy(out.float(), labels)
                else:
                    loss = sum(o.float().mean() for o in out)
            optimizer.zero_grad(set_to_none=True)
            self.last_loss = loss.detach()
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        return step

    def _detector_inference_step(self) -> Callable[[], None]:
        self.model.eval()

        def step():
            with torch.inference_mode(), _autocast(self.settings):
                self.model.test_step(self.inputs)
        return step

    def _detector_train_step(self) -> Callable[[], None]:
        from mmengine.optim import AmpOptimWrapper, OptimWrapper
        self.model.train()
        settings = self.settings
        optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        # CUDA AMP: mmengine's AmpOptimWrapper (autocast float16 + GradScaler); it refuses the CPU, where the
        # step runs under bfloat16 autocast with a plain OptimWrapper instead
        cuda_amp = settings.precision == 'amp' and settings.device == 'cuda'
        wrapper = AmpOptimWrapper(optimizer=optimizer) if cuda_amp else OptimWrapper(optimizer)
        outer = nullcontext() if cuda_amp else _autocast(settings)

        def step():
            with outer:
                log_vars = self.model.train_step(self.inputs, wrapper)
            self.last_loss = torch.as_tensor(log_vars['loss']).detach()
        return step

    def timed(self, iters: int) -> Tuple[float, float]:
        """(wall-clock seconds, process CPU seconds) of ``iters`` steps."""
        return _time_steps(self.step, iters, self.settings)


class OnnxRuntimeUnderTest:
    """A model exported to ONNX and run by onnxruntime (CPU, ``threads`` intra-op threads) on the same
    input as its PyTorch twin: the row ``<target>@onnxruntime``. The export is checked against PyTorch
    (:data:`EXPORT_RTOL`, :data:`EXPORT_ATOL`) before anything is timed."""

    def __init__(self, twin: ModelUnderTest, threads: int):
        import onnxruntime
        if twin.kind == 'detector':
            raise ValueError(f'{twin.name}: the onnxruntime row takes classifiers and backbones, not detectors '
                             '(tools/deployment/export_onnx.py exports a detector\'s backbone)')
        self.name = f'{twin.name}@onnxruntime'
        self.kind, self.input_shape, self.params, self.last_loss = twin.kind, twin.input_shape, twin.params, None
        module = exportable(twin.built)
        expected = torch_outputs(module, twin.inputs)
        names = output_names(twin.built, len(expected))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'model.onnx')
            export_onnx(module, twin.inputs, path, names)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            self.session = onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        self.feed = {'input': twin.inputs.numpy()}
        self.settings = twin.settings
        compare_outputs(expected, self.session.run(None, self.feed), names, EXPORT_RTOL, EXPORT_ATOL)

    def step(self) -> None:
        self.session.run(None, self.feed)

    def timed(self, iters: int) -> Tuple[float, float]:
        """(wall-clock seconds, process CPU seconds) of ``iters`` runs."""
        return _time_steps(self.step, iters, self.settings)


def _resident_bytes(key: str) -> int:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process in bytes, from /proc/self/status."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{key} not found in /proc/self/status')


def _peak_live_bytes(prof) -> int:
    """The peak of allocated minus freed bytes over a ``torch.profiler`` run with ``profile_memory=True``."""
    # The raw allocation events are only reachable through ``prof.profiler.kineto_results``: the public
    # API aggregates them per operator (``key_averages``), which loses their order and so the peak.
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]' and e.device_type() == torch.autograd.DeviceType.CPU)
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def measure_peak_memory(target: str, settings: BenchSettings,
                        threads: Optional[int] = None) -> Tuple[float, Optional[float]]:
    """Peak memory of building ``target`` and running ``warmup + iters`` steps; meant for a fresh process.

    Returns ``(peak MiB of live tensors, peak resident MiB or None on CUDA)``; see the module docstring.
    """
    if threads:
        torch.set_num_threads(threads)
    steps = settings.warmup + settings.iters
    if settings.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        model = ModelUnderTest(target, settings)
        for _ in range(steps):
            model.step()
        _sync(settings)
        return (torch.cuda.max_memory_allocated() - base) / 2**20, None
    # two runs: the profiler's own records would count in the resident size, so that is read first
    base = _resident_bytes('VmRSS')
    model = ModelUnderTest(target, settings)
    for _ in range(steps):
        model.step()
    resident = _resident_bytes('VmHWM') - base
    del model
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        model = ModelUnderTest(target, settings)
        for _ in range(steps):
            model.step()
    return _peak_live_bytes(prof) / 2**20, resident / 2**20


def _fresh_process_context():
    """Fresh processes for the memory runs: forked from a server that imported the benchmark and the codebases
    once (it never builds a model), else spawned."""
    if 'forkserver' not in get_all_start_methods():
        return get_context('spawn')
    context = get_context('forkserver')
    context.set_forkserver_preload([__name__, 'mmdet.models', 'mmpretrain.models'])  # missing ones are skipped
    return context


def _memory_in_subprocesses(targets: Sequence[str], settings: BenchSettings,
                            threads: Optional[int]) -> Dict[str, Tuple[float, Optional[float]]]:
    peaks, context = {}, _fresh_process_context()
    for target in targets:  # one fresh process per model, one at a time
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            peaks[target] = pool.submit(measure_peak_memory, target, settings, threads).result()
    return peaks


def _paired_ratios(model: List[float], baseline: List[float]) -> List[float]:
    """Throughput ratio model / baseline in each round (time of baseline / time of model)."""
    return [b / m for m, b in zip(model, baseline)]


def run_table(targets: Sequence[str], settings: BenchSettings, baseline: Optional[str] = None,
              memory: bool = True, threads: Optional[int] = None,
              log: Callable[[str], None] = print) -> BenchTable:
    """Benchmark ``targets`` side by side (round robin) with ``settings``; ``baseline`` defaults to the first."""
    targets = list(dict.fromkeys(targets))
    baseline = baseline or targets[0]
    if baseline not in targets:
        raise ValueError(f'baseline {baseline!r} is not one of the measured models {targets}')
    table = BenchTable(settings, baseline, load_before=os.getloadavg())
    models = []
    for target in targets:
        log(f'building {target}')
        models.append(ModelUnderTest(target, settings))
        if settings.onnxruntime:
            log(f'exporting {target} to ONNX and checking it with onnxruntime')
            models.append(OnnxRuntimeUnderTest(models[-1], threads or torch.get_num_threads()))
    log(f'warm-up: {settings.warmup} step(s) each')
    for _ in range(settings.warmup):
        for m in models:
            m.step()
    seconds = {m.name: [] for m in models}
    cpu_seconds = {m.name: [] for m in models}
    for r in range(settings.repeats):
        shift = r % len(models)
        for m in models[shift:] + models[:shift]:
            wall, cpu = m.timed(settings.iters)
            seconds[m.name].append(wall)
            cpu_seconds[m.name].append(cpu)
        log(f'round {r + 1}/{settings.repeats}: ' +
            ', '.join(f'{name} {s[-1]:.2f}s' for name, s in seconds.items()))
    table.load_after = os.getloadavg()
    peaks = _memory_in_subprocesses(targets, settings, threads) if memory else {}
    for m in models:
        secs = seconds[m.name]
        ratios = _paired_ratios(secs, seconds[baseline])
        tensors, resident = peaks.get(m.name, (None, None))
        table.results.append(ModelResult(
            m.name, m.input_shape, m.params, secs, cpu_seconds[m.name],
            images_per_s=m.input_shape[0] * settings.iters / statistics.median(secs),
            ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
            cpu_ratio=statistics.median(_paired_ratios(cpu_seconds[m.name], cpu_seconds[baseline])),
            peak_memory_mib=tensors, peak_resident_mib=resident,
            last_loss=None if m.last_loss is None else float(m.last_loss)))
        if m.last_loss is not None and not torch.isfinite(m.last_loss):
            log(f'WARNING: {m.name} reached a non-finite loss; its timings are not representative')
    return table


def hardware_info() -> Dict[str, object]:
    """CPU model, cores, torch threads, GPU, versions, load average."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    info = dict(cpu=cpu, logical_cores=os.cpu_count(),
                usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
                torch_threads=torch.get_num_threads(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
                torch=torch.__version__, python=platform.python_version(), gpu=None)
    if torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def format_table(table: BenchTable) -> str:
    """The table as text, one line per model, ratios to the baseline with their spread over the rounds."""
    s = table.settings
    head = (f'mode={s.mode} precision={s.precision} device={s.device} '
            f'channels_last={s.channels_last} compile={s.compile} warmup={s.warmup} repeats={s.repeats} '
            f'iters={s.iters}; baseline={table.baseline}; load average before '
            f'{table.load_before[0]:.2f}, after {table.load_after[0]:.2f}')
    name_w = max(len(r.name) for r in table.results) + 2
    cols = f'{"model":{name_w}s} {"input":>14s} {"params":>12s} {"img/s":>9s} {"ratio":>7s} {"min..max":>13s} ' \
           f'{"cpu ratio":>9s} {"peak MiB":>9s} {"RSS MiB":>8s}'
    lines = [head, cols, '-' * len(cols)]
    for r in table.results:
        mem = ' '.join(f'{v:{w}.0f}' if v is not None else f'{"-":>{w}s}'
                       for v, w in ((r.peak_memory_mib, 9), (r.peak_resident_mib, 8)))
        lines.append(f'{r.name:{name_w}s} {"x".join(map(str, r.input_shape)):>14s} {r.params:>12,d} '
                     f'{r.images_per_s:9.2f} {r.ratio:7.3f} {f"{r.ratio_min:.2f}..{r.ratio_max:.2f}":>13s} '
                     f'{r.cpu_ratio:9.3f} {mem}')
    if any(r.peak_memory_mib is not None for r in table.results):
        lines.append('peak MiB: live tensors at their peak (CUDA max_memory_allocated; CPU: profiler allocation '
                     'events); RSS MiB: peak resident set size, CPU only (includes what the C allocator keeps)')
    return '\n'.join(lines)


def table_to_dict(table: BenchTable) -> dict:
    return asdict(table)
