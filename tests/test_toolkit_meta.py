"""The toolkit's small parts: mim's model index, the environment report, the interpreter the
shell tools pick, and the Slurm scripts' argument check."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import mmcv
import mmdet
import mmengine
import mmpretrain
import pytest
import torch
import yaml

import mmemanet
from mmemanet.analysis.published import MACS_KEY, PARAMS_KEY, metafiles, readme_table

from tool_modules import ROOT


def model_index():
    """The models of model-index.yml, following its ``Import`` list (as mim's loader does)."""
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    collections, models = {}, []
    for imported in index['Import']:
        with open(osp.join(ROOT, imported)) as f:
            meta = yaml.safe_load(f)
        collections.update({c['Name']: c for c in meta.get('Collections', [])})
        models += meta['Models']
    return collections, models


def test_top_level_configs_are_aliases_of_indexed_ones():
    """``configs/faster_rcnn_emanet50_voc.py`` (the headline command's path) only inherits its folder's config."""
    from mmengine.config import Config
    _, models = model_index()
    indexed = {m['Config'] for m in models}
    aliases = glob.glob(osp.join(ROOT, 'configs', '*.py'))
    assert [osp.basename(p) for p in aliases] == ['faster_rcnn_emanet50_voc.py']
    for alias in aliases:
        bases = Config._get_base_files(alias)
        assert len(bases) == 1
        assert osp.relpath(osp.normpath(osp.join(osp.dirname(alias), bases[0])), ROOT) in indexed


def header_comment(config):
    """The leading comment lines of a config file (where it says what it builds, and where its figures are)."""
    lines = []
    with open(osp.join(ROOT, config)) as f:
        for line in f:
            if not line.startswith('#'):
                break
            lines.append(line)
    return ''.join(lines)


def test_model_index_lists_every_config_with_paper_task_dataset_and_published_figures():
    collections, models = model_index()
    # the configs of the method folders (a top-level file is an alias of one of them: see below)
    configs = sorted(osp.relpath(p, ROOT)
                     for p in glob.glob(osp.join(ROOT, 'configs', '*', '**', '*.py'), recursive=True)
                     if '_base_' not in p)
    assert sorted(m['Config'] for m in models) == configs
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    for imported in imports:  # one metafile per folder, listing that folder's configs, with its README
        folder = osp.dirname(imported)
        with open(osp.join(ROOT, imported)) as f:
            meta = yaml.safe_load(f)
        assert all(osp.dirname(m['Config']) == folder for m in meta['Models']), imported
        assert all(c['README'] == f'{folder}/README.md' for c in meta['Collections']), imported
        assert osp.isfile(osp.join(ROOT, folder, 'README.md')), folder
    assert len({m['Name'] for m in models}) == len(models)
    for model in models:
        collection = collections[model['In Collection']]
        # only the demo and the recipes for one's own data have no paper
        paperless = ('configs/demo/', 'configs/custom/')
        assert collection.get('Paper') or model['Config'].startswith(paperless), model['Name']
        assert 'Weights' not in model  # none are published
        assert model['Results'], model['Name']
        for result in model['Results']:
            assert result['Task'] and result['Dataset'], model['Name']
        figures = [value for result in model['Results'] for value in result['Metrics'].values()]
        figures += [model['Metadata'][key] for key in (PARAMS_KEY, MACS_KEY) if key in model['Metadata']]
        # each figure is written once, in the metafile: the config's header says so and restates none of them
        comment = header_comment(model['Config'])
        cited = {round(float(number), 2) for number in re.findall(r'\d+\.\d+', comment)}
        assert not cited & {round(value, 2) for value in figures}, (model['Name'], figures)
        assert not figures or 'metafile.yml' in comment, model['Name']


def test_config_readmes_show_their_metafile_figures():
    """The table of configs and published figures in each configs/<folder>/README.md is the one written from
    its metafile.yml (``python -m mmemanet.analysis.published configs/<folder>`` prints it)."""
    for imported, meta in metafiles(ROOT).items():
        if any(PARAMS_KEY in m.get('Metadata', {}) or any(r['Metrics'] for r in m['Results']) for m in meta['Models']):
            with open(osp.join(ROOT, osp.dirname(imported), 'README.md')) as f:
                assert readme_table(imported, ROOT) in f.read(), imported


@pytest.mark.slow
def test_collect_env_reports_the_stack():
    output = subprocess.run([sys.executable, '-m', 'mmemanet.utils.collect_env'], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True).stdout
    report = dict(line.split(': ', 1) for line in output.splitlines() if ': ' in line)
    assert report['PyTorch'] == torch.__version__
    assert report['MMEngine'] == mmengine.__version__
    assert report['MMCV'] == mmcv.__version__
    assert report['MMDetection'] == mmdet.__version__ and report['MMPreTrain'] == mmpretrain.__version__
    assert report['MMCV ops'].startswith('compiled')
    assert report['CUDA available'] == str(torch.cuda.is_available())
    commit = subprocess.run(['git', 'rev-parse', '--short=7', 'HEAD'], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
    assert report['mmemanet'] == f'{mmemanet.__version__}+{commit or "not a git checkout"}'
    gpus = [key for key in report if key.startswith('GPU ')]  # 'GPU 0,1: <name>' per kind of GPU
    assert bool(gpus) == torch.cuda.is_available()


@pytest.mark.parametrize('preset', [None, '/opt/my/python'])
def test_shell_tools_pick_the_repository_venv_unless_python_is_set(preset):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    if preset:
        env['PYTHON'] = preset
    picked = subprocess.run(['bash', '-c', '. tools/python.sh && echo "$PYTHON"'], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, check=True).stdout.strip()
    venv = osp.join(ROOT, '.venv', 'bin', 'python')
    assert picked == (preset or (venv if os.access(venv, os.X_OK) else 'python'))


@pytest.mark.parametrize('script,args', [('tools/slurm_train.sh', 'PARTITION JOB_NAME CONFIG WORK_DIR'),
                                         ('tools/slurm_test.sh', 'PARTITION JOB_NAME CONFIG CHECKPOINT')])
def test_slurm_scripts_name_their_arguments(script, args):
    proc = subprocess.run([osp.join(ROOT, script), 'partition', 'job'], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 2
    assert re.search(rf'usage: \S*{osp.basename(script)} {args}', proc.stdout), proc.stdout
