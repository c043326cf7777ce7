"""Tools of ``tools/`` run in the pytest process (:func:`run_in_process`): a tool's ``main(argv)``, its
output captured -- the same code as ``python tools/<name>.py ...`` without the ~8 s a new interpreter
spends importing torch, mmengine, mmdet and mmpretrain. For the tests that are about what a tool does,
not about the script's own process, its exit status or a shell launcher.
"""
import contextlib
import io
import logging
import os

from mmengine.utils import ManagerMixin

from tool_modules import load_tool

_tools = {}


def _manager_classes(cls=ManagerMixin):
    for sub in cls.__subclasses__():
        yield sub
        yield from _manager_classes(sub)


@contextlib.contextmanager
def own_mmengine_globals():
    """Drop the global instances (loggers, message hubs, default scopes, visualizers) created inside, and
    give back the environment variables: a tool run leaves the pytest process as it found it."""
    before = {cls: set(cls._instance_dict) for cls in _manager_classes()}
    environ = dict(os.environ)
    try:
        yield
    finally:
        for cls in _manager_classes():
            for name in [n for n in cls._instance_dict if n not in before.get(cls, ())]:
                instance = cls._instance_dict.pop(name)
                if isinstance(instance, logging.Logger):
                    for handler in list(instance.handlers):
                        instance.removeHandler(handler)
                        handler.close()
        os.environ.clear()
        os.environ.update(environ)


def run_in_process(tool, argv):
    """``tools/<tool>.py argv`` as ``main(argv)`` of the tool's module in this process; returns what it
    printed (stdout and stderr, mmengine's log included). An exception fails the test with the output
    printed before it (pytest shows it with the failure)."""
    if tool not in _tools:
        _tools[tool] = load_tool(tool)
    out = io.StringIO()
    try:
        with own_mmengine_globals(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            _tools[tool].main([str(a) for a in argv])
    except BaseException:
        print(out.getvalue()[-6000:])
        raise
    return out.getvalue()
