"""tf.data input pipelines over the built ``tfds_ave`` dataset (``builds`` makes it).

``load_split`` and ``split_arrays`` read a built split; ``train_pipeline`` and ``eval_pipeline`` turn a dataset of
examples into batched dicts ``{"audio", "visual", "segment_labels", "video_label"}``.
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from edrnet_tf import ave
from tfds_ave import Builder  # importing the builder registers it with TFDS
from tfds_ave.ave_files import SPLITS

CONFIGS = tuple(config.name for config in Builder.BUILDER_CONFIGS)
BATCH_KEYS = ("audio", "visual", "segment_labels", "video_label")
BYTES_PER_VIDEO = 4 * ave.N_SEGMENTS * (ave.AUDIO_DIM + int(np.prod(ave.VISUAL_SHAPE)))  # ~1 MB float32
DEFAULT_CACHE_BYTES = 4 << 30
SHUFFLE_BUFFER = 256  # videos held by the shuffle buffer when the dataset is not cached


def _check_config(config):
    if config not in CONFIGS:
        raise ValueError(f"config: expected one of {', '.join(CONFIGS)}, found {config!r}")


def _builder(data_dir, config):
    _check_config(config)
    return tfds.builder(f"tfds_ave/{config}", data_dir=str(data_dir))


def is_built(data_dir, config):
    return _builder(data_dir, config).is_prepared()


def not_built(data_dir, config, alternative=""):
    """The one-line error of a ``tfds_ave`` config that is not built in ``data_dir``: the build command."""
    return (f"tfds_ave/{config} is not built in {data_dir}: build it with `tfds build tfds_ave --imports tfds_ave "
            f"--config {config} --manual_dir <folder with the AVE .h5 files> --data_dir {data_dir}`" + alternative)


def load_split(data_dir, split, config="supervised"):
    """The examples of one built split as a ``tf.data.Dataset`` (in the stored order)."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {', '.join(SPLITS)}, found {split!r}")
    builder = _builder(data_dir, config)
    if not builder.is_prepared():
        raise FileNotFoundError(not_built(data_dir, config))
    return builder.as_dataset(split=split, shuffle_files=False)


FEATURE_HOLDERS = ("numpy", "variable")


def _feature_array(features, shape, name):
    if features == "numpy":
        return np.empty(shape, np.float32)
    with tf.device("/CPU:0"):
        return tf.Variable(tf.zeros(shape, tf.float32), trainable=False, name=name)


def split_arrays(data_dir, split, config="supervised", features="numpy"):
    """One split in memory: audio [M,10,128], visual [M,10,7,7,512] float32, segment_labels [M,10],
    video_label [M] and row [M] int64, in the stored order.

    ``features="variable"`` fills the audio and visual features straight into CPU ``tf.Variable``s, 64
    videos at a time, so the split is held once (what SMB fusion gathers from) with no NumPy copy beside
    it; ``"numpy"`` gives NumPy arrays.
    """
    if features not in FEATURE_HOLDERS:
        raise ValueError(f"split_arrays(features={features!r}) is invalid: expected one of {FEATURE_HOLDERS}")
    ds = load_split(data_dir, split, config)
    total = int(ds.cardinality())
    out = {
        "audio": _feature_array(features, (total, ave.N_SEGMENTS, ave.AUDIO_DIM), f"{split}_audio"),
        "visual": _feature_array(features, (total, ave.N_SEGMENTS) + ave.VISUAL_SHAPE, f"{split}_visual"),
        "segment_labels": np.empty((total, ave.N_SEGMENTS), np.int64),
        "video_label": np.empty((total,), np.int64),
        "row": np.empty((total,), np.int64),
    }
    at = 0
    for batch in ds.batch(64).as_numpy_iterator():
        n = len(batch["row"])
        for key, array in out.items():
            if isinstance(array, tf.Variable):
                array.scatter_update(tf.IndexedSlices(batch[key], tf.range(at, at + n)))
            else:
                array[at: at + n] = batch[key]
        at += n
    return out


def _to_batch_dict(example):
    return {
        "audio": tf.cast(example["audio"], tf.float32),
        "visual": tf.cast(example["visual"], tf.float32),
        "segment_labels": tf.cast(example["segment_labels"], tf.int32),
        "video_label": tf.cast(example["video_label"], tf.int32),
    }


def _should_cache(ds, cache, cache_bytes):
    if cache != "auto":
        return bool(cache)
    count = int(ds.cardinality())
    return count >= 0 and count * BYTES_PER_VIDEO <= cache_bytes


def train_pipeline(ds, batch_size, shuffle=True, seed=None, cache="auto", cache_bytes=DEFAULT_CACHE_BYTES,
                   drop_remainder=False):
    """Training batches: (cache) -> shuffle every epoch -> batch -> prefetch.

    Args:
        ds: unbatched example dicts holding at least ``BATCH_KEYS`` (``load_split`` or SMB datasets).
        batch_size: videos per batch; the last batch of an epoch may be smaller.
        shuffle: reshuffle the videos every epoch.
        seed: shuffle seed (None: a fresh order per run).
        cache: True, False, or "auto": cache the decoded examples in memory when the dataset size is
            known and at most ``cache_bytes`` (about 1 MB per video). Pass False for datasets that must
            change every epoch (SMB fused videos).
        drop_remainder: drop the last batch of an epoch when it is smaller.
    """
    cached = _should_cache(ds, cache, cache_bytes)
    ds = ds.map(_to_batch_dict, num_parallel_calls=tf.data.AUTOTUNE)
    if cached:
        ds = ds.cache()
    if shuffle:
        count = int(ds.cardinality())
        buffer = count if cached and count > 0 else SHUFFLE_BUFFER
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def eval_pipeline(ds, batch_size, cache="auto", cache_bytes=DEFAULT_CACHE_BYTES):
    """Evaluation batches in the stored order: (cache) -> batch -> prefetch."""
    cached = _should_cache(ds, cache, cache_bytes)
    ds = ds.map(_to_batch_dict, num_parallel_calls=tf.data.AUTOTUNE)
    if cached:
        ds = ds.cache()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
