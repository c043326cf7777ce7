"""Tool runs for the tests.

- :func:`run_in_process`: a tool of ``tools/`` in the pytest process, its ``main(argv)``, its output
  captured -- the same code as ``python tools/<name>.py ...`` without the ~8 s a new interpreter spends
  importing torch, mmengine, mmdet and mmpretrain. For the tests that are about what a tool does, not
  about the script's own process, its exit status or a shell launcher.
- :func:`once_per_session`: a folder of results (e.g. trained runs) made once per test session, shared by
  the pytest-xdist workers.
"""
import contextlib
import inspect
import io
import logging
import os
import sys

import torch
from filelock import FileLock
from mmengine.utils import ManagerMixin

from tool_modules import ROOT, load_tool

_tools = {}


def _manager_classes(cls=ManagerMixin):
    for sub in cls.__subclasses__():
        yield sub
        yield from _manager_classes(sub)


@contextlib.contextmanager
def own_mmengine_globals():
    """Drop the global instances (loggers, message hubs, default scopes, visualizers) created inside, and
    give back the environment variables, torch's thread count and its deterministic-algorithms switch: a
    tool run leaves the pytest process as it found it."""
    before = {cls: set(cls._instance_dict) for cls in _manager_classes()}
    environ = dict(os.environ)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        for cls in _manager_classes():
            for name in [n for n in cls._instance_dict if n not in before.get(cls, ())]:
                instance = cls._instance_dict.pop(name)
                if isinstance(instance, logging.Logger):
                    for handler in list(instance.handlers):
                        instance.removeHandler(handler)
                        handler.close()
        for key in [k for k in os.environ if k not in environ]:
            del os.environ[key]
        os.environ.update(environ)


def run_captured(run, argv):
    """``run()`` in this process as a script started with ``sys.argv = argv``, in the repository root as
    :func:`tool_modules.run_tool`, leaving the process as it found it (:func:`own_mmengine_globals`); returns
    what it printed (stdout and stderr, mmengine's log included). An exception, ``SystemExit`` included,
    fails the test with the output printed before it (pytest shows it with the failure)."""
    out = io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    try:
        os.chdir(ROOT)
        sys.argv = [str(a) for a in argv]
        with own_mmengine_globals(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            run()
    except BaseException:
        print(out.getvalue()[-6000:])
        raise
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return out.getvalue()


def run_in_process(tool, argv):
    """``tools/<tool>.py argv`` as ``main(argv)`` of the tool's module (``main()`` reading ``sys.argv`` where
    it takes no argument), through :func:`run_captured`."""
    if tool not in _tools:
        _tools[tool] = load_tool(tool)
    main = _tools[tool].main
    argv = [str(a) for a in argv]
    takes_argv = bool(inspect.signature(main).parameters)
    return run_captured(lambda: main(argv) if takes_argv else main(), [f'tools/{tool}.py', *argv])


def once_per_session(name, tmp_path_factory, make):
    """The folder ``name`` of this test session, filled by ``make(folder)`` once.

    Under pytest-xdist the workers share it: the first one to get here makes it (under a file lock), the
    others wait for it and reuse it -- a module fixture is otherwise set up once per worker that runs tests
    of its module. Without xdist it is a fresh folder of this session.
    """
    if 'PYTEST_XDIST_WORKER' not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    # the workers' temporary folders are pytest-N/popen-gwK: pytest-N is this session's
    folder = tmp_path_factory.getbasetemp().parent / name
    with FileLock(str(folder) + '.lock'):
        done = folder / '.done'
        if not done.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            done.touch()
    return folder
