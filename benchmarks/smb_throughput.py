"""SMB fusion throughput and memory with full-size features; prints one JSON object.

Labels are the real AVE training split (``edrnet_tf/ave_meta/trainSet.txt``: 3339 videos, so the state
databases are the real ones); features are random float32 of the full size (3339 x 10 x 7 x 7 x 512,
3.35 GB), held as ``tf.Variable``s exactly as ``smb_training_dataset`` holds NumPy input.

Measures: fused videos/s of ``fused_dataset`` (endless stream, batched), videos/s of one epoch of
``smb_training_dataset`` (originals + S fused per class), process RSS while iterating the training set
over the size of the training features, and the fused rate over the default EDRNet's training rate
(measured here with a few ``train_on_batch`` steps unless ``--train-rate`` gives the figure, e.g. from
``benchmarks/train_step.py``). Needs about 2x the features in RAM while the features are copied.

    python benchmarks/smb_throughput.py [--seconds 20] [--batch 32] [--per-class 250] [--train-rate R]
"""

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from edrnet_tf import ave  # noqa: E402
from edrnet_tf.data import smb  # noqa: E402


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def train_split_labels():
    rows = ave.read_annotations(ave.META_DIR / "trainSet.txt", header=False)
    seg = np.full((len(rows), ave.N_SEGMENTS), ave.BACKGROUND, np.int64)
    for m, a in enumerate(rows):
        seg[m, a.start:a.end] = a.label
    return seg, np.array([a.label for a in rows], np.int64)


def rate(dataset, seconds=None, on_batch=None):
    """Videos/s of iterating ``dataset`` (batched) for ``seconds`` (or to its end), after one warm-up batch."""
    it = iter(dataset)
    next(it)
    videos, start = 0, time.perf_counter()
    for batch in it:
        videos += int(batch["video_label"].shape[0])
        if on_batch:
            on_batch()
        if seconds and time.perf_counter() - start > seconds:
            break
    return videos, videos / (time.perf_counter() - start)


def training_rate(batch, steps=3):
    """Videos/s of ``train_on_batch`` of the default-config EDRNet (SEL objective) on random inputs."""
    import keras

    from edrnet_tf.config import EDRNetConfig
    from edrnet_tf.model import EDRNet
    from edrnet_tf.model.losses import objective

    config = EDRNetConfig()
    model = EDRNet(config)
    losses, weights = objective(config, "sel")
    model.compile(optimizer=keras.optimizers.Adam(), loss=losses, loss_weights=weights)
    rng = np.random.default_rng(0)
    x = {"audio": rng.standard_normal((batch, 10, 128), np.float32),
         "visual": rng.random((batch, 10, 7, 7, 512), np.float32)}
    labels = rng.integers(0, ave.NUM_CLASSES, (batch, 10))
    y = {"probs": labels, "features": labels}
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds of the fused stream")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=250, help="S of the training set")
    parser.add_argument("--videos", type=int, default=None, help="use only the first N training videos (smoke runs)")
    parser.add_argument("--train-rate", type=float, default=None,
                        help="default model training videos/s (measured here if not given)")
    args = parser.parse_args()

    report = {"machine": f"{os.cpu_count()}-core {platform.machine()}", "tensorflow": tf.__version__,
              "load_before": load(), "batch": args.batch, "per_class": args.per_class}
    seg, vid = train_split_labels()
    seg, vid = seg[:args.videos], vid[:args.videos]
    m = len(vid)
    rss_start = rss_bytes()
    rng = np.random.default_rng(0)
    audio = rng.random((m, ave.N_SEGMENTS, ave.AUDIO_DIM), np.float32)
    visual = rng.random((m, ave.N_SEGMENTS) + ave.VISUAL_SHAPE, np.float32)
    feature_bytes = audio.nbytes + visual.nbytes
    # Hold the features once, as smb_training_dataset does with NumPy input, then drop the NumPy copy.
    audio_v, visual_v = smb.hold_features(audio, "audio"), smb.hold_features(visual, "visual")
    rss_held_with_numpy = rss_bytes()
    del audio, visual
    gc.collect()
    train_arrays = {"audio": audio_v, "visual": visual_v, "segment_labels": seg, "video_label": vid}

    db = smb.StateDatabase.from_labels(seg, vid)
    fused = smb.fused_dataset(db, audio_v, visual_v, seed=0).batch(args.batch).prefetch(2)
    n_fused, fused_rate = rate(fused, seconds=args.seconds)

    peak = [rss_bytes()]
    training = smb.smb_training_dataset(train_arrays, args.per_class, seed=0).batch(args.batch).prefetch(2)
    n_epoch, epoch_rate = rate(training, on_batch=lambda: peak.append(rss_bytes()))

    train_rate = args.train_rate if args.train_rate else training_rate(args.batch)
    # The held features are still alive here: this is the memory of training with fusion on.
    rss_after_training = rss_bytes()
    report.update({
        "videos_train": m,
        "feature_bytes": feature_bytes,
        "fused_videos": n_fused,
        "fused_videos_per_s": round(fused_rate, 1),
        "training_set_epoch_videos": n_epoch + args.batch,
        "training_set_videos_per_s": round(epoch_rate, 1),
        "rss_before_features_bytes": rss_start,
        "rss_features_held_and_numpy_bytes": rss_held_with_numpy,
        "rss_max_while_iterating_training_set_bytes": max(peak),
        "rss_over_feature_bytes": round(max(peak) / feature_bytes, 3),
        "rss_after_training_steps_bytes": rss_after_training,
        "rss_after_training_over_feature_bytes": round(rss_after_training / feature_bytes, 3),
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "default_model_training_videos_per_s": round(train_rate, 2),
        "train_rate_source": "given (--train-rate)" if args.train_rate else f"measured: train_on_batch, batch {args.batch}",
        "fused_over_training_rate": round(fused_rate / train_rate, 1),
        "load_after": load(),
    })
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
