"""What tools/train.py and tools/test.py add to the stock OpenMMLab tools: their shared arguments and config
loading, distributed processes on a machine without a GPU (gloo), and one-line errors.

What a run needs beyond that (the guards) is in the configs (``configs/_base_/mmemanet_runtime.py``), so the
stock tools get it too.
"""
import argparse
import contextlib
import datetime
import logging
import os
import os.path as osp
import subprocess
import sys

import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.registry import MODEL_WRAPPERS, RUNNERS, init_default_scope
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from ..checkpoints.start import StartCheckpointError
from ..datasets import DatasetFileError
from .preflight import RunCheckError

LAUNCHERS = ['none', 'pytorch', 'slurm', 'mpi']
CFG_OPTIONS_HELP = (
    'override some settings in the used config, the key-value pair in xxx=yyy format will be '
    'merged into config file. If the value to be overwritten is a list, it should be like '
    'key="[a,b]" or key=a,b It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
    'Note that the quotation marks are necessary and that no white space is allowed. List items '
    'are addressed by index, e.g. train_dataloader.dataset.dataset.datasets.0.data_root=...')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by tools/train.py and tools/test.py."""
    parser.add_argument('--work-dir', help='the directory for logs, checkpoints and results')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--check-only', action='store_true',
                        help='only check what the run needs (datasets, start checkpoints), one line per problem, '
                        'and exit; the distributed launchers do this once before starting the processes')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank (older);
    # torchrun sets the LOCAL_RANK environment variable instead.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse ``argv``; export ``LOCAL_RANK`` when the launcher passed it as an argument."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(args: argparse.Namespace) -> Config:
    """Config file + ``--cfg-options`` + ``--work-dir`` (CLI > config > ./work_dirs/<name>)."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


@contextlib.contextmanager
def one_line_errors():
    """End the tool with one line per problem, not a traceback, on the input errors this package words for the
    user: a missing or broken dataset (:class:`~mmemanet.datasets.DatasetFileError`) and a start checkpoint that
    cannot be had (:class:`~mmemanet.checkpoints.start.StartCheckpointError`), alone or found together by
    :func:`~.preflight.check_run`. The lines go to stderr, prefixed with the rank in a distributed run; the
    exit status is 1.

    The tools wrap their ``main()`` in it when run as scripts (``main()`` itself raises, for tests).
    """
    try:
        yield
    except (DatasetFileError, StartCheckpointError, RunCheckError) as e:
        rank = f'[rank {os.environ["RANK"]}] ' if int(os.environ.get('WORLD_SIZE', '1')) > 1 else ''
        sys.exit('\n'.join(f'{rank}error: {problem}' for problem in getattr(e, 'problems', [e])))


# ----------------------------------------------------------------------------------------------
# Distributed processes without a GPU
# ----------------------------------------------------------------------------------------------
def _env_from_launcher(launcher: str) -> None:
    """Fill RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* like mmengine's ``init_dist`` does."""
    if launcher == 'mpi':
        os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
        os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
        os.environ['LOCAL_RANK'] = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            raise KeyError('The environment variable MASTER_ADDR is not set')
    elif launcher == 'slurm':
        proc_id = int(os.environ['SLURM_PROCID'])
        os.environ['RANK'] = str(proc_id)
        os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
        os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            node_list = os.environ['SLURM_NODELIST']
            os.environ['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1')
    # launcher == 'pytorch': torchrun has set everything


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` for ``launcher``; on a CPU-only machine, start gloo CPU processes.

    mmengine 0.10 assumes an accelerator for distributed runs: ``init_dist`` calls
    ``torch.cuda.set_device`` and the Runner wraps the model in DDP with
    ``device_ids=[LOCAL_RANK]``, both of which fail without CUDA. When mmengine finds no device
    (``get_device() == 'cpu'``) and the launcher is not ``none``, this

    - sets ``env_cfg.dist_cfg.backend = 'gloo'`` (the stock configs say ``nccl``),
    - initialises the gloo process group itself (the Runner then skips ``init_dist``), passing
      ``dist_cfg.timeout`` (seconds) through,
    - makes the DDP wrapper use ``device_ids=None`` (DDP's value for CPU modules), keeping
      ``broadcast_buffers=False`` and ``find_unused_parameters`` as mmengine's default wrapper.

    With a GPU (or another device mmengine supports) nothing changes: mmengine does it all, nccl
    as configured.
    """
    cfg.launcher = launcher
    if launcher == 'none' or get_device() != 'cpu':
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(f"no CUDA device: using the gloo backend instead of {dist_cfg['backend']!r}",
                  logger='current', level=logging.WARNING)
    dist_cfg['backend'] = 'gloo'

    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper

    if not torch_dist.is_initialized():
        _env_from_launcher(launcher)
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(backend='gloo', init_method='env://',
                                      rank=int(os.environ['RANK']),
                                      world_size=int(os.environ['WORLD_SIZE']), **kwargs)


def build_runner(cfg: Config) -> Runner:
    """``RUNNERS.build`` when the config names a ``runner_type``, else ``Runner.from_cfg``."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    if cfg.get('default_scope'):  # find the runner in the codebase's registry (the Runner sets this scope too)
        init_default_scope(cfg.default_scope)
    return RUNNERS.build(cfg)
