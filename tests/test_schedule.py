"""Learning-rate schedules of a run: linear warm-up, then constant or cosine to 0."""

import math

import numpy as np
import pytest

from edrnet_tf.config import TrainSettings
from edrnet_tf.training import task


def rates(settings, steps_per_epoch, steps):
    schedule = task.learning_rate_schedule(settings, steps_per_epoch)
    return np.array([float(schedule(step)) if callable(schedule) else schedule for step in steps])


@pytest.mark.parametrize("lr_schedule", ["constant", "cosine"])
def test_warm_up_rises_linearly_from_zero_to_the_learning_rate(lr_schedule):
    settings = TrainSettings(learning_rate=1e-3, epochs=10, warmup_epochs=2, lr_schedule=lr_schedule)
    found = rates(settings, steps_per_epoch=5, steps=[0, 5, 10])
    np.testing.assert_allclose(found, [0.0, 5e-4, 1e-3], rtol=1e-5, atol=1e-9)


def test_cosine_after_warm_up_follows_half_a_cosine_to_zero_over_the_remaining_epochs():
    settings = TrainSettings(learning_rate=1e-3, epochs=10, warmup_epochs=2, lr_schedule="cosine")
    steps = [10, 30, 50]  # warm-up ends at step 10; 40 decay steps
    expected = [1e-3 * 0.5 * (1 + math.cos(math.pi * (s - 10) / 40)) for s in steps]
    np.testing.assert_allclose(rates(settings, 5, steps), expected, rtol=1e-5, atol=1e-9)


def test_constant_after_warm_up_stays_at_the_learning_rate():
    settings = TrainSettings(learning_rate=1e-3, epochs=10, warmup_epochs=1, lr_schedule="constant")
    np.testing.assert_allclose(rates(settings, 4, [4, 20, 39]), 1e-3, rtol=1e-6)


def test_no_warm_up_keeps_a_plain_rate_for_plateau():
    settings = TrainSettings(learning_rate=2e-4, epochs=10, lr_schedule="plateau")
    assert task.learning_rate_schedule(settings, 7) == 2e-4


@pytest.mark.parametrize("dataset, scaling, batch_size, factor", [
    ("ave", "none", 1024, 1.0), ("ave", "sqrt", 1024, math.sqrt(1024 / 32)), ("ave", "linear", 1024, 1024 / 32),
    ("ave", "sqrt", 8, 0.5), ("synthetic", "linear", 64, 64 / 16)])
def test_lr_scaling_scales_the_rate_given_for_the_datasets_default_batch_size(dataset, scaling, batch_size, factor):
    settings = TrainSettings.for_dataset(dataset, learning_rate=1e-3, batch_size=batch_size, lr_scaling=scaling)
    assert settings.scaled_learning_rate == pytest.approx(1e-3 * factor)
    assert task.learning_rate_schedule(settings, 7) == pytest.approx(1e-3 * factor)


def test_warm_up_and_cosine_reach_the_scaled_rate_as_their_peak():
    settings = TrainSettings(learning_rate=1e-3, epochs=10, warmup_epochs=2, lr_schedule="cosine",
                             batch_size=128, lr_scaling="linear")  # 4x the ave default batch of 32
    np.testing.assert_allclose(rates(settings, 5, [0, 5, 10, 30]), [0.0, 2e-3, 4e-3, 2e-3], rtol=1e-5, atol=1e-9)


def test_an_unknown_lr_scaling_names_the_flag():
    with pytest.raises(ValueError, match=r"--lr-scaling='cube' is invalid: expected one of none, sqrt, linear"):
        TrainSettings(lr_scaling="cube").scaled_learning_rate
