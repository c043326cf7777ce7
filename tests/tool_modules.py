"""Where the repository is (``ROOT``), and the scripts of ``tools/`` as modules, loaded the way running them
sets them up (``tools/`` on sys.path)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
sys.path.insert(0, TOOLS)  # what running a tool does: python puts the script's folder first on sys.path


def load_tool(name):
    """``tools/<name>.py`` as a module (its ``main(argv)`` runs the tool in this process)."""
    spec = importlib.util.spec_from_file_location(f'mmemanet_tools_{name}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(args, threads=1):
    """``python <args>`` in the repository root in a subprocess (``threads`` CPU threads); its output.
    A failure fails the test with the end of the output."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, f'{" ".join(args)} failed:\n{proc.stdout[-6000:]}'
    return proc.stdout
