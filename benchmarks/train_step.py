"""Throughput of one SEL training step of EDRNet on this machine, against its float32 matmul rate.

Times ``model.train_on_batch`` (``jit_compile=True``, Adam, lambda1*CE + lambda2*LSS) on a batch kept
in device memory, so input copies are not timed; the FLOPs per step are XLA's count of the same step
(``benchmarks/model_cost.py``, run in a JAX subprocess at the same batch size). The reference is a
large float32 matmul (2 n^3 FLOPs) compiled with XLA and timed in the same run, alternating with the
training steps so that both see the same load from other processes (the fraction is the median of the
per-pair ratios): the machine's practical limit. Prints one JSON object.

    python benchmarks/train_step.py                       # default config, batch 64, TF backend
    python benchmarks/train_step.py --backend jax --steps 10
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after 2 warm-up steps)")
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


def matmul_runner(n, keras, backend):
    """A warmed-up call of an XLA-compiled n x n float32 matmul (2 n^3 FLOPs) that waits for its result."""
    import numpy as np

    a = keras.ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n)).astype("float32"))
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


def train_flops_per_video(args):
    """XLA's FLOPs per video of the SEL training step, from model_cost.py in a JAX subprocess."""
    script = pathlib.Path(__file__).with_name("model_cost.py")
    out = subprocess.run([sys.executable, str(script), "--batch", str(args.batch), "--width", str(args.width),
                          "--visual-width", str(args.visual_width)], check=True, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    from edrnet_tf import EDRNet, EDRNetConfig, ave
    from edrnet_tf.model import losses

    load_before = os.getloadavg()
    cost = train_flops_per_video(args)
    config = EDRNetConfig(width=args.width, visual_width=args.visual_width)
    model = EDRNet(config)
    loss, loss_weights = losses.objective(config, "sel")
    model.compile(optimizer="adam", loss=loss, loss_weights=loss_weights, jit_compile=True)
    rng = np.random.default_rng(0)
    n = ave.N_SEGMENTS
    x = {"audio": rng.standard_normal((args.batch, n, ave.AUDIO_DIM)).astype("float32"),
         "visual": rng.standard_normal((args.batch, n, *ave.VISUAL_SHAPE)).astype("float32")}
    labels = np.where(rng.random((args.batch, n)) < 0.4, ave.BACKGROUND, rng.integers(0, 28, (args.batch, n)))
    x = keras.tree.map_structure(keras.ops.convert_to_tensor, x)
    y = {"probs": keras.ops.convert_to_tensor(labels.astype("int32"))}
    y["features"] = y["probs"]
    step = lambda: model.train_on_batch(x, y)  # noqa: E731  (returns host floats: the step has finished)
    start = time.perf_counter()
    step()
    compile_s = time.perf_counter() - start
    step()
    matmul = matmul_runner(args.matmul_size, keras, args.backend)
    step_times, matmul_times = [], []
    for _ in range(args.steps):  # alternate, so both see the same background load
        step_times.append(timed(step, 1)[0])
        matmul_times.append(timed(matmul, 1)[0])
    mean = float(np.mean(step_times))
    step_flops = cost["train_step_flops_per_video"] * args.batch
    achieved = step_flops / mean
    peak = 2 * args.matmul_size ** 3 / float(np.mean(matmul_times))
    fraction = float(np.median([(step_flops / s) / (2 * args.matmul_size ** 3 / m)
                                for s, m in zip(step_times, matmul_times)]))
    print(json.dumps({
        "backend": args.backend, "jit_compile": True, "batch": args.batch, "config": cost["config"],
        "params": cost["params"], "train_step_flops_per_video": cost["train_step_flops_per_video"],
        "step_s_mean": mean, "step_s_best": min(step_times), "first_step_s_incl_compile": compile_s,
        "videos_per_s": args.batch / mean, "achieved_flops_per_s": achieved,
        "matmul_flops_per_s": peak, "matmul_size": args.matmul_size,
        "fraction_of_matmul": fraction,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }))


if __name__ == "__main__":
    main()
