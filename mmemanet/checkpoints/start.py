"""Check, before training starts, that the checkpoints a model starts from can be had.

A model starts from a checkpoint through ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (or a
backbone's deprecated ``pretrained=...``), e.g. ``'torchvision://resnet50'`` in every stock mmdet
config. mmengine fetches it only when the Runner initialises the weights, after building the model,
the datasets and the optimiser, and an unreachable URL then ends in a urllib traceback.
:func:`check_start_checkpoints` looks at every such start first: a local file must exist; a
``torchvision://``, ``modelzoo://``, ``open-mmlab://``, ``openmmlab://``, ``mmcls://`` or ``http(s)://``
checkpoint must be in torch's hub cache (where mmengine's download puts it) or its server must answer.
Otherwise it raises :class:`StartCheckpointError`, one line that says how to run offline. Other
schemes (``s3://``, ``pavi://``) are left to mmengine.
"""
import os
import os.path as osp
import urllib.error
import urllib.request
from typing import Iterator, Optional, Tuple
from urllib.parse import urlparse

import torch.hub
from mmengine.runner.checkpoint import (_get_mmengine_home, get_deprecated_model_names, get_external_models,
                                        get_mmcls_models, get_torchvision_models)

PROBE_TIMEOUT_S = 10.0
_NAMED = {'torchvision://': get_torchvision_models, 'modelzoo://': get_torchvision_models,
          'open-mmlab://': get_external_models, 'openmmlab://': get_external_models, 'mmcls://': get_mmcls_models}
_URL = ('http://', 'https://')
_LEFT_TO_MMENGINE = ('s3://', 'pavi://', 'petrel://')


class StartCheckpointError(RuntimeError):
    """A start checkpoint that is neither on disk nor downloadable; the message says how to run offline."""


def start_checkpoints(cfg, path: str = '') -> Iterator[Tuple[str, str, str]]:
    """Every start checkpoint in ``cfg`` (a config or a part of it, e.g. ``cfg.model``).

    Yields ``(where, owner, checkpoint)``: ``where`` the key holding the checkpoint
    (``'model.backbone.init_cfg.checkpoint'``, ``'model.backbone.pretrained'``), ``owner`` the key that
    switches the start off when set to ``None`` (``'model.backbone.init_cfg'``), ``checkpoint`` the path or URL.
    """
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            yield from start_checkpoints(item, f'{path}.{i}')
        return
    if not isinstance(cfg, dict):
        return
    for key, value in cfg.items():
        where = f'{path}.{key}' if path else key
        if key == 'pretrained' and isinstance(value, str):
            yield where, where, value
        elif key == 'init_cfg' and value is not None:
            entries = value if isinstance(value, (list, tuple)) else [value]
            for i, entry in enumerate(entries):
                if isinstance(entry, dict) and entry.get('type') == 'Pretrained' and entry.get('checkpoint'):
                    entry_key = f'{where}.{i}' if isinstance(value, (list, tuple)) else where
                    yield f'{entry_key}.checkpoint', where, entry['checkpoint']
        else:
            yield from start_checkpoints(value, where)


def checkpoint_url(checkpoint: str) -> Optional[str]:
    """The download URL of a named (``torchvision://resnet50``) or ``http(s)://`` checkpoint, the
    local path an ``open-mmlab://`` name maps to, or ``None`` for a local path or another scheme.

    Raises:
        StartCheckpointError: an unknown name, listing some known ones.
    """
    if checkpoint.startswith(_URL):
        return checkpoint
    scheme = next((s for s in _NAMED if checkpoint.startswith(s)), None)
    if scheme is None:
        return None
    name, urls = checkpoint[len(scheme):], _NAMED[scheme]()
    if scheme in ('open-mmlab://', 'openmmlab://'):
        name = get_deprecated_model_names().get(name, name)
    if name not in urls:
        known = ', '.join(sorted(n for n in urls if '.' not in n)[:12])
        raise StartCheckpointError(f'{checkpoint!r}: {name!r} is not a {scheme} checkpoint name mmengine knows '
                                   f'(some it knows: {known}, ...)')
    url = urls[name]
    return url if url.startswith(_URL) else osp.join(_get_mmengine_home(), url)


def cached_file(url: str) -> str:
    """Where mmengine's download (``torch.hub.load_state_dict_from_url``) keeps ``url``."""
    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> Optional[str]:
    """Why ``url`` cannot be downloaded (no connection, file not on the server), or ``None`` when its
    server answers a HEAD request (the download itself is left to mmengine)."""
    request = urllib.request.Request(url, method='HEAD', headers={'User-Agent': 'mmemanet'})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as e:
        return f'HTTP {e.code} {e.reason}' if e.code in (404, 410) else None
    except OSError as e:  # URLError (no route, refused, DNS), timeouts
        return ' '.join(str(getattr(e, 'reason', e)).split())


def check_start_checkpoints(cfg, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise :class:`StartCheckpointError` for the first start checkpoint of ``cfg.model`` that is
    neither on disk (or in the download cache) nor downloadable (see the module docstring)."""
    for where, owner, checkpoint in start_checkpoints(cfg.get('model', {}), 'model'):
        if checkpoint.startswith(_LEFT_TO_MMENGINE):
            continue
        prefix = '' if owner == where else f' (a classifier of this package also needs {owner}.prefix=backbone.)'
        offline = (f'To run offline, pass --cfg-options {where}=<local .pth>{prefix}, or {owner}=None to start '
                   'from scratch')
        url = checkpoint_url(checkpoint)
        if url is None or not url.startswith(_URL):
            local = url or checkpoint
            if not osp.isfile(local):
                raise StartCheckpointError(f'{where}: start checkpoint {local} not found. {offline}')
            continue
        if osp.isfile(cached_file(url)):
            continue
        reason = unreachable(url, timeout)
        if reason is not None:
            named = '' if checkpoint == url else f'{checkpoint} = '
            raise StartCheckpointError(
                f'{where}: cannot download the start checkpoint {named}{url} ({reason}) and it is not in the '
                f'download cache ({cached_file(url)}). {offline}, or put the file in the cache '
                f'(TORCH_HOME={os.environ.get("TORCH_HOME", "~/.cache/torch")} decides where it is)')
