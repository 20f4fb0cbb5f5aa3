#!/usr/bin/env bash
# The GPU set of docs/accelerators.md in one run: EDRNet SEL training, end to end and model only, for
# placement host/device x precision float32/bfloat16 x batch 128/1024, SMB on (S=250 as in the paper),
# over a 3339-video feature table (the AVE training split's size) made on the spot with NumPy.
#
# Needs JAX with CUDA, Keras and this repository installed (pip install -e .); TensorFlow is not needed
# (KERAS_BACKEND=jax; nothing on that path imports it). About 4 minutes on one H100/H200-class GPU; prints
# one JSON line per combination and keeps them in $OUT (default: benchmarks/gpu-results.jsonl).
#
#     bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-benchmarks/gpu-results.jsonl}

python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', f'expected a GPU, found {d}'; print(d)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 290 python benchmarks/train_step.py --backend jax --placement host device --precision float32 bfloat16 \
    --batch 128 1024 --videos 3339 --smb-per-class 250 --steps 10 --matmul-size 8192 | tee "$OUT"
