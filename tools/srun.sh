#!/usr/bin/env bash
# Shared by slurm_train.sh and slurm_test.sh:  tools/srun.sh PARTITION JOB_NAME SCRIPT [args]
# runs SCRIPT under srun, one task per GPU, the OpenMMLab way. Environment: GPUS (tasks in all, default 8),
# GPUS_PER_NODE (default 8; 0 asks for no GPU: CPU tasks with gloo, every node takes as many as it can),
# CPUS_PER_TASK (default 5), SRUN_ARGS (more srun options), PYTHON (default: the repository's
# .venv/bin/python if present, else python).
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/python.sh"
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    PER_NODE=(--gres="gpu:$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
else
    PER_NODE=()
fi
set -x
# shellcheck disable=SC2086  # SRUN_ARGS holds several words
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${PER_NODE[@]}" \
    --ntasks="$GPUS" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$@"
