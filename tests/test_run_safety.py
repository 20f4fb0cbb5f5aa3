"""A failed run never looks like a success (issue 11 items 1-4; the flag checks are in test_train_flags):
diverged training stops with one line and keeps the best earlier checkpoint; every data config and the
model/data match are checked before the first epoch; a finished ``--backup`` run is recognised and a rerun
of other settings refused; a run folder is held by one run, every build into a data_dir holds its lock,
files are written whole."""

import csv
import os
import pathlib
import subprocess
import sys
import threading
import time
import types

import keras
import numpy as np
import pytest
from test_train import EpochRecorder

from edrnet_tf import EDRNet, EDRNetConfig, files, train
from edrnet_tf.cli import run_main
from edrnet_tf.config import TrainSettings
from edrnet_tf.data.tfds_source import TfdsSource
from edrnet_tf.training import callbacks, run_folder, runner, task

from helpers import random_inputs, random_labels, tiny_config

TINY = EDRNetConfig(width=16, visual_width=8)


def settings_for(data_dir, output, **changes):
    return TrainSettings(**{"dataset": "ave", "data_dir": pathlib.Path(data_dir), "output": output,
                                   "batch_size": 16, "learning_rate": 1e-3, "jit_compile": False, "epochs": 1,
                                   "smb_per_class": 0, **changes})


def one_line_exit(function):
    """The message of ``run_main`` exiting on ``function()``'s error, asserted to be one line."""
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.PROG, lambda argv: function())
    message = str(exit_info.value.code)
    assert message.startswith(f"{train.PROG}: error: ") and "\n" not in message, message
    return message


def snapshot(folder):
    """``{relative path: (size, mtime_ns)}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in pathlib.Path(folder).rglob("*") if p.is_file()}


def partial_data_dir(built_ave, tmp_path, configs=("supervised",)):
    """A fresh TFDS data_dir holding only ``configs`` of the session's built set (linked, not copied)."""
    data_dir = tmp_path / "tfds"
    (data_dir / "tfds_ave").mkdir(parents=True)
    for config in configs:
        (data_dir / "tfds_ave" / config).symlink_to(pathlib.Path(built_ave) / "tfds_ave" / config)
    return data_dir


def manual_copy(synthetic_ave_dir, tmp_path, right_labels=None):
    """The session's AVE files (linked) with ``right_labels.h5`` replaced by ``right_labels`` bytes (None: absent)."""
    manual = tmp_path / "manual"
    manual.mkdir()
    for file in pathlib.Path(synthetic_ave_dir).iterdir():
        if file.name != "right_labels.h5":
            (manual / file.name).symlink_to(file)
    if right_labels is not None:
        (manual / "right_labels.h5").write_bytes(right_labels)
    return manual


# 1. A diverged run is never exported as a success.

class NaNModel:
    def predict(self, inputs, **kwargs):
        return {"probs": np.full(inputs["audio"].shape[:2] + (29,), np.nan, np.float32)}


def test_segment_validation_logs_nan_on_nan_probabilities_instead_of_a_zero_score():
    validation = callbacks.SegmentValidation(random_inputs(batch=3), random_labels(batch=3), None, tiny_config(), "sel")
    validation.set_model(NaNModel())
    logs = {}
    validation.on_epoch_end(1, logs)
    assert np.isnan(logs[callbacks.MONITOR]) and np.isnan(logs[callbacks.MONITOR + "_b2ilc"])
    with pytest.raises(callbacks.Diverged, match="epoch 2: expected a finite val_segment_accuracy, found nan"):
        callbacks.StopOnDivergence().on_epoch_end(1, logs)


def test_the_divergence_guard_runs_after_segment_validation_and_before_anything_that_saves(tmp_path):
    settings = TrainSettings(backup=True, lr_schedule="plateau", output=tmp_path, cache_dir=tmp_path)
    validation = {"inputs": random_inputs(batch=2), "segment_labels": random_labels(batch=2)}
    source = types.SimpleNamespace(has_corrected=lambda: False)  # no data is read: the validation arrays are given
    training = task.TrainingTask(tiny_config(), settings, source, validation=validation)
    kinds = [type(cb) for cb in runner.train_callbacks(training, tmp_path)]
    guard = kinds.index(callbacks.StopOnDivergence)
    assert kinds.index(callbacks.SegmentValidation) < guard
    for saver in (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore, callbacks.HistoryCSV,
                  keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau):
        assert guard < kinds.index(saver), saver.__name__


@pytest.mark.parametrize("hook,logs", [("on_train_batch_end", {"loss": float("nan")}),
                                       ("on_epoch_end", {"loss": 0.5, "val_loss": float("inf")})])
