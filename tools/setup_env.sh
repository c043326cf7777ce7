#!/usr/bin/env bash
# Create (or reuse) the project-local virtual environment .venv with the pinned OpenMMLab stack.
#
# Idempotent: a finished install leaves .venv/.mmemanet-stack; while that stamp matches this
# script and its settings, nothing is reinstalled and the run takes a second. mmcv 2.1.0 is compiled
# once per torch build and its wheel kept in ~/.cache/mmemanet/ (keyed by torch's version: a wheel
# compiled against one torch does not load into another), so a fresh .venv skips the ~35-minute build.
#
# Environment:
#   PYTHON=python3.11        interpreter used to create the venv
#   MMEMANET_KEEP_TORCH=1    keep the torch/torchvision already in the venv (e.g. a CUDA build you
#                            installed yourself) instead of installing the pinned pair
#   MMEMANET_VENV=.venv      where the environment goes (tools/env_matrix.sh makes one per torch)
#   MMEMANET_TORCH="torch==2.13.0 torchvision==0.28.0"   the torch pair to install (from the package index)
#   MMEMANET_NUMPY="numpy>=2,<3"                         numpy (torch < 2.3 needs numpy<2)
#   MMEMANET_WITH_OPS=0      leave out mmemanet's compiled CPU kernels (the plain-PyTorch path runs instead)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${MMEMANET_VENV:-.venv}
STAMP=$VENV/.mmemanet-stack
# the newest torch pair the stack builds with: torch 2.14's headers need C++20, which mmcv 2.1.0's build
# (-std=c++17) does not give, so 2.13 is the newest torch mmcv 2.1.0 compiles against
TORCH_PAIR=${MMEMANET_TORCH:-"torch==2.13.0 torchvision==0.28.0"}
NUMPY=${MMEMANET_NUMPY:-"numpy>=2,<3"}
STACK="mmengine==0.10.7 mmdet==3.3.0 mmpretrain==1.2.0 $NUMPY pycocotools>=2.0.8 pytest pytest-xdist grad-cam>=1.5 onnx onnxruntime onnxscript flake8 isort twine readme-renderer[md]"
WANT="$(sha256sum tools/setup_env.sh setup.py mmemanet/ops/csrc/*.cpp | sha256sum | cut -c1-16) keep_torch=${MMEMANET_KEEP_TORCH:-0} with_ops=${MMEMANET_WITH_OPS:-1} torch=$TORCH_PAIR numpy=$NUMPY"
MMCV_WHEELS=${XDG_CACHE_HOME:-$HOME/.cache}/mmemanet/mmcv-2.1.0

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
  # from the package index alone: a machine-local wheel directory may hold a CPU-only torch of the same version,
  # beside which the index's torchvision does not load
  say "installing $TORCH_PAIR from the package index"
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    "${PIP[@]}" install -q $TORCH_PAIR "$NUMPY" "setuptools<81"
fi

# mmcv's compiled ops load only into the torch they were compiled against: its wheel is kept per torch build
TORCH_BUILD=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
if ! ls "$MMCV_WHEELS/torch-$TORCH_BUILD"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  say "compiling mmcv 2.1.0 with its ops against torch $TORCH_BUILD (about 35 minutes on 2 cores, once per torch build)"
  "${PIP[@]}" install -q "setuptools<81"  # torch pulls the newest setuptools when it is kept
  MMCV_WITH_OPS=1 "${PIP[@]}" wheel -q --no-deps --no-build-isolation --no-cache-dir \
    -w "$MMCV_WHEELS/torch-$TORCH_BUILD" mmcv==2.1.0
fi
"${PIP[@]}" install -q --no-deps --force-reinstall "$MMCV_WHEELS/torch-$TORCH_BUILD"/mmcv-2.1.0-*.whl

say "installing the OpenMMLab stack: $STACK"
"${PIP[@]}" install -q $STACK "setuptools<81"
# openmim without its dataset-download dependency (opendatalab -> openxlab pins setuptools 60, rich 13.4 and
# requests 2.28, which this stack cannot take; mim's search / train / test never import it)
"${PIP[@]}" install -q --no-deps openmim==0.3.9
"${PIP[@]}" install -q click colorama model-index pandas tabulate "$NUMPY"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
# the compiled CPU kernels (setuptools' editable install builds in an isolated environment without torch, so it
# leaves them out), into this environment's site-packages with its own object files: a build loads only into the
# torch it was compiled against, and tools/env_matrix.sh's environments share this checkout. MMEMANET_WITH_OPS=0
# leaves them out.
if [[ ${MMEMANET_WITH_OPS:-1} != 0 ]]; then
  say "compiling mmemanet's CPU kernels (mmemanet/ops/csrc, about 45 s)"
  SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  "$VENV/bin/python" setup.py -q build_ext --build-lib "$SITE" --build-temp "$VENV/build-ext" 2>&1 \
    | grep -v "No CUDA runtime is found" || true
fi

say "verifying the stack"
"$VENV/bin/python" - <<'PY' || fail "the stack check above failed"
import os, sys
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
from mmemanet.ops import conv_cpu
assert os.environ.get('MMEMANET_WITH_OPS', '1') == '0' or conv_cpu.EXTENSION_ERROR is None, \
    f"mmemanet's CPU kernels did not build or load: {conv_cpu.EXTENSION_ERROR}"
assert mmcv.__version__ == '2.1.0', mmcv.__version__
print(f'python {sys.version.split()[0]}  torch {torch.__version__}  torchvision {torchvision.__version__}  '
      f'mmengine {mmengine.__version__}  mmcv {mmcv.__version__} (ops ok)  mmdet {mmdet.__version__}  '
      f'mmpretrain {mmpretrain.__version__}  numpy {numpy.__version__}  mmemanet {mmemanet.__version__}')
PY
echo "$WANT" > "$STAMP"
say "environment ready in $(( $(date +%s) - start )) s"
