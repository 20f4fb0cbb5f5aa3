"""SavedModel serving speed on CPU: latency of one video (p50, p99) and throughput at batch 256.

Times the ``serving_default`` signature of a SavedModel exported by ``edrnet_tf.serving.export`` (probs, B2ILC
labels), loaded with ``tf.saved_model.load``, on random AVE-shaped inputs (10 segments). Without
``--saved-model`` it exports a fresh model of the default (paper) config first: speed does not depend on
the weights. Prints one JSON object.

    python benchmarks/serving.py                          # paper-size EDRNet, freshly exported
    python benchmarks/serving.py --saved-model runs/X/saved_model --batch 256 --runs 5
"""

import argparse
import json
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from edrnet_tf import EDRNet, EDRNetConfig, ave
from edrnet_tf.serving import export  # noqa: E402


def timings(serve, batch, runs, seed=0):
    """Wall seconds of ``runs`` calls of ``serve`` on a [batch, 10, ...] input (after one warm-up call)."""
    rng = np.random.default_rng(seed)
    audio = tf.constant(rng.normal(size=(batch, ave.N_SEGMENTS, ave.AUDIO_DIM)).astype(np.float32))
    visual = tf.constant(rng.uniform(size=(batch, ave.N_SEGMENTS, *ave.VISUAL_SHAPE)).astype(np.float32))
    serve(audio=audio, visual=visual)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        out = serve(audio=audio, visual=visual)
        out["labels"].numpy()
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved-model", default=None, help="SavedModel folder (default: export a fresh one).")
    parser.add_argument("--latency-runs", type=int, default=200, help="Single-video calls timed.")
    parser.add_argument("--batch", type=int, default=256, help="Throughput batch size.")
    parser.add_argument("--runs", type=int, default=3, help="Throughput calls timed.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.saved_model or export.export_saved_model(EDRNet(EDRNetConfig()), os.path.join(tmp, "sm"))
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        single = timings(serve, 1, args.latency_runs)
        batched = timings(serve, args.batch, args.runs)
    print(json.dumps({
        "benchmark": "serving",
        "saved_model": str(args.saved_model or "fresh export of EDRNetConfig() (paper k=3, L=4, d=768)"),
        "device": "cpu", "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_average_1min": os.getloadavg()[0],
        "tensorflow": tf.__version__,
        "latency_ms": {"p50": 1e3 * float(np.percentile(single, 50)), "p99": 1e3 * float(np.percentile(single, 99)),
                       "runs": args.latency_runs},
        "throughput_videos_per_s": {"batch": args.batch, "videos_per_s": args.batch / float(np.median(batched)),
                                    "runs": args.runs, "median_call_s": float(np.median(batched))},
    }))


if __name__ == "__main__":
    main()
