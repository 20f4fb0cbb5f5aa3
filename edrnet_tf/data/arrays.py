"""One AVE split in memory, read straight from the release ``.h5`` files: the TensorFlow-free data path.

``read_split`` gives what ``pipeline.split_arrays`` gives (audio [M,10,128], visual [M,10,7,7,512] float32,
segment_labels [M,10], video_label [M], row [M] int64) from a manual-download folder (docs/data.md), with
the labels, splits and feature checks of the ``tfds_ave`` builder (``tfds_ave.ave_files``, which imports
neither TensorFlow nor TFDS). It is what training with the features on the device (``training.device_data``)
reads on a machine with JAX and no TensorFlow. A *built* TFDS dataset cannot be read without TensorFlow in
general (its TFRecord shards and feature decoding are TensorFlow's), so this path starts from the ``.h5`` folder.

The rows come in ascending row order (the ``Annotations.txt`` order), not in the stored order of the built
dataset; each split holds the same videos with the same labels as the builder's split of the same config.
"""

import pathlib

import numpy as np

from edrnet_tf import ave
from tfds_ave import ave_files as files
from tfds_ave import ave_labels

# The tfds_ave builder configs (tfds_ave_dataset_builder.Builder.BUILDER_CONFIGS, which imports TFDS).
CONFIGS = ("supervised", "corrected", "weakly_supervised")
KEYS = ("audio", "visual", "segment_labels", "video_label", "row")


def read_split(manual_dir, split, config="supervised", chunk=files.READ_CHUNK):
    """One split of a manual-download AVE folder as NumPy arrays, in ascending row order.

    Labels follow the builder's config: ``"supervised"`` the O-AVE segment labels; ``"corrected"`` the
    test split's from ``right_labels.h5``; ``"weakly_supervised"`` the train split's video label on every
    segment, followed by the background-only videos of the ``*_noisy.h5`` files (row ``-1 - j``).

    Args:
        manual_dir: the folder holding the AVE release files (real or ``data.synthetic``).
        split: "train", "validation" or "test".
        config: one of ``CONFIGS``.
        chunk: feature rows read at a time (float64 rows are converted to float32 chunk by chunk).
    Returns:
        dict: audio [M, 10, 128], visual [M, 10, 7, 7, 512] float32; segment_labels [M, 10],
        video_label [M], row [M] int64.
    """
    out, parts = _layout(manual_dir, split, config)
    videos = len(out["row"])
    out["audio"] = np.empty((videos,) + files.AUDIO_TAIL, np.float32)
    out["visual"] = np.empty((videos,) + files.VISUAL_TAIL, np.float32)
    at = 0
    for audio_path, visual_path, rows in parts:
        for i, (_, audio, visual) in enumerate(files.iter_features(audio_path, visual_path, rows, chunk), start=at):
            out["audio"][i] = audio
            out["visual"][i] = visual
        at += len(rows)
    return out


def split_labels(manual_dir, split, config="supervised"):
    """``read_split``'s ``segment_labels``, ``video_label`` and ``row`` without reading the features."""
    return _layout(manual_dir, split, config)[0]


def iter_split_features(manual_dir, split, config="supervised", videos=64, chunk=files.READ_CHUNK):
    """Yields ``{"audio", "visual"}`` float32 batches of up to ``videos`` videos of ``read_split``'s split, in its
    order, holding one batch at a time (input statistics of a split larger than memory)."""
    _, parts = _layout(manual_dir, split, config)
    for audio_path, visual_path, rows in parts:
        batch = []
        for _, audio, visual in files.iter_features(audio_path, visual_path, rows, chunk):
            batch.append((audio, visual))
            if len(batch) == videos:
                yield _stack(batch)
                batch = []
        if batch:
            yield _stack(batch)


def _stack(batch):
    return {"audio": np.stack([a for a, _ in batch]), "visual": np.stack([v for _, v in batch])}


def _layout(manual_dir, split, config):
    """The checked labels of a split (``segment_labels``, ``video_label``, ``row``) and where its features
    lie: ``[(audio file, visual file, rows), ...]`` in order."""
    if split not in files.SPLITS:
        raise ValueError(f"read_split(split={split!r}) is invalid: expected one of {files.SPLITS}")
    if config not in CONFIGS:
        raise ValueError(f"read_split(config={config!r}) is invalid: expected one of {CONFIGS}")
    folder = pathlib.Path(manual_dir)
    files.require(folder, [files.AUDIO, files.VISUAL, files.ANNOTATIONS], f"read_split({config})")
    labels = ave_labels.read_labels(folder)
    count = len(labels.annotations)
    why = f" for the {count} rows of {files.ANNOTATIONS}"
    files.check_feature_file(folder / files.AUDIO, count, files.AUDIO_TAIL, why)
    files.check_feature_file(folder / files.VISUAL, count, files.VISUAL_TAIL, why)
    rows = np.sort(labels.orders[split])
    segment = labels.segment
    if config == "corrected" and split == "test":
        files.require(folder, [files.RIGHT_LABELS], "read_split(corrected)")
        segment, _ = ave_labels.segment_labels_h5(folder, files.RIGHT_LABELS, count)
    weak = config == "weakly_supervised" and split == "train"
    noisy = 0
    if weak:
        files.require(folder, [files.NOISY_AUDIO, files.NOISY_VISUAL, files.NOISY_LABELS], "read_split(weak)")
        noisy = ave_labels.check_noisy(folder)
    video = labels.video[rows]
    found = {
        "segment_labels": np.concatenate([np.repeat(video[:, None], ave.N_SEGMENTS, 1) if weak else segment[rows],
                                          np.full((noisy, ave.N_SEGMENTS), ave.BACKGROUND)]).astype(np.int64),
        "video_label": np.concatenate([video, np.full(noisy, ave.BACKGROUND)]).astype(np.int64),
        "row": np.concatenate([rows, -1 - np.arange(noisy)]).astype(np.int64),
    }
    parts = [(folder / files.AUDIO, folder / files.VISUAL, rows)]
    if noisy:
        parts.append((folder / files.NOISY_AUDIO, folder / files.NOISY_VISUAL, np.arange(noisy)))
    return found, parts
