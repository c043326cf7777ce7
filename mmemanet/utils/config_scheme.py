"""``_base_ = 'mmemanet::<folder>/<config>.py'``: this package's configs inherited from a config anywhere.

mmengine 0.10.7 resolves ``package::path`` only for the OpenMMLab packages it lists
(``mmengine.config.utils.MODULE2PACKAGE``), and finds the package through ``get_installed_path``, which
for an editable install (the set-up of a checkout) names a ``site-packages/mmemanet`` that does not exist.
:func:`register_config_scheme` (run by ``import mmemanet``) adds ``mmemanet`` to that list and makes
mmengine's config loader find this package where it is imported from, so ``mmemanet::`` reads
``mmemanet/.mim/configs/`` of a wheel install and of a checkout alike (``setup.py`` fills ``.mim``).
mmengine also gives every dict an inherited ``package::`` config defines the package as its registry scope
(``_scope_='mmemanet'``); this package has no registry scope of its own (its configs name theirs,
``default_scope='mmdet'`` / ``'mmpretrain'``), so an ``mmemanet::`` base is read as its file would be.

``mmemanet::`` is resolved while the config is parsed, before its ``custom_imports`` run: load such a
config with ``mmemanet`` imported (this package's tools, ``mim train mmemanet``, a script or notebook
that imports it first).
"""
import os.path as osp

PACKAGE = 'mmemanet'


def package_path() -> str:
    """The folder of the imported ``mmemanet`` package (its ``.mim`` is inside)."""
    return osp.dirname(osp.dirname(osp.abspath(__file__)))


def register_config_scheme() -> None:
    """Let mmengine's ``Config`` resolve ``mmemanet::`` (idempotent)."""
    from mmengine.config import config as config_module
    from mmengine.config import utils as config_utils

    config_utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    original_path = config_module.get_installed_path
    if getattr(original_path, '_mmemanet', False):
        return
    original_cfg_path = config_module.Config._get_cfg_path

    def get_installed_path(package: str) -> str:
        return package_path() if package == PACKAGE else original_path(package)

    def _get_cfg_path(cfg_path: str, filename: str):
        path, scope = original_cfg_path(cfg_path, filename)
        return path, (None if scope == PACKAGE else scope)

    get_installed_path._mmemanet = True
    config_module.get_installed_path = get_installed_path
    config_module.Config._get_cfg_path = staticmethod(_get_cfg_path)
