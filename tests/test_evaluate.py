"""``python -m edrnet_tf.evaluate`` on a bare ``.keras`` file: data from the flags, figures checked in NumPy."""

import json
import shutil

import numpy as np
import pytest
from test_export import b2ilc_reference

from edrnet_tf import EDRNet, EDRNetConfig, evaluate
from edrnet_tf.cli import run_main
from edrnet_tf.data import pipeline


@pytest.fixture(scope="module")
def saved_model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("evaluate") / "tiny.keras"
    model = EDRNet(EDRNetConfig(width=16, visual_width=8, branches=("A", "AV")))
    model.save(path)
    return path, model


def test_evaluate_a_keras_file_on_the_data_named_by_flags(saved_model_file, built_ave, tmp_path, capsys):
    path, model = saved_model_file
    out = tmp_path / "figures.json"
    run_main(evaluate.PROG, evaluate.main, ["--model", str(path), "--dataset", "ave", "--data-dir", str(built_ave),
                                            "--test-labels", "corrected", "--output", str(out)])
    figures = json.loads(out.read_text())
    test = pipeline.split_arrays(built_ave, "test", config="corrected")
    outputs = model.predict({"audio": test["audio"], "visual": test["visual"]}, verbose=0)
    # Only the A branch recomposes here: the gated head is the audio head, and there is no visual head.
    assert set(figures["test"]["corrected"]) == {"gated", "audio"}
    raw = outputs["probs"].argmax(-1)
    order = [list(test["row"]).index(r) for r in pipeline.split_arrays(built_ave, "test")["row"]]
    truth = test["segment_labels"][order]
    raw = raw[order]
    assert figures["test"]["corrected"]["gated"]["raw"] == pytest.approx(np.mean(raw == truth), abs=1e-6)
    assert figures["headline"] == {"labels": "corrected", "head": "gated", "b2ilc": True,
                                   "accuracy": pytest.approx(np.mean(b2ilc_reference(raw) == truth), abs=1e-6)}
    counts = np.bincount(pipeline.split_arrays(built_ave, "train")["segment_labels"].reshape(-1), minlength=29)
    assert figures["majority_baseline"]["index"] == counts.argmax()
    assert figures["majority_baseline"]["corrected"] == pytest.approx(np.mean(truth == counts.argmax()), abs=1e-6)
    confusion = np.array(figures["confusion_matrix"]["matrix"])
    assert confusion.sum() == truth.size and np.trace(confusion) == np.sum(raw == truth)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"Evaluating {path}") and "corrected" in printed[2]


def test_evaluate_without_a_model_exits_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main(evaluate.PROG, evaluate.main, ["--model", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--model=" in error


def test_evaluate_a_corrupt_model_file_exits_with_one_line(built_ave, tmp_path):
    (tmp_path / "model.keras").write_text("not a zip")
    with pytest.raises(SystemExit) as exit_info:
        run_main(evaluate.PROG, evaluate.main, ["--model", str(tmp_path), "--dataset", "ave",
                                                "--data-dir", str(built_ave)])
    message = str(exit_info.value.code)
    assert "\n" not in message
    assert message.startswith("python -m edrnet_tf.evaluate: error: --model=")
    assert "model.keras' is invalid: expected a saved EDRNet .keras file, could not load it" in message


@pytest.mark.parametrize("run_json,found", [
    ("{not json", "(JSON), found JSONDecodeError: Expecting property name"),
    ('{"config": {}}', "(a JSON object with the objects 'settings'), found ['config']"),
    ("[1, 2]", "(a JSON object with the objects 'config', 'settings'), found list"),
    ('{"config": {}, "settings": {"bogus": 1}}', "found TrainSettings.__init__() got an unexpected keyword"),
])
def test_evaluate_a_run_json_that_train_did_not_write_exits_with_one_line(saved_model_file, tmp_path, run_json,
                                                                          found):
    shutil.copy(saved_model_file[0], tmp_path / "model.keras")
    (tmp_path / "run.json").write_text(run_json)
    with pytest.raises(SystemExit) as exit_info:
        run_main(evaluate.PROG, evaluate.main, ["--model", str(tmp_path)])
    message = str(exit_info.value.code)
    assert "\n" not in message and found in message
    assert message.startswith(f"{evaluate.PROG}: error: --model={str(tmp_path)!r} is invalid: expected run.json as "
                              "edrnet_tf.train writes it")


def test_evaluate_a_model_of_other_classes_than_the_data_is_refused(built_ave, tmp_path, capsys):
    path = tmp_path / "five.keras"
    EDRNet(EDRNetConfig(width=16, visual_width=8, num_classes=5, background=4)).save(path)
    with pytest.raises(SystemExit) as exit_info:
        run_main(evaluate.PROG, evaluate.main, ["--model", str(path), "--dataset", "ave", "--data-dir", str(built_ave)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "is invalid: expected a model of the 29 AVE classes (28 events + background) that tfds_ave holds, " \
           "found num_classes=5" in error
