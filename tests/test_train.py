"""End-to-end runs on the small synthetic set: train, pick on validation, test figures, export, resume."""

import csv
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_export import b2ilc_reference

from edrnet_tf import EDRNet, EDRNetConfig, evaluate
from edrnet_tf.cli import run_main
from edrnet_tf.config import TrainSettings
from edrnet_tf.data import pipeline
from edrnet_tf.training import runner

TINY = EDRNetConfig(width=16, visual_width=8)


def settings_for(built_ave, output, **changes):
    return TrainSettings(dataset="ave", data_dir=pathlib.Path(built_ave), output=output, batch_size=16,
                                learning_rate=1e-3, jit_compile=False, **{"epochs": 1, "smb_per_class": 0, **changes})


def history(output):
    with (output / "history.csv").open() as f:
        return list(csv.DictReader(f))


def event_tags(folder):
    tags = set()
    for path in pathlib.Path(folder).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def accuracy(labels, predicted):
    return float(np.mean(np.asarray(labels) == np.asarray(predicted)))


@pytest.fixture(scope="module")
def sel_run(built_ave, tmp_path_factory):
    output = tmp_path_factory.mktemp("sel") / "run"
    figures = runner.train(TINY, settings_for(built_ave, output, epochs=2, smb_per_class=1), verbose=0)
    return output, figures


@pytest.mark.large
def test_sel_run_writes_the_best_validation_checkpoint_and_its_test_figures(sel_run, built_ave):
    output, figures = sel_run
    for name in ("model.keras", "metrics.json", "run.json", "history.csv", "saved_model/saved_model.pb"):
        assert (output / name).exists(), name
    assert json.loads((output / "metrics.json").read_text()) == json.loads(json.dumps(figures))
    model = keras.saving.load_model(output / "model.keras")

    # The checkpoint is the epoch with the best validation segment accuracy (never test).
    validation = pipeline.split_arrays(built_ave, "validation")
    val_probs = model.predict({"audio": validation["audio"], "visual": validation["visual"]}, verbose=0)["probs"]
    best = max(float(row["val_segment_accuracy"]) for row in history(output))
    assert accuracy(validation["segment_labels"], val_probs.argmax(-1)) == pytest.approx(best, abs=1e-6)

    # Test figures: NumPy recomputation of every head, with and without B2ILC, on both label sets.
    test = pipeline.split_arrays(built_ave, "test")
    corrected = pipeline.split_arrays(built_ave, "test", config="corrected")
    order = [list(corrected["row"]).index(r) for r in test["row"]]
    labels = {"original": test["segment_labels"], "corrected": corrected["segment_labels"][order]}
    outputs = model.predict({"audio": test["audio"], "visual": test["visual"]}, verbose=0)
    train_labels = pipeline.split_arrays(built_ave, "train")["segment_labels"]
    majority = np.bincount(train_labels.reshape(-1), minlength=29).argmax()
    for name, truth in labels.items():
        for head, key in (("gated", "probs"), ("audio", "probs_audio"), ("visual", "probs_visual")):
            raw = outputs[key].argmax(-1)
            assert figures["test"][name][head]["raw"] == pytest.approx(accuracy(truth, raw), abs=1e-6)
            assert figures["test"][name][head]["b2ilc"] == pytest.approx(
                accuracy(truth, b2ilc_reference(raw)), abs=1e-6)
        assert figures["majority_baseline"][name] == pytest.approx(accuracy(truth, majority), abs=1e-6)
    assert figures["test_segments"] == test["segment_labels"].size


@pytest.mark.large
def test_evaluate_cli_recomputes_the_runs_figures(sel_run, tmp_path, capsys):
    output, figures = sel_run
    run_main(evaluate.PROG, evaluate.main, ["--model", str(output), "--output", str(tmp_path / "again.json")])
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["test"] == figures["test"]
    assert again["majority_baseline"] == figures["majority_baseline"]
    printed = capsys.readouterr().out
    assert "majority-class baseline" in printed and "gated" in printed


