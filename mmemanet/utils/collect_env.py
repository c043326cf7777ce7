"""The environment report asked for in bug reports: ``python -m mmemanet.utils.collect_env``.

Built on ``mmengine.utils.dl_utils.collect_env`` (Python, torch and its CUDA, GPU names, compilers,
torchvision, OpenCV, mmengine), as mmdet's and mmpretrain's ``collect_env`` are; adds cuDNN, NumPy,
mmcv (and how its ops were compiled), mmdet, mmpretrain and this package with its git commit.
"""
import argparse
import os.path as osp
import subprocess
from collections import OrderedDict
from importlib import import_module

import numpy
import torch
from mmengine.utils.dl_utils import collect_env as collect_base_env

from ..version import __version__

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def package_git_hash() -> str:
    """The commit of the checkout this package is imported from, or ``'not a git checkout'``."""
    try:
        return subprocess.check_output(
            ['git', '-C', PACKAGE_DIR, 'rev-parse', '--short=7', 'HEAD'],
            stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return 'not a git checkout'


def mmcv_info() -> 'OrderedDict[str, str]':
    """mmcv's version and whether / how its compiled ops were built (CPU only, or with CUDA)."""
    info = OrderedDict()
    try:
        mmcv = import_module('mmcv')
    except ImportError:
        info['MMCV'] = 'not installed'
        return info
    info['MMCV'] = mmcv.__version__
    try:
        ops = import_module('mmcv.ops')
        info['MMCV compiler'] = ops.get_compiler_version()
        cuda = ops.get_compiling_cuda_version()
        info['MMCV ops'] = 'compiled, CPU only' if cuda == 'not available' else f'compiled with CUDA {cuda}'
    except (ImportError, OSError) as error:  # mmcv without its compiled extension (mmcv-lite)
        info['MMCV ops'] = f'not available ({error})'
    return info


def version_of(module_name: str) -> str:
    """``module.__version__``, or ``'not installed'``."""
    try:
        return import_module(module_name).__version__
    except ImportError:
        return 'not installed'


def collect_env(with_torch_compiling_info: bool = False) -> 'OrderedDict[str, str]':
    """Name -> version / fact of everything a bug report needs (one line each when printed)."""
    env_info = collect_base_env()
    if not with_torch_compiling_info:
        env_info.pop('PyTorch compiling details', None)
    env_info['PyTorch built for CUDA'] = torch.version.cuda or 'no (CPU build)'
    env_info['cuDNN'] = str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else 'not available'
    env_info['NumPy'] = numpy.__version__
    env_info.update(mmcv_info())
    env_info['MMDetection'] = version_of('mmdet')
    env_info['MMPreTrain'] = version_of('mmpretrain')
    env_info['mmemanet'] = f'{__version__}+{package_git_hash()}'
    return env_info


def main(argv=None):
    parser = argparse.ArgumentParser(description='Print the environment for a bug report.')
    parser.add_argument('--with-torch-compiling-info', action='store_true',
                        help="also print torch's build configuration (long)")
    args = parser.parse_args(argv)
    for name, value in collect_env(args.with_torch_compiling_info).items():
        print(f'{name}: {value}')


if __name__ == '__main__':
    main()
