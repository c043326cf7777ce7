"""The main job: train and evaluate a small EMANet classifier and EMANet detector on a CPU.

    python tools/demo.py [--work-dir work_dirs/demo] [--threads 2]

1. ``tools/make_small_datasets.py data/small``: synthetic CIFAR-10 (python batches) and VOC0712
   (JPEG + XML) sets in the real formats.
2. ``tools/train.py`` + ``tools/test.py`` on ``configs/demo/emanet18_synthetic_cifar10.py``:
   top-1 accuracy (mmpretrain ``Accuracy``) on the synthetic CIFAR-10 test batch.
3. ``tools/train.py`` + ``tools/test.py`` on ``configs/demo/faster_rcnn_emanet18_synthetic_voc.py``
   (Faster R-CNN + FPN, EMANet backbone initialised from step 2's classifier through
   ``Pretrained`` + ``prefix='backbone.'``): VOC mAP@0.5 (``VOCMetric``) and COCO bbox AP
   (``CocoMetric``, pycocotools) on the synthetic VOC2007 test split.
4. ``tools/analysis/plot_curves.py``: the loss and learning-rate curves of both runs in one PNG
   (``<work dir>/curves.png``), whose path is printed after the summary.

Every step runs the real tools in a subprocess (logs under the work dir). The job prints the
metrics, compares them with the thresholds below and exits with status 1 when one is not reached.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = 'data/small'
DATASET_ARGS = ['--kinds', 'cifar', 'voc', '--cifar', '1280', '500', '--voc', '60', '40',
                '--det-size', '96', '128']
CLASSIFIER = 'configs/demo/emanet18_synthetic_cifar10.py'
DETECTOR = 'configs/demo/faster_rcnn_emanet18_synthetic_voc.py'
# Thresholds: far above chance (top-1 10 %, mAP ~0 untrained) and well below what measured runs
# reached on 2 CPU cores: seeded (the configs' seed 0) top-1 38.8, VOC mAP 0.615, COCO bbox AP 0.231.
THRESHOLDS = {
    'accuracy/top1': 30.0,
    'pascal_voc/mAP': 0.20,
    'coco/bbox_mAP': 0.04,
}


def run_tool(args, log_path, env):
    """Run ``python <args>`` in the repository root; echo its progress lines; stop the job if it fails."""
    print(f'$ python {" ".join(args)}   (log: {log_path})', flush=True)
    lines = []
    with open(log_path, 'w') as log, subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if 'Epoch(' in line:
                print('   ', line[line.index('Epoch('):].rstrip()[:180], flush=True)
            elif line.startswith('{'):  # what make_small_datasets.py wrote
                print('   ', line.rstrip()[:180], flush=True)
    if proc.returncode != 0:
        sys.exit(f'demo: {args[0]} failed (exit status {proc.returncode}); the last lines of '
                 f'{log_path}:\n' + ''.join(lines[-30:]))


def test_metrics(work_dir):
    """The metrics of the newest run in ``work_dir``, as the Runner dumped them (mmengine's LoggerHook writes
    ``<work_dir>/<timestamp>/<timestamp>.json`` after testing); only the evaluator's keys (``'a/b'``)."""
    log_dir = sorted(glob.glob(osp.join(work_dir, '[0-9]*_[0-9]*')))[-1]
    with open(osp.join(log_dir, osp.basename(log_dir) + '.json')) as f:
        return {k: float(v) for k, v in json.load(f).items() if '/' in k}


def train_and_test(config, work_dir, env, options=()):
    """tools/train.py then tools/test.py on the last checkpoint; return (metrics, checkpoint)."""
    os.makedirs(work_dir, exist_ok=True)
    options = ['--cfg-options', *options] if options else []
    run_tool(['tools/train.py', config, '--work-dir', work_dir, '--no-validate', *options],
             osp.join(work_dir, 'train.log'), env)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    run_tool(['tools/test.py', config, checkpoint, '--work-dir', work_dir], osp.join(work_dir, 'test.log'), env)
    return test_metrics(work_dir), checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--threads', type=int, default=2,
                        help='CPU threads per process (OMP_NUM_THREADS), default 2')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    work_dir = osp.join(ROOT, args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    times, metrics = {}, {}

    start = time.time()
    run_tool(['tools/make_small_datasets.py', DATA, *DATASET_ARGS],
             osp.join(work_dir, 'datasets.log'), env)
    times['datasets'] = time.time() - start

    start = time.time()
    found, classifier = train_and_test(CLASSIFIER, osp.join(work_dir, 'classifier'), env)
    metrics.update(found)
    times['classifier'] = time.time() - start

    start = time.time()
    # the detector's backbone starts from the classifier's (Pretrained, prefix='backbone.')
    found, _ = train_and_test(DETECTOR, osp.join(work_dir, 'detector'), env,
                              [f'model.backbone.init_cfg.checkpoint={classifier}'])
    metrics.update(found)
    times['detector'] = time.time() - start
    curves = osp.join(work_dir, 'curves.png')
    run_tool(['tools/analysis/plot_curves.py', osp.join(work_dir, 'classifier'), osp.join(work_dir, 'detector'),
              '--legend', 'classifier', 'detector', '--keys', 'loss', 'lr', '--out', curves],
             osp.join(work_dir, 'curves.log'), env)

    print('\n==== mmemanet demo: results ====')
    for step, seconds in times.items():
        print(f'{step:>12}: {seconds:6.1f} s')
    print(f'{"total":>12}: {sum(times.values()):6.1f} s')
    failed = []
    for key, value in sorted(metrics.items()):
        threshold = THRESHOLDS.get(key)
        verdict = '' if threshold is None else (
            f'>= {threshold}  ok' if value >= threshold else f'<  {threshold}  NOT REACHED')
        print(f'{key:>24} = {value:8.4f}  {verdict}')
        if threshold is not None and value < threshold:
            failed.append(key)
    print(f'{"curves":>12}: {curves}')
    missing = sorted(set(THRESHOLDS) - set(metrics))
    if failed or missing:
        sys.exit(f'demo: thresholds not reached: {failed}; metrics missing: {missing}')
    print('demo: every threshold reached')


if __name__ == '__main__':
    main()