@pytest.mark.large
def test_saved_model_of_the_run_serves_what_the_keras_model_predicts(sel_run, built_ave):
    output, _ = sel_run
    model = keras.saving.load_model(output / "model.keras")
    serve = tf.saved_model.load(str(output / "saved_model")).signatures["serving_default"]
    test = pipeline.split_arrays(built_ave, "test")
    audio, visual = test["audio"][:5], test["visual"][:5]
    served = serve(audio=tf.constant(audio), visual=tf.constant(visual))
    expected = model.predict({"audio": audio, "visual": visual}, verbose=0)["probs"]
    np.testing.assert_allclose(served["probs"].numpy(), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(served["labels_raw"].numpy(), expected.argmax(-1))


@pytest.mark.large
def test_tensorboard_logs_every_loss_term_lr_per_class_confusion_and_hparams(sel_run):
    output, _ = sel_run
    grouped = {"loss/total", "loss/cross_entropy", "loss/lss", "lss/land", "lss/sea", "lss/shore", "accuracy/gated",
               "accuracy/audio", "accuracy/visual"}
    train_tags = event_tags(output / "logs" / "train")
    assert grouped | {"learning_rate"} <= train_tags
    validation_tags = event_tags(output / "logs" / "validation")
    assert grouped | {"accuracy/gated_b2ilc", "confusion_matrix"} <= validation_tags
    assert any(tag.startswith("per_class_accuracy/") for tag in validation_tags)
    assert not any(tag.startswith(("epoch_", "evaluation_")) for tag in train_tags | validation_tags)
    root_tags = event_tags(output / "logs")
    assert {"_hparams_/session_start_info", "_hparams_/session_end_info"} <= root_tags
    assert {"Headline/test_accuracy", "test/original/gated", "test/corrected/gated_b2ilc",
            "best/validation_accuracy"} <= root_tags


@pytest.mark.large
def test_a_device_placement_bfloat16_run_with_smb_saves_an_edrnet_that_takes_features(built_ave, tmp_path):
    output = tmp_path / "device"
    figures = runner.train(TINY, settings_for(built_ave, output, epochs=2, smb_per_class=1, data_placement="device",
                                              mixed_precision="bfloat16"), verbose=0)
    rows = history(output)
    assert len(rows) == 2 and all(np.isfinite(float(r["val_segment_accuracy"])) for r in rows)
    model = keras.saving.load_model(output / "model.keras")  # the EDRNet alone, not the resident feature table
    assert set(model.input) == {"audio", "visual"} and model.count_params() == EDRNet(TINY).count_params()
    assert figures["best_epoch_val_segment_accuracy"] == max(float(r["val_segment_accuracy"]) for r in rows)


@pytest.mark.large
def test_wsel_run_trains_on_video_labels_and_reports_segment_accuracy(built_ave, tmp_path):
    output = tmp_path / "wsel"
    figures = runner.train(TINY, settings_for(built_ave, output, task="wsel", epochs=1), verbose=0)
    rows = history(output)
    # One loss (the MIL cross entropy, Eq. 7): Keras logs it as "loss" only; no LSS term.
    assert len(rows) == 1 and "features_loss" not in rows[0] and np.isfinite(float(rows[0]["loss"]))
    assert set(figures["test"]["original"]) == {"gated", "audio", "visual"}
    assert (output / "saved_model" / "saved_model.pb").exists()


class Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("killed after epoch 2")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.mark.large
def test_a_killed_run_resumes_from_its_last_finished_epoch_with_backup(built_ave, tmp_path):
    output = tmp_path / "resumed"
    settings = settings_for(built_ave, output, epochs=3, backup=True)
    with pytest.raises(RuntimeError, match="killed"):
        runner.train(TINY, settings, extra_callbacks=[Crash()], verbose=0)
    assert (output / "backup").exists() and not (output / "metrics.json").exists()
    recorder = EpochRecorder()
    runner.train(TINY, settings, extra_callbacks=[recorder], verbose=0)
    assert recorder.epochs == [2]
    assert [int(row["epoch"]) for row in history(output)] == [0, 1, 2]
    assert not (output / "backup").exists() and (output / "metrics.json").exists()
