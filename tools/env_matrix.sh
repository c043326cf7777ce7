#!/usr/bin/env bash
# The tested range of environments: one venv per torch pair under .envs/, each made by tools/setup_env.sh
# (same stack, same checks), and the core subset of the tests run in each. A table at the end.
#
# Not part of CI: each torch build compiles mmcv 2.1.0 once (~35 min on 2 cores; the wheel is kept in
# ~/.cache/mmemanet/, so a second run only tests).
#
#   oldest  torch 2.1.2 + torchvision 0.16.2 + numpy<2: the oldest torch of mmdet 3.3 users, with mmcv 2.1.0
#   pinned  setup_env.sh's pair, also the newest: torch 2.13, the newest torch whose headers mmcv 2.1.0's
#           C++17 build compiles against (torch 2.14's need C++20)
#
# Usage: tools/env_matrix.sh [oldest] [pinned]   (default: both)
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A TORCH=([oldest]="torch==2.1.2 torchvision==0.16.2" [pinned]="")
declare -A NUMPY=([oldest]="numpy<2" [pinned]="")
# the core subset: imports and registration, the modules, the backbones against mmdet's / mmpretrain's ResNets,
# the torch compatibility shims, checkpoints, one short detector and one classifier train/test with our tools and
# one with mmdet's own
CORE=(tests/test_foundation.py tests/test_torch_compat.py tests/test_layers.py tests/test_resnet_equivalence.py
      tests/test_checkpoints.py
      tests/test_end_to_end.py::test_faster_rcnn_emanet50_voc
      tests/test_end_to_end.py::test_emanet50_cifar10_train_test_resume
      tests/test_stock_tools.py::test_mmdet_tools_train_and_test_the_shipped_detector_with_the_guards)

ENVS=("$@")
[[ ${#ENVS[@]} -gt 0 ]] || ENVS=(oldest pinned)
declare -A RESULT
for env in "${ENVS[@]}"; do
  [[ -v "TORCH[$env]" ]] || { echo "unknown environment '$env' (valid: ${!TORCH[*]})" >&2; exit 2; }
  venv=.envs/$env
  log=.envs/$env.log
  mkdir -p .envs
  echo "[env_matrix] $env: setting up $venv (log: $log)"
  settings=(MMEMANET_VENV="$venv")
  [[ -n ${TORCH[$env]} ]] && settings+=(MMEMANET_TORCH="${TORCH[$env]}")
  [[ -n ${NUMPY[$env]} ]] && settings+=(MMEMANET_NUMPY="${NUMPY[$env]}")
  if ! env "${settings[@]}" tools/setup_env.sh > "$log" 2>&1; then
    RESULT[$env]="set-up failed: $(grep -m1 -E '#error|FAILED' "$log" || tail -1 "$log")"
    continue
  fi
  versions=$("$venv/bin/python" -c "import sys, torch, torchvision, mmcv, mmdet, mmpretrain, numpy
print(f'python {sys.version.split()[0]}  torch {torch.__version__}  torchvision {torchvision.__version__}  '
      f'mmcv {mmcv.__version__}  mmdet {mmdet.__version__}  mmpretrain {mmpretrain.__version__}  numpy {numpy.__version__}')")
  echo "[env_matrix] $env: $versions"
  echo "[env_matrix] $env: core tests"
  start=$(date +%s)
  "$venv/bin/python" -m pytest "${CORE[@]}" -q -p no:cacheprovider --durations=0 >> "$log" 2>&1
  rc=$?
  summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|^=+ .*(passed|failed|error)' "$log" | tail -1)
  RESULT[$env]="$versions | rc $rc | $summary | $(( $(date +%s) - start )) s"
done

echo
echo "[env_matrix] $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
status=0
for env in "${ENVS[@]}"; do
  echo "$env: ${RESULT[$env]}"
  [[ ${RESULT[$env]} == *"| rc 0 |"* ]] || status=1
done
exit $status
