import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

MIM_FILES = ('configs', 'tools', 'model-index.yml')  # model-index.yml imports configs/*/metafile.yml


def add_mim_extension():
    """Link ``configs/``, ``tools/`` and ``model-index.yml`` into ``mmemanet/.mim`` of the checkout, where
    ``mim search`` / ``mim train`` and ``_base_ = 'mmemanet::<folder>/<config>.py'`` look for them (what
    OpenMMLab packages do at install time)."""
    here = osp.dirname(osp.abspath(__file__))
    mim = osp.join(here, 'mmemanet', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in os.listdir(mim):  # also what an older layout left (metafile.yml)
        if name not in MIM_FILES and osp.islink(osp.join(mim, name)):
            os.remove(osp.join(mim, name))
    for name in MIM_FILES:
        link = osp.join(mim, name)
        if osp.lexists(link):
            os.remove(link)
        os.symlink(osp.relpath(osp.join(here, name), mim), link)


add_mim_extension()


class BuildPyWithMim(build_py):
    """build_py that puts ``configs/``, ``tools/`` and ``model-index.yml`` into the built package's
    ``mmemanet/.mim/`` as real files (what mmdet's ``add_mim_extension`` does in copy mode), so a wheel, and a
    wheel built from the sdist, carries them."""

    def run(self):
        super().run()
        here = osp.dirname(osp.abspath(__file__))
        mim = osp.join(self.build_lib, 'mmemanet', '.mim')
        if osp.lexists(mim):
            shutil.rmtree(mim)
        os.makedirs(mim)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for name in MIM_FILES:
            src = osp.join(here, name)
            if osp.isdir(src):
                shutil.copytree(src, osp.join(mim, name), ignore=ignore)
            else:
                shutil.copy2(src, osp.join(mim, name))


def conv_cpu_extension():
    """The compiled CPU kernels (the top-level module ``_mmemanet_conv_cpu``, from ``mmemanet/ops/csrc/conv_cpu.cpp``;
    top-level so that each environment keeps its own build beside an editable checkout, see tools/setup_env.sh) and the
    ``build_ext`` command that builds them, unless ``MMEMANET_WITH_OPS=0``, torch is not importable (a build
    without torch) or the install is editable (it would build them into the checkout, shared by every environment
    of tools/env_matrix.sh); without them the package runs its plain-PyTorch path (``mmemanet.ops.conv_cpu``)."""
    if os.environ.get('MMEMANET_WITH_OPS', '1') == '0':
        return [], {}
    if {'develop', 'editable_wheel'} & set(sys.argv):  # would build into the checkout that environments share
        print('mmemanet: an editable install leaves the compiled CPU kernels out; tools/setup_env.sh builds them '
              "into the environment's site-packages")
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        print('mmemanet: torch is not importable here, building without the compiled CPU kernels')
        return [], {}
    if sys.platform == 'win32':
        flags, link = ['/O2', '/openmp'], []
    elif sys.platform == 'darwin':  # Apple clang has no -fopenmp: the kernels run on one thread there
        flags, link = ['-O3'], []
    else:
        flags, link = ['-O3', '-fopenmp'], ['-fopenmp']
    extension = CppExtension('_mmemanet_conv_cpu', ['mmemanet/ops/csrc/conv_cpu.cpp'], extra_compile_args=flags,
                             extra_link_args=link)
    return [extension], {'build_ext': BuildExtension.with_options(use_ninja=True)}


EXTENSIONS, EXTENSION_COMMANDS = conv_cpu_extension()

version = {}
with open('mmemanet/version.py') as f:
    exec(f.read(), version)

setup(
    name='mmemanet',
    version=version['__version__'],
    description='MA/EMANet and EMCA multi-scale channel attention for MMPretrain and MMDetection',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmemanet', 'mmemanet.*']),
    python_requires='>=3.9',
    # torch 2.1 (with torchvision 0.16 and mmcv 2.1.0's own wheels) is the oldest torch supported: the newer
    # torch APIs used have fallbacks in mmemanet/utils/torch_compat.py
    install_requires=[
        'torch>=2.1',
        'torchvision>=0.16',
        'mmengine==0.10.7',
        'mmcv>=2.1.0,<2.2.0',  # 2.1.0: the newest mmdet 3.3 takes; tested from torch 2.1 to 2.13
        'numpy',
    ],
    extras_require={
        'det': ['mmdet==3.3.0', 'pycocotools>=2.0.8'],
        'cls': ['mmpretrain==1.2.0'],
        'tests': ['pytest'],
    },
    license='Apache-2.0',
    ext_modules=EXTENSIONS,
    cmdclass={'build_py': BuildPyWithMim, **EXTENSION_COMMANDS},
)