def test_stop_on_divergence_raises_at_a_non_finite_loss(hook, logs):
    guard = callbacks.StopOnDivergence()
    guard.on_epoch_begin(2)
    with pytest.raises(callbacks.Diverged, match="training diverged at epoch 3"):
        getattr(guard, hook)(0 if hook == "on_train_batch_end" else 2, logs)
    guard.on_train_batch_end(0, {"loss": 0.5})  # finite: nothing


class Poison(keras.callbacks.Callback):
    """Sets every weight to NaN when epoch ``at`` begins (as a learning rate of 1e3 would), after noting the
    checkpoint bytes then."""

    def __init__(self, checkpoint, at):
        super().__init__()
        self.checkpoint, self.at, self.before = checkpoint, at, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            self.before = self.checkpoint.read_bytes() if self.checkpoint.exists() else None
            for weight in self.model.trainable_weights:
                weight.assign(np.full(weight.shape, np.nan, weight.dtype))


@pytest.mark.large
@pytest.mark.parametrize("at", [0, 1])
def test_a_diverged_run_exits_with_one_line_keeping_the_earlier_checkpoint(built_ave, tmp_path, at):
    output = tmp_path / "run"
    poison = Poison(output / "model.keras", at)
    message = one_line_exit(lambda: runner.train(TINY, settings_for(built_ave, output, epochs=2),
                                                 extra_callbacks=[poison], verbose=0))
    assert f"training diverged at epoch {at + 1}" in message and "--learning-rate" in message
    assert not (output / "metrics.json").exists() and not (output / "saved_model").exists()
    if at == 0:
        assert not (output / "model.keras").exists() and "model.keras was not written" in message
    else:  # the epoch-1 checkpoint, byte for byte, and finite
        assert (output / "model.keras").read_bytes() == poison.before
        assert "keeps the best earlier epoch" in message
        model = keras.saving.load_model(output / "model.keras")
        assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)


def test_a_checkpoint_with_nan_weights_is_never_exported(built_ave, tmp_path):
    config, output = tiny_config(normalize_inputs=False), tmp_path / "run"
    settings = settings_for(built_ave, output, backup=True)
    output.mkdir()
    run_folder.write_run(output, {"config": config.to_dict(), "settings": settings.to_dict()}, trained=True)
    model = EDRNet(config)
    model(random_inputs(batch=1))
    for weight in model.trainable_weights:
        weight.assign(np.full(weight.shape, np.nan, weight.dtype))
    model.save(output / "model.keras")
    message = one_line_exit(lambda: runner.train(config, settings, verbose=0))
    assert "model.keras: expected finite weights, found NaN or inf" in message
    assert not (output / "saved_model").exists() and not (output / "metrics.json").exists()


# 2. Every data config and the model/data match are checked before the first epoch.

@pytest.mark.parametrize("right_labels,test_labels,expected", [
    (b"", "original", "right_labels.h5: expected an HDF5 file, found an empty"),  # malformed: built anyway
    (None, "corrected", "--test-labels='corrected' is invalid: expected corrected test labels"),
])
def test_corrected_test_labels_are_built_and_checked_before_the_first_epoch(built_ave, synthetic_ave_dir, tmp_path,
                                                                            right_labels, test_labels, expected):
    data_dir = partial_data_dir(built_ave, tmp_path)
    manual = manual_copy(synthetic_ave_dir, tmp_path, right_labels=right_labels)
    recorder, output = EpochRecorder(), tmp_path / "run"
    settings = settings_for(data_dir, output, manual_dir=manual, test_labels=test_labels)
    message = one_line_exit(lambda: runner.train(TINY, settings, extra_callbacks=[recorder], verbose=0))
    assert recorder.epochs == [] and not output.exists()
    assert expected in message


@pytest.mark.parametrize("changes,expected", [
    (dict(n_segments=12), "--n-segments=12 is invalid: expected the 10 segments per video"),
    (dict(num_classes=5, background=4), "--num-classes=5 is invalid: expected the 29 classes"),
    (dict(background=3), "--background=3 is invalid: expected the index of the data's background class, 28"),
])
def test_a_model_that_does_not_match_the_data_is_refused_before_the_first_epoch(built_ave, tmp_path, changes,
                                                                               expected):
    recorder, output = EpochRecorder(), tmp_path / "run"
    message = one_line_exit(lambda: runner.train(tiny_config(**changes), settings_for(built_ave, output),
                                                 extra_callbacks=[recorder], verbose=0))
    assert expected in message
    assert recorder.epochs == [] and not output.exists()


# 3. --backup recognises a finished run and refuses a rerun of other settings.

@pytest.fixture(scope="module")
def finished_run(built_ave, tmp_path_factory):
    output = tmp_path_factory.mktemp("finished") / "run"
    figures = runner.train(TINY, settings_for(built_ave, output, backup=True), verbose=0)
    return output, figures


