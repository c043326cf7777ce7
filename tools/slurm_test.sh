#!/usr/bin/env bash
# Testing on a Slurm cluster, the OpenMMLab way (one task per GPU, --launcher slurm):
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments]
# GPUS tasks in all, GPUS_PER_NODE per node. GPUS_PER_NODE=0 asks for no GPU (CPU tasks, gloo;
# then GPUS is the number of CPU tasks and every node takes as many as it can).
# PYTHON picks the interpreter (default: the repository's .venv/bin/python if present, else python).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
exec "$HERE/srun.sh" "$PARTITION" "$JOB_NAME" "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm "$@"
