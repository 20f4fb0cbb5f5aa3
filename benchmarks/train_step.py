"""Throughput of EDRNet's SEL training, end to end and model only, against this machine's matmul rate.

Two figures per (placement, precision, batch), in one run (docs/accelerators.md):

* end to end: ``model.fit`` over one epoch of a feature table made on the spot with NumPy (``--videos``
  videos, AVE-like spans; ``--smb-per-class`` S fused videos per class drawn every epoch), sampling, feeding
  and stepping included. ``--placement host``: each batch is gathered from the table in host memory and
  copied in (``training.device_data.EpochBatches`` with ``features``); ``device``: the table is held on the
  device (``ResidentFeatures``) and only (row, segment) indices are fed. The first epoch compiles; the
  second is timed.
* model only (the ceiling): ``model.train_on_batch`` on a batch already on the device, input copies not
  timed. The FLOPs per step are XLA's count of the same step (``benchmarks/model_cost.py``, run in a JAX
  subprocess at the same batch size). The reference is a large matmul in the step's compute dtype (2 n^3
  FLOPs) compiled with XLA and timed in the same run, alternating with the training steps so that both
  see the same load from other processes (the fraction is the median of the per-pair ratios).

``--precision bfloat16`` trains under Keras' ``mixed_bfloat16`` policy (float32 weights, head and losses)
with the resident table held in bfloat16. Prints one JSON object per combination (JSON lines). On the JAX
backend nothing imports TensorFlow, so it runs on a JAX + CUDA machine without it (``benchmarks/gpu.sh``).

    python benchmarks/train_step.py                       # default config, batch 64, TF backend, host
    python benchmarks/train_step.py --backend jax --placement host device --precision float32 bfloat16 \\
        --batch 16 --videos 64 --smb-per-class 2 --steps 4
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--placement", nargs="+", choices=("host", "device"), default=["host"])
    parser.add_argument("--precision", nargs="+", choices=tuple(PRECISIONS), default=["float32"])
    parser.add_argument("--batch", nargs="+", type=int, default=[64])
    parser.add_argument("--videos", type=int, default=3339, help="rows of the feature table (AVE train: 3339)")
    parser.add_argument("--smb-per-class", type=int, default=0, help="S, fused videos per class and epoch")
    parser.add_argument("--steps", type=int, default=6, help="timed model-only steps (after 2 warm-up steps)")
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--visual-width", type=int, default=512)
    parser.add_argument("--matmul-size", type=int, default=4096)
    return parser.parse_args(argv)


def timed(fn, repeats):
    """Best-of and mean seconds per call of ``fn`` (already warmed up)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), sum(times) / len(times)


def matmul_runner(n, keras, backend, dtype):
    """A warmed-up call of an XLA-compiled n x n matmul in ``dtype`` (2 n^3 FLOPs) that waits for its result."""
    import numpy as np

    a = keras.ops.cast(np.random.default_rng(0).standard_normal((n, n)).astype("float32"), dtype)
    if backend == "jax":
        import jax

        f = jax.jit(lambda x: x @ x)
        run = lambda: f(a).block_until_ready()  # noqa: E731
    else:
        import tensorflow as tf

        f = tf.function(lambda x: tf.matmul(x, x), jit_compile=True)
        run = lambda: f(a).numpy()  # noqa: E731
    run()
    return run


