"""The callbacks of ``runner.train_callbacks`` that select a model (the checkpoint, early stopping, the
plateau schedule) all follow the validation segment accuracy upwards, and ``SegmentValidation`` writes
that value into the epoch logs before any of them reads it."""

import keras
import numpy as np
import pytest

from edrnet_tf import EDRNet
from edrnet_tf.training import runner
from edrnet_tf.training.callbacks import SegmentValidation
from helpers import random_inputs, random_labels, tiny_config

SELECTION = (keras.callbacks.ModelCheckpoint, keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau)


@pytest.fixture
def found(tmp_path):
    """The callbacks of a run with early stopping and the plateau schedule on, so all three selectors exist."""
    output = tmp_path / "run"
    settings = runner.TrainSettings(early_stopping=3, lr_schedule="plateau", output=output, cache_dir=tmp_path)
    validation = {"inputs": random_inputs(batch=4), "segment_labels": random_labels(batch=4)}
    return runner.train_callbacks(tiny_config(), settings, output, validation, steps_per_epoch=2)


def test_every_selection_callback_monitors_validation_segment_accuracy_in_max_mode(found):
    selection = [cb for cb in found if isinstance(cb, SELECTION)]
    assert sorted(type(cb).__name__ for cb in selection) == ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"]
    for cb in selection:
        assert (cb.monitor, cb.mode) == ("val_segment_accuracy", "max"), type(cb).__name__
    checkpoint = next(cb for cb in selection if isinstance(cb, keras.callbacks.ModelCheckpoint))
    assert checkpoint.save_best_only


def test_segment_validation_logs_the_monitored_value_before_the_selectors_read_it(found):
    validator = next(i for i, cb in enumerate(found) if isinstance(cb, SegmentValidation))
    assert validator < min(i for i, cb in enumerate(found) if isinstance(cb, SELECTION))
    found[validator].set_model(EDRNet(tiny_config()))
    logs = {}
    found[validator].on_epoch_end(0, logs)
    probs = found[validator].model.predict(random_inputs(batch=4), verbose=0)["probs"]
    expected = np.mean(probs.argmax(-1) == random_labels(batch=4))
    assert logs["val_segment_accuracy"] == pytest.approx(expected, abs=1e-6)
