"""tf.data pipelines over the built tfds_ave dataset, and the synthetic-data cache."""

import numpy as np
import pytest
import tensorflow as tf

from edrnet_tf import ave
from edrnet_tf.data import builds, pipeline


def _epoch(ds):
    return [{k: v.numpy() for k, v in batch.items()} for batch in ds]


def test_train_batches_hold_the_model_inputs_and_targets(built_ave):
    batch = next(iter(pipeline.train_pipeline(pipeline.load_split(built_ave, "train"), 8, seed=0)))
    assert set(batch) == set(pipeline.BATCH_KEYS)
    assert batch["audio"].shape == (8, 10, 128) and batch["audio"].dtype == tf.float32
    assert batch["visual"].shape == (8, 10, 7, 7, 512) and batch["visual"].dtype == tf.float32
    assert batch["segment_labels"].shape == (8, 10) and batch["segment_labels"].dtype == tf.int32
    assert batch["video_label"].shape == (8,) and batch["video_label"].dtype == tf.int32


def test_train_epoch_sees_every_video_once_in_a_new_order_each_epoch(built_ave):
    arrays = pipeline.split_arrays(built_ave, "train")
    ds = pipeline.train_pipeline(pipeline.load_split(built_ave, "train"), 10, seed=3)
    first, second = _epoch(ds), _epoch(ds)
    keys = [np.concatenate([b["audio"][:, 0, 0] for b in epoch]) for epoch in (first, second)]
    expected = np.sort(arrays["audio"][:, 0, 0])
    np.testing.assert_array_equal(np.sort(keys[0]), expected)
    np.testing.assert_array_equal(np.sort(keys[1]), expected)
    assert not np.array_equal(keys[0], keys[1])
    n = len(expected)
    assert [len(b["audio"]) for b in first] == [10] * (n // 10) + ([n % 10] if n % 10 else [])


def test_train_order_is_reproducible_with_a_seed(built_ave):
    def order():
        ds = pipeline.train_pipeline(pipeline.load_split(built_ave, "train"), 16, seed=11)
        return np.concatenate([b["audio"][:, 0, 0] for b in _epoch(ds)])

    np.testing.assert_array_equal(order(), order())


def test_eval_batches_keep_the_stored_order(built_ave):
    arrays = pipeline.split_arrays(built_ave, "validation")
    batches = _epoch(pipeline.eval_pipeline(pipeline.load_split(built_ave, "validation"), 5))
    np.testing.assert_array_equal(np.concatenate([b["visual"] for b in batches]), arrays["visual"])
    np.testing.assert_array_equal(np.concatenate([b["segment_labels"] for b in batches]), arrays["segment_labels"])


def _counting_source(n):
    """An unbatched example dataset that counts how often its elements are produced."""
    reads = tf.Variable(0, dtype=tf.int64)

    def make(i):
        reads.assign_add(1)
        return {"audio": tf.zeros((10, 128)), "visual": tf.zeros((10, 7, 7, 512)),
                "segment_labels": tf.fill([10], tf.cast(i, tf.int64)), "video_label": i}

    return tf.data.Dataset.range(n).map(make), reads


@pytest.mark.parametrize("cache, reads_after_two_epochs", [("auto", 6), (True, 6), (False, 12)])
def test_cache_reads_the_source_once_when_it_fits(cache, reads_after_two_epochs):
    source, reads = _counting_source(6)
    ds = pipeline.train_pipeline(source, 4, seed=0, cache=cache)
    _epoch(ds), _epoch(ds)
    assert int(reads.numpy()) == reads_after_two_epochs


def test_auto_cache_skips_datasets_larger_than_the_limit():
    source, reads = _counting_source(6)
    ds = pipeline.eval_pipeline(source, 4, cache="auto", cache_bytes=5 * pipeline.BYTES_PER_VIDEO)
    _epoch(ds), _epoch(ds)
    assert int(reads.numpy()) == 12


def test_split_arrays_returns_float32_features_and_int_labels(built_ave):
    arrays = pipeline.split_arrays(built_ave, "test", "corrected")
    n = len(arrays["row"])
    assert arrays["audio"].shape == (n, 10, 128) and arrays["audio"].dtype == np.float32
    assert arrays["visual"].shape == (n, 10) + ave.VISUAL_SHAPE and arrays["visual"].dtype == np.float32
    assert arrays["segment_labels"].shape == (n, 10) and arrays["video_label"].shape == (n,)


def test_split_arrays_can_hold_the_features_once_in_cpu_variables(built_ave):
    numpy = pipeline.split_arrays(built_ave, "train")
    held = pipeline.split_arrays(built_ave, "train", features="variable")
    for key in ("audio", "visual"):
        assert isinstance(held[key], tf.Variable) and not held[key].trainable
        np.testing.assert_array_equal(held[key].numpy(), numpy[key])
    for key in ("segment_labels", "video_label", "row"):
        np.testing.assert_array_equal(held[key], numpy[key])
    expected = r"split_arrays\(features='list'\) is invalid: expected one of \('numpy', 'variable'\)"
    with pytest.raises(ValueError, match=expected):
        pipeline.split_arrays(built_ave, "train", features="list")


def test_ensure_synthetic_writes_and_builds_once(tmp_path):
    manual, data = builds.ensure_synthetic(tmp_path, videos=4, seed=2)
    stamp = (manual / "visual_feature.h5").stat().st_mtime_ns
    assert pipeline.load_split(data, "train").cardinality() == 2
    again = builds.ensure_synthetic(tmp_path, videos=4, seed=2)
    assert again == (manual, data) and (manual / "visual_feature.h5").stat().st_mtime_ns == stamp
    assert not (manual.parent / "manual.partial").exists()


def test_bad_config_split_and_unbuilt_config_are_one_line_errors(built_ave, tmp_path):
    with pytest.raises(ValueError,
                       match=r"config: expected one of supervised, corrected, weakly_supervised, found 'sel'"):
        pipeline.load_split(built_ave, "train", "sel")
    with pytest.raises(ValueError, match=r"split: expected one of train, validation, test, found 'val'"):
        pipeline.load_split(built_ave, "val")
    with pytest.raises(FileNotFoundError, match=r"tfds_ave/supervised is not built in .*: build it with `tfds build tfds_ave"):
        pipeline.load_split(tmp_path, "train")