@pytest.mark.large
def test_rerunning_a_finished_backup_run_says_so_and_touches_nothing(finished_run, built_ave, capsys):
    output, figures = finished_run
    before, recorder = snapshot(output), EpochRecorder()
    again = runner.train(TINY, settings_for(built_ave, output, backup=True), extra_callbacks=[recorder], verbose=0)
    assert again == figures and recorder.epochs == []
    assert f"{output}: already complete" in capsys.readouterr().out
    assert snapshot(output) == before


@pytest.mark.large
def test_a_rerun_with_other_settings_is_refused_in_one_line_before_anything_is_written(finished_run, built_ave):
    output, _ = finished_run
    before = snapshot(output)
    message = one_line_exit(lambda: runner.train(TINY.replace(width=24), settings_for(
        built_ave, output, backup=True, learning_rate=2e-3), verbose=0))
    assert "found other settings: width: 16 there, 24 now; learning_rate: 0.001 there, 0.002 now" in message
    assert snapshot(output) == before


@pytest.mark.large
def test_a_run_killed_during_export_resumes_at_the_report_without_training(built_ave, tmp_path, monkeypatch):
    output = tmp_path / "run"
    settings = settings_for(built_ave, output, backup=True)

    def killed(model, path):
        raise KeyboardInterrupt("killed during the export")

    export = runner.export.export_saved_model
    monkeypatch.setattr(runner.export, "export_saved_model", killed)
    with pytest.raises(KeyboardInterrupt):
        runner.train(TINY, settings, verbose=0)
    checkpoint = (output / "model.keras").read_bytes()
    assert not (output / "metrics.json").exists() and not (output / "saved_model").exists()
    monkeypatch.setattr(runner.export, "export_saved_model", export)
    recorder = EpochRecorder()
    runner.train(TINY, settings, extra_callbacks=[recorder], verbose=0)
    assert recorder.epochs == [] and (output / "model.keras").read_bytes() == checkpoint
    assert (output / "metrics.json").exists() and (output / "saved_model" / "saved_model.pb").exists()


# 4. One run per folder, builds under the data_dir's lock, whole files.

def test_a_second_run_into_a_folder_in_use_is_refused_in_one_line(built_ave, tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fcntl.flock(os.open({str(output)!r}, os.O_RDONLY), fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\ntime.sleep(120)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        recorder = EpochRecorder()
        message = one_line_exit(lambda: runner.train(TINY, settings_for(built_ave, output, backup=True),
                                                     extra_callbacks=[recorder], verbose=0))
    finally:
        holder.kill()
        holder.wait()
    assert f"--output='{output}' is invalid: expected a folder no other run is using" in message
    assert recorder.epochs == [] and list(output.iterdir()) == []


def test_concurrent_builds_into_one_data_dir_never_overlap(built_ave, synthetic_ave_dir, tmp_path, monkeypatch):
    import tfds_ave.tfds_ave_dataset_builder as builder_module

    data_dir = partial_data_dir(built_ave, tmp_path)
    prepare = builder_module.Builder.download_and_prepare
    active, most = [], []

    def watched(self, *args, **kwargs):
        active.append(self)
        most.append(len(active))
        time.sleep(0.5)
        try:
            return prepare(self, *args, **kwargs)
        finally:
            active.remove(self)

    monkeypatch.setattr(builder_module.Builder, "download_and_prepare", watched)
    source = TfdsSource("ave", data_dir, pathlib.Path(synthetic_ave_dir))
    errors = []

    def build():
        try:
            source.ensure("corrected")
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and max(most) == 1 and source.is_built("corrected")


def test_a_failed_write_leaves_the_earlier_file_and_no_partial(tmp_path):
    path = tmp_path / "run.json"
    files.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with files.replacing(path) as partial:
            partial.write_text('{"a": ')
            raise RuntimeError("killed mid-write")
    assert path.read_text() == '{\n  "a": 1\n}\n' and os.listdir(tmp_path) == ["run.json"]


def test_history_csv_is_rewritten_whole_and_a_resumed_epoch_replaces_its_row(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n")  # epoch 2 ran, its backup did not
    history = callbacks.HistoryCSV(path, append=True)
    history.on_train_begin()
    history.on_epoch_begin(2)
    history.on_epoch_end(2, {"loss": 0.5, "val_segment_accuracy": 0.25})
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["epoch"], r["loss"], r["val_segment_accuracy"]) for r in rows] == [
        ("0", "0.9", ""), ("1", "0.8", ""), ("2", "0.5", "0.25")]
    assert os.listdir(tmp_path) == ["history.csv"]
