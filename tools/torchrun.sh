#!/usr/bin/env bash
# Shared by dist_train.sh and dist_test.sh:  tools/torchrun.sh NUM_PROCESSES SCRIPT [args]
# checks what SCRIPT's run needs once (SCRIPT ... --check-only), then runs NUM_PROCESSES copies of SCRIPT
# with torchrun (one per GPU with nccl; on a machine without a GPU, CPU processes with gloo).
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node. PYTHON picks the interpreter
# (default: the repository's .venv/bin/python after tools/setup_env.sh, else python).
set -euo pipefail
NPROC=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/python.sh"
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}"
# SCRIPT --check-only first, once: a missing dataset or start checkpoint is one line per problem, not one per
# process and torchrun's traceback (set -e ends here when it fails)
"$PYTHON" "$@" --check-only
# torchrun sets OMP_NUM_THREADS=1 for every process unless it is set already.
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$@"
