#!/usr/bin/env bash
# Large batches on a GPU, accuracy beside speed (docs/accelerators.md#large-batches): the CPU comparison of
# learning-rate rules at batch 1024 repeated on the accelerator with python -m edrnet_tf.train itself, on the
# same SYNTHETIC 1200-video set (generated here with NumPy and read as --dataset ave, so --learning-rate is the
# rate at batch 32 as on the CPU; nothing imports TensorFlow) and the same schedule
# (d = 256, d_v = 128, S = 250, 20 epochs, seed 0, features held on the device), plus bfloat16 at batch 1024.
#
# Needs JAX with CUDA, Keras and this repository installed (pip install -e . --no-deps; TensorFlow not needed).
# About 5 minutes on one H100/H200-class GPU; one JSON line per run (validation pick, test figure, wall
# seconds) in $OUT (default: benchmarks/gpu-large-batch.jsonl).
#
#     bash benchmarks/gpu_large_batch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-benchmarks/gpu-large-batch.jsonl}
RUNS=${RUNS:-$(mktemp -d)}
VIDEOS=${VIDEOS:-1200} EPOCHS=${EPOCHS:-20} S=${S:-250}  # smaller for a smoke test
: > "$OUT"

run() {
    local name=$1; shift
    local start=$SECONDS
    python -m edrnet_tf.train --dataset ave --manual-dir "$RUNS/synthetic" --data-dir "$RUNS/tfds" \
        --width 256 --visual-width 128 --epochs "$EPOCHS" --smb-per-class "$S" --early-stopping 0 --jit-compile \
        --data-placement device --seed 0 --output "$RUNS/$name" "$@" > "$RUNS/$name.log" 2>&1 \
        || { tail -5 "$RUNS/$name.log"; return 1; }
    python - "$RUNS/$name" "$name" $((SECONDS - start)) "$*" <<'PY' | tee -a "$OUT"
import json, sys
figures = json.load(open(f"{sys.argv[1]}/metrics.json"))
print(json.dumps({"run": sys.argv[2], "flags": sys.argv[4], "wall_s": int(sys.argv[3]),
                  "best_val_segment_accuracy": figures["best_epoch_val_segment_accuracy"],
                  "test_b2ilc": figures["headline"]["accuracy"], "data": "SYNTHETIC (data.synthetic, seed 0)"}))
PY
}

python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu' or '$VIDEOS' != '1200', f'expected a GPU, found {d}'; print(d)"
python -m edrnet_tf.data.synthetic --out "$RUNS/synthetic" --videos "$VIDEOS" --seed 0
run b32 --batch-size 32
run b1024_none --batch-size 1024
run b1024_sqrt --batch-size 1024 --lr-scaling sqrt --warmup-epochs $((EPOCHS / 10)) --lr-schedule cosine
run b1024_linear --batch-size 1024 --lr-scaling linear --warmup-epochs $((EPOCHS / 10)) --lr-schedule cosine
run b1024_sqrt_bf16 --batch-size 1024 --lr-scaling sqrt --warmup-epochs $((EPOCHS / 10)) --lr-schedule cosine \
    --mixed-precision bfloat16
