#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned OpenMMLab stack.
#
# Idempotent: a finished install leaves .venv/.mmemanet-stack; while that stamp matches this
# script, nothing is reinstalled and the run takes a second. pip's cache keeps the mmcv wheel
# it built, so even a fresh .venv on the same machine skips the ~12-minute mmcv build.
#
# Environment:
#   PYTHON=python3.11        interpreter used to create .venv
#   MMEMANET_KEEP_TORCH=1    keep the torch/torchvision already in .venv (e.g. a CUDA build you
#                            installed yourself) instead of installing the pinned pair
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.mmemanet-stack
TORCH_PAIR="torch==2.13.0 torchvision==0.28.0"
STACK="mmengine==0.10.7 mmdet==3.3.0 mmpretrain==1.2.0 numpy>=2,<3 pycocotools>=2.0.8 pytest pytest-xdist grad-cam>=1.5 onnx onnxruntime onnxscript flake8 isort"
WANT="$(sha256sum tools/setup_env.sh setup.py | sha256sum | cut -c1-16) keep_torch=${MMEMANET_KEEP_TORCH:-0}"

if [[ -f $STAMP && "$(cat $STAMP)" == "$WANT" ]]; then
  exit 0
fi

say() { printf '\n[setup_env] %s\n' "$*"; }
fail() { printf '\n[setup_env] FAILED: %s\n' "$*" >&2; exit 1; }
start=$(date +%s)

if [[ ! -x $VENV/bin/python ]]; then
  command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; set PYTHON=/path/to/python3.11"
  say "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

say "build tools (setuptools<81: mmcv's and mmengine's pkg_resources)"
"${PIP[@]}" install -q "pip>=23" "setuptools<81" wheel ninja psutil

if [[ ${MMEMANET_KEEP_TORCH:-0} == 1 ]]; then
  say "keeping the torch already in $VENV (MMEMANET_KEEP_TORCH=1)"
  "$VENV/bin/python" -c "import torch, torchvision" || fail "MMEMANET_KEEP_TORCH=1 but torch/torchvision do not import in $VENV"
else
  # The machine-wide pip config points at a wheel directory holding torch 2.13.0+cpu, which pip
  # prefers for torch==2.13.0; the PyPI torchvision does not work next to it. Install the matched
  # pair from the package index alone.
  say "installing $TORCH_PAIR from the package index (machine-local wheel directories ignored)"
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    "${PIP[@]}" install -q $TORCH_PAIR "setuptools<81"
fi

if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops" 2>/dev/null \
   || [[ "$("$VENV/bin/python" -c 'import mmcv; print(mmcv.__version__)')" != 2.1.0 ]]; then
  say "building mmcv 2.1.0 with compiled ops (about 12 minutes the first time; cached by pip afterwards)"
  "${PIP[@]}" install -q "setuptools<81"  # torch pulls the newest setuptools when it is kept
  MMCV_WITH_OPS=1 "${PIP[@]}" install -q --no-build-isolation mmcv==2.1.0
fi

say "installing the OpenMMLab stack: $STACK"
"${PIP[@]}" install -q $STACK "setuptools<81"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .

say "verifying the stack"
"$VENV/bin/python" - <<'PY' || fail "the stack check above failed"
import sys
import torch, torchvision
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
scores = torch.tensor([0.9, 0.8, 0.7])
assert torchvision.ops.nms(boxes, scores, 0.5).tolist() == [0, 2], 'torchvision.ops.nms'
import mmcv, mmcv.ops
dets, keep = mmcv.ops.nms(boxes, scores, 0.5)
assert keep.tolist() == [0, 2], 'mmcv.ops.nms'
import mmengine, mmdet, mmpretrain, numpy
import mmdet.models, mmpretrain.models
import pkg_resources  # mmengine's mmdet::/mmpretrain:: config inheritance needs it
import mmemanet
assert mmcv.__version__ == '2.1.0', mmcv.__version__
assert numpy.__version__.startswith('2.'), numpy.__version__
print(f'python {sys.version.split()[0]}  torch {torch.__version__}  torchvision {torchvision.__version__}  '
      f'mmengine {mmengine.__version__}  mmcv {mmcv.__version__} (ops ok)  mmdet {mmdet.__version__}  '
      f'mmpretrain {mmpretrain.__version__}  numpy {numpy.__version__}  mmemanet {mmemanet.__version__}')
PY
echo "$WANT" > "$STAMP"
say "environment ready in $(( $(date +%s) - start )) s"
