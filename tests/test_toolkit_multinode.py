"""Multi-node training for real on one machine: two "nodes" of one process each.

``NNODES=2 NODE_RANK=0|1 MASTER_ADDR=127.0.0.1 tools/dist_train.sh CONFIG 1`` started side by
side (torchrun's static rendezvous, gloo CPU processes) train the demo classifier on the tiny
synthetic CIFAR-10 set; every rank then saves its own weights (``rank_state_hook.py``). DDP keeps
the parameters identical on both ranks, while each rank's BatchNorm statistics come from its own
data shard (mmengine's DDP wrapper does not broadcast buffers).
"""
import os
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.runner import CheckpointLoader

from tool_modules import ROOT

CONFIG = os.path.join(ROOT, 'configs/demo/emanet18_synthetic_cifar10.py')
TESTS = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.xdist_group('multi_process')  # one such test at a time: each runs two processes
def test_two_nodes_end_with_identical_weights(small_datasets, tmp_path):
    config = tmp_path / 'two_nodes.py'
    config.write_text(f"_base_ = '{CONFIG}'\n"
                      "custom_imports = dict(imports=['mmemanet', 'rank_state_hook'], allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='RankStateHook')]\n")
    cifar = f'{small_datasets}/cifar10'
    # 8 training images, 2 per rank and step: 2 steps in one epoch
    options = [f'train_dataloader.dataset.data_root={cifar}', 'train_dataloader.batch_size=2',
               'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, NNODES='2', MASTER_ADDR='127.0.0.1',
               PORT=str(free_port()), PYTHONPATH=TESTS)
    nodes = [subprocess.Popen(['tools/dist_train.sh', str(config), '1', '--work-dir', str(tmp_path),
                               '--no-validate', '--cfg-options', *options],
                              cwd=ROOT, env=dict(env, NODE_RANK=str(rank)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    for rank, (node, output) in enumerate(zip(nodes, outputs)):
        assert node.returncode == 0, f'node {rank} failed:\n{output[-6000:]}'
    assert 'GPU number: 2' in outputs[0]  # mmengine's name for the world size
    assert 'Epoch(train) [1][2/2]' in outputs[0]

    rank0, rank1 = (torch.load(tmp_path / f'rank{r}_state.pth') for r in (0, 1))
    assert rank0['params'].keys() == rank1['params'].keys()
    for name, value in rank0['params'].items():
        assert torch.equal(value, rank1['params'][name]), name
    # the checkpoint rank 0 wrote holds the same parameters
    checkpoint = CheckpointLoader.load_checkpoint(str(tmp_path / 'epoch_1.pth'), map_location='cpu')['state_dict']
    for name, value in rank0['params'].items():
        assert torch.equal(value, checkpoint[name]), name
    # two processes that saw different data: their BatchNorm running means differ
    means = [k for k in rank0['buffers'] if k.endswith('running_mean')]
    assert any(not torch.equal(rank0['buffers'][k], rank1['buffers'][k]) for k in means)
