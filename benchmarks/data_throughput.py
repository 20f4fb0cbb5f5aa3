"""Data throughput: synthetic AVE generation, tfds_ave build (videos/s, peak RSS) and training-pipeline reads.

Writes a synthetic AVE set under ``--workdir`` (default: a fresh folder in /tmp, deleted at the end),
builds ``tfds_ave/supervised`` in a child process (its peak RSS is the build's), times the record of the
files a build was made from (``ave_files.fingerprint`` of every manual file, in a fresh process: what a run
given ``--manual-dir`` spends checking a built data dir; the files are in the page cache), reads the train split
through ``train_pipeline`` for two epochs (the first from disk, the second from the cache) and, unless
``--skip-model``, times default-config EDRNet SEL training steps for comparison. Prints one JSON object.

    python benchmarks/data_throughput.py --videos 1100     # visual_feature.h5 of 2.2 GB
    python benchmarks/data_throughput.py --videos 4143     # full size: 8.3 GB, checks 3339/402/402
"""

import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edrnet_tf import ave  # noqa: E402

CHILD = """
import json, resource, sys, time
{setup}
t = time.perf_counter()
{body}
print("RESULT " + json.dumps({{"seconds": time.perf_counter() - t,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
GENERATE = ("from edrnet_tf.data import synthetic", "synthetic.write_synthetic_ave(sys.argv[1], int(sys.argv[3]), 0)")
BUILD = ("from edrnet_tf.data import builds", "builds.build_dataset(sys.argv[1], sys.argv[2], 'supervised')")
FINGERPRINT = ("import pathlib; from tfds_ave import ave_files",
               "[ave_files.fingerprint(p) for p in pathlib.Path(sys.argv[1]).iterdir() if p.is_file()]")


def _child(code, *args):
    """Runs ``code`` = (imports, body) in a fresh Python process; returns the body's wall time and peak RSS."""
    out = subprocess.run([sys.executable, "-c", CHILD.format(setup=code[0], body=code[1]), *map(str, args)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child process failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1].split("RESULT ", 1)[1])


def _read_rates(data_dir, batch_size):
    from edrnet_tf.data import pipeline

    ds = pipeline.train_pipeline(pipeline.load_split(data_dir, "train"), batch_size, seed=0)
    rates = []
    for _ in range(2):
        t, n = time.perf_counter(), 0
        for batch in ds:
            n += int(batch["video_label"].shape[0])
        rates.append(n / (time.perf_counter() - t))
    return {"videos": n, "first_epoch_videos_per_s": rates[0], "cached_epoch_videos_per_s": rates[1]}


def _model_rate(batch_size, steps):
    """Default-config EDRNet SEL training on fixed random batches (videos/s, after one warm-up epoch)."""
    import keras
    import numpy as np
    import tensorflow as tf

    import edrnet_tf
    from edrnet_tf.model import losses

    config = edrnet_tf.EDRNetConfig()
    model = edrnet_tf.EDRNet(config)
    loss, weights = losses.objective(config, "sel")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, loss_weights=weights)
    rng = np.random.default_rng(0)
    x = {"audio": rng.standard_normal((batch_size, 10, ave.AUDIO_DIM), np.float32),
         "visual": np.abs(rng.standard_normal((batch_size, 10) + ave.VISUAL_SHAPE, np.float32))}
    y = rng.integers(0, ave.NUM_CLASSES, (batch_size, 10))
    ds = tf.data.Dataset.from_tensors((x, {"probs": y, "features": y})).repeat(steps)
    model.fit(ds, epochs=1, verbose=0)
    t = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return batch_size * steps / (time.perf_counter() - t)


def _summary(child, videos):
    return {"seconds": round(child["seconds"], 1), "videos_per_s": round(videos / child["seconds"], 1),
            "peak_rss_mb": round(child["peak_rss_mb"])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=1100, help="synthetic videos (1100: a 2.2 GB visual file)")
    parser.add_argument("--workdir", help="folder for the set (default: a new /tmp folder, deleted afterwards)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model-steps", type=int, default=8)
    parser.add_argument("--skip-model", action="store_true", help="do not time EDRNet training steps")
    args = parser.parse_args(argv)

    work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="edrnet_data_throughput_"))
    need = args.videos * 2 * 10 * 25088 * 8 * 1.5 * 1.1  # h5 float64 + tfds float32 + shuffle buffers
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"--workdir {work}: expected {need / 2**30:.1f} GiB free, found {free / 2**30:.1f} GiB")
    manual, data = work / "manual", work / "tfds"
    try:
        generate = _child(GENERATE, manual, data, args.videos)
        visual_gb = (manual / "visual_feature.h5").stat().st_size / 1e9
        build = _child(BUILD, manual, data)
        fingerprint = _child(FINGERPRINT, manual)
        manual_bytes = sum(p.stat().st_size for p in manual.iterdir() if p.is_file())
        import tensorflow_datasets as tfds

        from edrnet_tf.data import pipeline  # noqa: F401  (registers tfds_ave)

        builder = tfds.builder("tfds_ave/supervised", data_dir=str(data))
        counts = {s: builder.info.splits[s].num_examples for s in ("train", "validation", "test")}
        read = _read_rates(data, args.batch_size)
        model = None if args.skip_model else _model_rate(args.batch_size, args.model_steps)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "data": "synthetic",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "videos": args.videos,
        "visual_feature_h5_gb": round(visual_gb, 2),
        "split_sizes": counts,
        "generate": _summary(generate, args.videos),
        "build_supervised": _summary(build, args.videos),
        "fingerprint_manual_files": {"seconds": round(fingerprint["seconds"], 3),
                                     "manual_gb": round(manual_bytes / 1e9, 2)},
        "read_train_pipeline": {k: round(v, 1) for k, v in read.items()} | {"batch_size": args.batch_size},
    }
    if model is not None:
        result["edrnet_default_sel_training_videos_per_s"] = round(model, 1)
        result["read_over_training_rate"] = round(read["first_epoch_videos_per_s"] / model, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
