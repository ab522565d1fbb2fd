#!/usr/bin/env bash
# Multi-GPU / multi-node distillation with torchrun: FSDP over every process (train.py shards when
# WORLD_SIZE > 1). Run the same command on every node; arguments after the script go to train.py.
#
#   GPUS_PER_NODE  processes on this node (default: every visible GPU)
#   NNODES         nodes in the job (default 1)
#   NODE_RANK      this node's index, 0 … NNODES−1 (default 0)
#   MASTER_ADDR    address of node 0 (default localhost)
#   MASTER_PORT    a free port on node 0 (default 29500)
#
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 ./launch.sh --data tokens.bin --steps 20000 --batch 4 --bf16
set -euo pipefail
cd "$(dirname "$0")"
GPUS_PER_NODE="${GPUS_PER_NODE:-$(python3 -c 'import torch; print(max(1, torch.cuda.device_count()))')}"
exec torchrun \
  --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" --nproc_per_node "$GPUS_PER_NODE" \
  --master_addr "${MASTER_ADDR:-localhost}" --master_port "${MASTER_PORT:-29500}" \
  train.py "$@"
