"""The callbacks of ``runner.train_callbacks`` that select a model (the checkpoint, early stopping, the
plateau schedule) all follow the validation segment accuracy upwards, and ``SegmentValidation`` writes
that value into the epoch logs before any of them reads it. ``SegmentValidation`` is the run's one
validation: its ``val_*`` figures are those of ``model.evaluate`` with the compiled objective."""

import types

import keras
import numpy as np
import pytest

from edrnet_tf import EDRNet
from edrnet_tf.config import TrainSettings
from edrnet_tf.model.losses import objective
from edrnet_tf.training import runner, task
from edrnet_tf.training.callbacks import MONITOR, SegmentValidation
from helpers import random_inputs, random_labels, tiny_config

SELECTION = (keras.callbacks.ModelCheckpoint, keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau)


@pytest.fixture
def found(tmp_path):
    """The callbacks of a run with early stopping and the plateau schedule on, so all three selectors exist."""
    output = tmp_path / "run"
    settings = TrainSettings(early_stopping=3, lr_schedule="plateau", output=output, cache_dir=tmp_path)
    validation = {"inputs": random_inputs(batch=4), "segment_labels": random_labels(batch=4),
                  "video_label": np.arange(4)}
    source = types.SimpleNamespace(has_corrected=lambda: False)  # no data is read: the validation arrays are given
    return runner.train_callbacks(task.TrainingTask(tiny_config(), settings, source, validation=validation), output)


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


@pytest.mark.parametrize("task_name, changes", [("sel", {}), ("sel", {"branch_loss_weight": 0.5}), ("wsel", {})],
                         ids=["sel", "sel-branch-losses", "wsel"])
def test_segment_validation_gives_the_figures_of_evaluate_with_the_compiled_objective(task_name, changes):
    """7 videos in batches of 3: the last batch is short, and the LSS loss (a per-batch mean) still matches."""
    config = tiny_config(**changes)
    model = EDRNet(config)
    loss, loss_weights = objective(config, task_name)
    model.compile(loss=loss, loss_weights=loss_weights,
                  metrics=task.compiled_metrics(config, task_name, list(model.output)))
    inputs, segment_labels, video_labels = random_inputs(batch=7), random_labels(batch=7), np.arange(7) % 3
    y = {"probs": video_labels} if task_name == "wsel" else dict.fromkeys(model.output, segment_labels)
    expected = model.evaluate(inputs, y, batch_size=3, verbose=0, return_dict=True)
    validation = SegmentValidation(inputs, segment_labels, video_labels, config, task_name, batch_size=3)
    validation.set_model(model)
    logs = {}
    validation.on_epoch_end(0, logs)
    assert sorted(logs) == sorted([f"val_{name}" for name in expected] + [MONITOR, MONITOR + "_b2ilc"])
    for name, value in expected.items():
        assert logs[f"val_{name}"] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    probs = model.predict(inputs, verbose=0)["probs"]
    assert logs[MONITOR] == pytest.approx(np.mean(probs.argmax(-1) == segment_labels), abs=1e-6)


def test_segment_validation_needs_the_video_labels_for_wsel():
    with pytest.raises(ValueError, match="video_labels"):
        SegmentValidation(random_inputs(batch=2), random_labels(batch=2), None, tiny_config(), "wsel")


def test_a_diverged_prediction_logs_a_nan_accuracy_not_a_score():
    model = EDRNet(tiny_config())
    model.set_weights([np.full_like(w, np.nan) if w.dtype.kind == "f" else w for w in model.get_weights()])
    validation = SegmentValidation(random_inputs(batch=2), random_labels(batch=2), None, tiny_config(), "sel")
    validation.set_model(model)
    logs = {}
    validation.on_epoch_end(0, logs)
    assert np.isnan(logs[MONITOR]) and np.isnan(logs[MONITOR + "_b2ilc"])
