#!/usr/bin/env bash
# Distributed testing:  tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [tools/test.py arguments]
# torchrun with one process per GPU (nccl); without a GPU, NUM_PROCESSES CPU processes (gloo).
# Environment: PYTHON (default: .venv/bin/python if present, else python), PORT, NNODES, NODE_RANK,
# MASTER_ADDR (see torchrun.sh).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCESSES [tools/test.py arguments]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
exec "$HERE/torchrun.sh" "$NPROC" "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
