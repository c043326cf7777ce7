"""The benchmark tool reports what it says it does: tables with paired ratios, peak memory, JSON. It is run
on tiny settings here; no timing is asserted (speed figures come from running the tool, see the README). The
command-line tool runs in this process (its ``main()``); its peak-memory measurements run in fresh processes
of their own, as always."""
import json
import math
import statistics

import pytest
import torch

from mmemanet.analysis.benchmark import BenchSettings, _peak_live_bytes, format_table, run_table

from tool_runs import run_in_process


def test_peak_live_bytes_follows_allocations_and_frees():
    """Freed tensors stop counting: 4 MiB then (after freeing it) 8 MiB peak at 8 MiB, not 12."""
    mib = 2**20
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        a = torch.ones(mib)  # 4 MiB of float32
        del a
        b = torch.ones(2 * mib)
        c = b + 1  # 8 + 8 MiB live together
        del b, c
    assert 16 * mib <= _peak_live_bytes(prof) < 16 * mib + 4096  # (+ a few bytes of small tensors)


def test_run_table_pairs_every_round_with_the_baseline():
    settings = BenchSettings(mode='inference', batch_size=2, input_size=(32, 32), warmup=1, repeats=3)
    table = run_table(['resnet18', 'emca_eca_resnet18'], settings, baseline='resnet18', memory=False,
                      log=lambda msg: None)
    base, emca = table.results
    assert base.ratio == base.ratio_min == base.ratio_max == 1.0
    assert len(emca.seconds) == len(emca.cpu_seconds) == 3
    paired = sorted(b / m for m, b in zip(emca.seconds, base.seconds))
    assert emca.ratio == paired[1] and emca.ratio_min == paired[0] and emca.ratio_max == paired[2]
    assert emca.images_per_s == 2 / sorted(emca.seconds)[1]
    text = format_table(table)
    assert 'baseline=resnet18' in text and 'emca_eca_resnet18' in text


@pytest.mark.slow
def test_onnxruntime_rows_take_turns_with_their_pytorch_twins():
    """``onnxruntime=True`` adds ``<model>@onnxruntime`` after each model (exported, checked against PyTorch,
    then timed in the same rounds, ratios to the same baseline); it has no memory figures."""
    settings = BenchSettings(mode='inference', batch_size=2, input_size=(32, 32), warmup=1, repeats=2,
                             onnxruntime=True)
    table = run_table(['resnet18', 'emca_eca_resnet18'], settings, memory=False, log=lambda msg: None)
    names = [r.name for r in table.results]
    assert names == ['resnet18', 'resnet18@onnxruntime', 'emca_eca_resnet18', 'emca_eca_resnet18@onnxruntime']
    base, ort, emca, emca_ort = table.results
    assert ort.params == base.params and emca_ort.params == emca.params
    assert ort.input_shape == base.input_shape == [2, 3, 32, 32]
    assert len(ort.seconds) == 2 and ort.ratio == statistics.median(b / m for m, b in zip(ort.seconds, base.seconds))
    assert ort.peak_memory_mib is None and 'resnet18@onnxruntime' in format_table(table)


@pytest.mark.parametrize('settings', [dict(mode='train'), dict(precision='amp'), dict(channels_last=True)])
def test_onnxruntime_rows_refuse_other_than_cpu_fp32_inference(settings):
    with pytest.raises(ValueError, match='onnxruntime rows are CPU fp32 inference only'):
        BenchSettings(onnxruntime=True, **settings)


@pytest.mark.slow
def test_command_line_tool_trains_measures_memory_and_writes_json(tmp_path):
    out = tmp_path / 'bench.json'
    output = run_in_process('analysis/benchmark', [
        'cifar_emanet50', 'cifar_emanet50_reference_impl', '--modes', 'train', '--batch-size', '2',
        '--input-size', '16', '16', '--warmup', '1', '--repeats', '1', '--threads', '1', '--json', out])
    assert 'hardware: cpu=' in output and 'peak MiB' in output
    report = json.loads(out.read_text())
    (table, ) = report['tables']
    assert table['settings']['mode'] == 'train' and table['baseline'] == 'cifar_emanet50'
    fused, reference = table['results']
    assert fused['params'] == reference['params'] == 21_191_061
    for r in (fused, reference):
        assert r['input_shape'] == [2, 3, 16, 16]
        assert math.isfinite(r['last_loss'])
        # weights, gradients and momentum alone are 3 x 81 MiB; the RSS includes them and more
        assert 3 * r['params'] * 4 / 2**20 < r['peak_memory_mib'] < r['peak_resident_mib']


@pytest.mark.slow
def test_detectors_train_and_infer_on_a_synthetic_batch():
    """Detector presets (mmdet's Faster R-CNN R-50 FPN, backbone swapped): mmengine's train_step on a fixed
    synthetic batch gives a finite loss, test_step runs; the default batch is 2 images."""
    for mode in ('train', 'inference'):
        settings = BenchSettings(mode=mode, input_size=(96, 128), warmup=0, repeats=1)
        table = run_table(['faster_rcnn_r50', 'faster_rcnn_emca_eca50'], settings, memory=False, log=lambda msg: None)
        stock, emca = table.results
        assert stock.input_shape == emca.input_shape == [2, 3, 96, 128]
        assert emca.params > stock.params > 41_000_000  # the whole detector, not its backbone
        if mode == 'train':
            assert math.isfinite(stock.last_loss) and math.isfinite(emca.last_loss)
        assert 'faster_rcnn_emca_eca50' in format_table(table)


@pytest.mark.slow
def test_command_line_tool_measures_detector_memory(tmp_path):
    out = tmp_path / 'bench.json'
    run_in_process('analysis/benchmark', [
        'faster_rcnn_r50', 'faster_rcnn_emanet50', '--modes', 'inference', '--batch-size', '1',
        '--input-size', '64', '64', '--warmup', '0', '--repeats', '1', '--threads', '1', '--json', out])
    stock, emanet = json.loads(out.read_text())['tables'][0]['results']
    for r in (stock, emanet):
        assert r['input_shape'] == [1, 3, 64, 64]
        assert r['params'] * 4 / 2**20 < r['peak_memory_mib'] < r['peak_resident_mib']
