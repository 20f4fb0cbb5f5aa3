"""What ``TrainingTask`` hands the model and ``fit``, checked on the task itself rather than on the functions it
calls: the training split's input statistics, the validation split for selection (never test), the configured
early-stopping patience, real training features and, on host placement, the ``--smb-sequences`` rule.

Each test fails when the task takes the wrong split, patience, features or rule (issue 21 H)."""

import pathlib
import types

import keras
import numpy as np
import pytest

from edrnet_tf.config import TrainSettings
from edrnet_tf.data import pipeline
from edrnet_tf.training import callbacks, host_data, task
from helpers import random_inputs, random_labels, tiny_config


def settings_for(built_ave, **changes):
    return TrainSettings(dataset="ave", data_dir=pathlib.Path(built_ave), learning_rate=1e-3, jit_compile=False,
                         **{"epochs": 1, "batch_size": 16, "smb_per_class": 0, "early_stopping": 0, **changes})


def moments(features):
    """NumPy per-channel mean and population variance over every axis but the last."""
    flat = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    return flat.mean(0), flat.var(0)


def test_the_model_is_built_with_the_input_statistics_of_the_training_split(built_ave):
    model = task.TrainingTask(tiny_config(), settings_for(built_ave)).build()
    train, validation = pipeline.split_arrays(built_ave, "train"), pipeline.split_arrays(built_ave, "validation")
    for name in ("audio", "visual"):
        mean, variance = model.normalizations[name].get_weights()[:2]
        want_mean, want_variance = moments(train[name])
        np.testing.assert_allclose(mean, want_mean, rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(variance, want_variance, rtol=1e-4, atol=1e-5, err_msg=name)
        other_mean, _ = moments(validation[name])  # the test can tell the splits apart
        assert np.abs(other_mean - want_mean).max() > 1e-2, name


def test_selection_reads_the_validation_split_and_never_test(built_ave):
    training = task.TrainingTask(tiny_config(), settings_for(built_ave))
    validation, test = pipeline.split_arrays(built_ave, "validation"), pipeline.split_arrays(built_ave, "test")
    assert not set(validation["row"]) & set(test["row"])  # other videos, so other features
    held = training.validation()
    for name in ("audio", "visual"):
        np.testing.assert_array_equal(held["inputs"][name], validation[name], err_msg=name)
    np.testing.assert_array_equal(held["segment_labels"], validation["segment_labels"])
    validator = next(cb for cb in training.callbacks() if isinstance(cb, callbacks.SegmentValidation))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(validator.inputs["audio"]), validation["audio"])


def given_validation(settings):
    """A task whose validation arrays are given (no data is read)."""
    validation = {"inputs": random_inputs(batch=4), "segment_labels": random_labels(batch=4),
                  "video_label": np.arange(4)}
    source = types.SimpleNamespace(has_corrected=lambda: False)
    return task.TrainingTask(tiny_config(), settings, source, validation=validation)


@pytest.mark.parametrize("early_stopping, restore_best, epochs, patience", [
    (5, False, None, 5),  # --early-stopping 5 (python -m edrnet_tf.train)
    (2, True, 9, 2),
    (0, True, 7, 7),  # a tuning trial without --early-stopping: waits its epochs, then restores the best
    (0, False, None, None),  # no early stopping
])
def test_early_stopping_waits_the_configured_patience(early_stopping, restore_best, epochs, patience):
    found = given_validation(TrainSettings(early_stopping=early_stopping)).callbacks(restore_best=restore_best,
                                                                                    epochs=epochs)
    stoppers = [cb for cb in found if isinstance(cb, keras.callbacks.EarlyStopping)]
    assert [cb.patience for cb in stoppers] == ([] if patience is None else [patience])
    assert all(cb.restore_best_weights == restore_best for cb in stoppers)


def segment_rows(features):
    """The set of the byte strings of every [10, ...] video's segments, one per segment."""
    features = np.ascontiguousarray(features)
    return {segment.tobytes() for video in features for segment in video}


def test_fit_is_fed_the_real_training_features_original_and_fused(built_ave):
    # The x that fit receives (host placement, SMB on): every audio and visual segment is a segment of the
    # training split, and the fused videos are there; the visual maps are not zeros, audio or another split's.
    settings = settings_for(built_ave, smb_per_class=2, batch_size=64)
    training = task.TrainingTask(tiny_config(), settings)
    batches, steps = training.training_data()
    train, validation = pipeline.split_arrays(built_ave, "train"), pipeline.split_arrays(built_ave, "validation")
    real = {name: segment_rows(train[name]) for name in ("audio", "visual")}
    to_xy = task.targets("sel", ["probs"])
    seen = 0
    for batch in batches.take(steps):
        x, y = to_xy(batch)
        for name in ("audio", "visual"):
            got = np.asarray(x[name])
            assert got.shape[2:] == train[name].shape[2:]
            assert segment_rows(got) <= real[name], name
        np.testing.assert_array_equal(np.asarray(y["probs"]), np.asarray(batch["segment_labels"]))
        seen += len(np.asarray(x["visual"]))
    fused = seen - len(train["row"])  # originals + S = 2 fused videos per fusable class
    assert fused > 0 and fused % 2 == 0
    assert not segment_rows(validation["visual"]) & real["visual"]  # the check tells the splits apart


def label_patterns(segment_labels):
    return {tuple(int(v) for v in row) for row in np.asarray(segment_labels)}


def test_host_placement_hands_the_smb_sequence_rule_to_the_fusion_sampler(built_ave):
    # --smb-sequences labels: every fused video repeats a label pattern of a training video of its class;
    # the machine rule makes other patterns too (so the test can tell the rules apart).
    real = label_patterns(pipeline.split_arrays(built_ave, "train")["segment_labels"])

    def patterns(rule):
        settings = settings_for(built_ave, smb_per_class=4, smb_sequences=rule, batch_size=128)
        batches, steps = host_data.training_batches(built_ave, "supervised", settings)
        return set().union(*(label_patterns(b["segment_labels"]) for b in batches.take(steps).as_numpy_iterator()))

    assert patterns("labels") <= real
    assert patterns("machine") - real