def train_flops_per_video(args, batch):
    """XLA's FLOPs per video of the SEL training step, from model_cost.py in a JAX subprocess."""
    script = pathlib.Path(__file__).with_name("model_cost.py")
    out = subprocess.run([sys.executable, str(script), "--batch", str(batch), "--width", str(args.width),
                          "--visual-width", str(args.visual_width)], check=True, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def feature_table(videos, seed=0):
    """A training split made with NumPy: random features and AVE-like labels (one event class per video,
    two thirds of the spans 0-10 s, the others 2-9 s long)."""
    import numpy as np

    from edrnet_tf import ave

    rng = np.random.default_rng(seed)
    n = ave.N_SEGMENTS
    classes = rng.integers(0, ave.NUM_EVENTS, videos)
    full = rng.random(videos) < 2 / 3
    length = np.where(full, n, rng.integers(2, n, videos))
    start = (rng.random(videos) * (n - length + 1)).astype(int)
    t = np.arange(n)
    inside = (t >= start[:, None]) & (t < (start + length)[:, None])
    return {"audio": rng.standard_normal((videos, n, ave.AUDIO_DIM), dtype=np.float32),
            "visual": rng.random((videos, n, *ave.VISUAL_SHAPE), dtype=np.float32),
            "segment_labels": np.where(inside, classes[:, None], ave.BACKGROUND), "video_label": classes}


class EpochTimer:
    """Seconds of each epoch of ``fit``, sampling, feeding and stepping included."""

    def __init__(self, keras):
        self.seconds = []
        timer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.seconds.append(time.perf_counter() - timer.start)

        self.callback = Callback()


def end_to_end(keras, edrnet, compile_, table, placement, precision, batch, per_class):
    """Videos per second of the second ``fit`` epoch (the first compiles), and the videos of an epoch."""
    from edrnet_tf.training import device_data

    features = None
    model = edrnet
    if placement == "device":
        resident = device_data.ResidentFeatures.from_arrays(table["audio"], table["visual"],
                                                            feature_dtype=precision)
        model = compile_(device_data.device_training_model(edrnet, resident))
    else:
        features = (table["audio"], table["visual"])
    batches = device_data.EpochBatches(table["segment_labels"], table["video_label"], batch, list(model.output),
                                       per_class=per_class, seed=0, features=features)
    timer = EpochTimer(keras)
    model.fit(batches, epochs=2, shuffle=False, verbose=0, callbacks=[timer.callback])
    return batches.videos / timer.seconds[1], batches.videos


def model_only(keras, model, batch, matmul, steps):
    """Seconds of ``train_on_batch`` steps on a resident batch, alternating with the matmul reference."""
    import numpy as np

    from edrnet_tf import ave

    rng = np.random.default_rng(0)
    n = ave.N_SEGMENTS
    x = {"audio": rng.standard_normal((batch, n, ave.AUDIO_DIM)).astype("float32"),
         "visual": rng.standard_normal((batch, n, *ave.VISUAL_SHAPE)).astype("float32")}
    labels = np.where(rng.random((batch, n)) < 0.4, ave.BACKGROUND, rng.integers(0, 28, (batch, n)))
    x = keras.tree.map_structure(keras.ops.convert_to_tensor, x)
    y = {name: keras.ops.convert_to_tensor(labels.astype("int32")) for name in model.output}
    step = lambda: model.train_on_batch(x, y)  # noqa: E731  (returns host floats: the step has finished)
    start = time.perf_counter()
    step()
    compile_s = time.perf_counter() - start
    step()
    step_times, matmul_times = [], []
    for _ in range(steps):  # alternate, so both see the same background load
        step_times.append(timed(step, 1)[0])
        matmul_times.append(timed(matmul, 1)[0])
    return step_times, matmul_times, compile_s


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    from edrnet_tf import EDRNet, EDRNetConfig
    from edrnet_tf.model import losses

    load_before = os.getloadavg()
    costs = {batch: train_flops_per_video(args, batch) for batch in args.batch}
    table = feature_table(args.videos)
    config = EDRNetConfig(width=args.width, visual_width=args.visual_width)
    loss, loss_weights = losses.objective(config, "sel")

    def compile_(model):
        model.compile(optimizer="adam", loss=loss, loss_weights=loss_weights, jit_compile=True)
        return model

    for precision in args.precision:
        keras.mixed_precision.set_dtype_policy(PRECISIONS[precision])
        matmul = matmul_runner(args.matmul_size, keras, args.backend, precision)
        for batch in args.batch:
            for placement in args.placement:
                keras.backend.clear_session()
                edrnet = compile_(EDRNet(config))
                step_times, matmul_times, compile_s = model_only(keras, edrnet, batch, matmul, args.steps)
                e2e, epoch_videos = end_to_end(keras, edrnet, compile_, table, placement, precision, batch,
                                               args.smb_per_class)
                cost = costs[batch]
                mean = float(np.mean(step_times))
                step_flops = cost["train_step_flops_per_video"] * batch
                fraction = float(np.median([(step_flops / s) / (2 * args.matmul_size ** 3 / m)
                                            for s, m in zip(step_times, matmul_times)]))
                print(json.dumps({
                    "backend": args.backend, "device": keras.distribution.list_devices()[0],
                    "placement": placement, "precision": precision, "batch": batch,
                    "smb_per_class": args.smb_per_class, "table_videos": args.videos, "epoch_videos": epoch_videos,
                    "end_to_end_videos_per_s": e2e, "model_only_videos_per_s": batch / mean,
                    "end_to_end_fraction_of_model_only": e2e / (batch / mean),
                    "jit_compile": True, "config": cost["config"], "params": cost["params"],
                    "train_step_flops_per_video": cost["train_step_flops_per_video"],
                    "step_s_mean": mean, "step_s_best": min(step_times), "first_step_s_incl_compile": compile_s,
                    "achieved_flops_per_s": step_flops / mean,
                    "matmul_flops_per_s": 2 * args.matmul_size ** 3 / float(np.mean(matmul_times)),
                    "matmul_size": args.matmul_size, "matmul_dtype": precision, "fraction_of_matmul": fraction,
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(),
                }), flush=True)


if __name__ == "__main__":
    main()
