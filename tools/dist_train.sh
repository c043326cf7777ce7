#!/usr/bin/env bash
# Distributed training:  tools/dist_train.sh CONFIG NUM_PROCESSES [tools/train.py arguments]
# torchrun with one process per GPU (nccl); without a GPU, NUM_PROCESSES CPU processes (gloo).
# Environment: PYTHON (default: .venv/bin/python if present, else python), PORT, NNODES, NODE_RANK,
# MASTER_ADDR (see torchrun.sh).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCESSES [tools/train.py arguments]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG=$1
NPROC=$2
shift 2
exec "$HERE/torchrun.sh" "$NPROC" "$HERE/train.py" "$CONFIG" --launcher pytorch "$@"
