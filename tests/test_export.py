"""SavedModel export: named audio/visual inputs, any batch and N >= L*(k-1)+1, outputs equal to Keras'."""

import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from edrnet_tf import EDRNet, EDRNetConfig
from edrnet_tf import export as export_cli
from edrnet_tf import installed
from edrnet_tf.cli import run_main
from edrnet_tf.serving import export

TINY = EDRNetConfig(width=16, visual_width=8)


def b2ilc_reference(labels, background=28, witness_rate=0.5):
    """Plain-Python B2ILC (docs/design.md#b2ilc): each maximal foreground run takes its label holding
    strictly more than ``witness_rate`` of the run's segments, if there is one."""
    out = np.array(labels).copy()
    for video in out:
        t = 0
        while t < len(video):
            if video[t] == background:
                t += 1
                continue
            end = t
            while end < len(video) and video[end] != background:
                end += 1
            values, counts = np.unique(video[t:end], return_counts=True)
            if counts.max() > witness_rate * (end - t):
                video[t:end] = values[np.argmax(counts)]
            t = end
    return out


def features(batch, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, n, 128)).astype(np.float32),
            rng.uniform(size=(batch, n, 7, 7, 512)).astype(np.float32))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = EDRNet(TINY)
    path = export.export_saved_model(model, tmp_path_factory.mktemp("export") / "saved_model")
    return model, path


@pytest.mark.parametrize("batch,n", [(1, 10), (3, 25), (2, TINY.min_segments)])
def test_serving_default_equals_keras_for_any_batch_and_length(exported, batch, n):
    model, path = exported
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    audio, visual = features(batch, n)
    served = serve(audio=tf.constant(audio), visual=tf.constant(visual))
    expected = model.predict({"audio": audio, "visual": visual}, verbose=0)["probs"]
    assert sorted(served) == ["labels", "labels_raw", "probs"]
    np.testing.assert_allclose(served["probs"].numpy(), expected, rtol=1e-4, atol=1e-6)
    raw = np.argmax(expected, axis=-1)
    np.testing.assert_array_equal(served["labels_raw"].numpy(), raw)
    np.testing.assert_array_equal(served["labels"].numpy(), b2ilc_reference(raw))


def test_b2ilc_reference_takes_the_strict_majority_of_each_bag():
    labels = np.array([[3, 3, 5, 3, 28, 28, 7, 7, 9, 28], [1, 2, 28, 4, 4, 28, 28, 6, 6, 6]])
    np.testing.assert_array_equal(b2ilc_reference(labels), [[3, 3, 3, 3, 28, 28, 7, 7, 7, 28],
                                                            [1, 2, 28, 4, 4, 28, 28, 6, 6, 6]])


def test_saved_model_cli_shows_named_inputs_and_outputs(exported):
    _, path = exported
    shown = subprocess.run(["saved_model_cli", "show",
                            "--dir", str(path), "--all"], capture_output=True, text=True, check=True).stdout
    signature = shown.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['audio']" in signature and "shape: (-1, -1, 128)" in signature
    assert "inputs['visual']" in signature and "shape: (-1, -1, 7, 7, 512)" in signature
    for output in ("probs", "labels", "labels_raw"):
        assert f"outputs['{output}']" in signature


def test_serving_with_too_few_segments_says_the_minimum(exported):
    serve = tf.saved_model.load(str(exported[1])).signatures["serving_default"]
    audio, visual = features(2, TINY.min_segments - 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"expected N >= {TINY.min_segments} segments "
                                                             r"\(L\*\(k-1\)\+1 for this model\), found N =\] \[8\]"):
        serve(audio=tf.constant(audio), visual=tf.constant(visual))


# Argmax labels whose bags B2ILC changes: [3, 3, 5, 3] takes 3 and [7, 7, 9] takes 7.
FIXED_RAW = [3, 3, 5, 3, 28, 28, 7, 7, 9, 28]


class FixedProbs(keras.Model):
    """A stand-in model: whatever the features, every video of N = 10 segments gets the probabilities of
    ``FIXED_RAW`` (0.9 on the label, 0.1 spread over the other classes)."""

    config = TINY

    def call(self, inputs, training=False):
        probs = keras.ops.one_hot(FIXED_RAW, TINY.num_classes) * (0.9 - 0.1 / 28) + 0.1 / 28
        return {"probs": keras.ops.broadcast_to(probs[None], (keras.ops.shape(inputs["audio"])[0], 10,
                                                              TINY.num_classes))}


def test_served_labels_are_b2ilc_of_the_argmax_where_b2ilc_changes_them(tmp_path):
    assert (b2ilc_reference([FIXED_RAW]) != [FIXED_RAW]).any()  # the fixed labels do change under B2ILC
    model, (audio, visual) = FixedProbs(), features(2, 10)
    model({"audio": audio, "visual": visual})  # built, as export requires
    serve = tf.saved_model.load(str(export.export_saved_model(model, tmp_path / "sm"))).signatures["serving_default"]
    served = serve(audio=tf.constant(audio), visual=tf.constant(visual))
    np.testing.assert_array_equal(served["labels_raw"].numpy(), [FIXED_RAW] * 2)
    np.testing.assert_array_equal(served["labels"].numpy(), b2ilc_reference([FIXED_RAW] * 2))


@pytest.fixture
def run_dir(tmp_path):
    model = EDRNet(TINY)
    audio, visual = features(2, 10, seed=3)
    expected = model.predict({"audio": audio, "visual": visual}, verbose=0)["probs"]
    (tmp_path / "run").mkdir()
    model.save(tmp_path / "run" / "model.keras")
    return tmp_path / "run", (audio, visual), expected


def test_export_cli_writes_the_saved_model_of_a_run_folder_replacing_an_earlier_one(run_dir, capsys):
    folder, (audio, visual), expected = run_dir
    (folder / "saved_model" / "variables").mkdir(parents=True)  # an earlier export's layout
    (folder / "saved_model" / "saved_model.pb").write_text("an earlier export")
    (folder / "saved_model" / "variables" / "stale.index").write_text("an earlier export")
    export_cli.main(["--model", str(folder)])
    assert f"Wrote {folder / 'saved_model'}" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["model.keras", "saved_model"]  # no .partial left
    assert not (folder / "saved_model" / "variables" / "stale.index").exists()
    serve = tf.saved_model.load(str(folder / "saved_model")).signatures["serving_default"]
    np.testing.assert_allclose(serve(audio=tf.constant(audio), visual=tf.constant(visual))["probs"].numpy(),
                               expected, rtol=1e-4, atol=1e-6)


def test_export_cli_writes_beside_a_keras_file_or_to_output(run_dir, tmp_path):
    folder, _, _ = run_dir
    assert export_cli.main(["--model", str(folder / "model.keras")]) == folder / "model_saved_model"
    assert export_cli.main(["--model", str(folder), "--output", str(tmp_path / "sm")]) == tmp_path / "sm"
    assert (tmp_path / "sm" / "saved_model.pb").exists() and (folder / "model_saved_model" / "saved_model.pb").exists()


def test_a_failed_export_keeps_the_earlier_one_and_leaves_no_partial(run_dir, monkeypatch):
    folder, _, _ = run_dir
    (folder / "saved_model").mkdir()
    (folder / "saved_model" / "saved_model.pb").write_text("the earlier export")

    def fail_half_way(model, path):
        path.mkdir()
        (path / "variables").mkdir()
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "export_saved_model", fail_half_way)
    with pytest.raises(RuntimeError, match="disk full"):
        export_cli.main(["--model", str(folder)])
    assert sorted(p.name for p in folder.iterdir()) == ["model.keras", "saved_model"]
    assert (folder / "saved_model" / "saved_model.pb").read_text() == "the earlier export"


@pytest.mark.parametrize("argv,expected", [
    (["--model", "{tmp}/nowhere"], "--model='{tmp}/nowhere' is invalid: expected a .keras file or a run folder "
                                   "holding model.keras, found nothing"),
    (["--model", "{tmp}"], "--model='{tmp}' is invalid: expected a .keras file or a run folder holding model.keras, "
                           "found a folder without it"),
])
def test_export_cli_names_a_missing_model_in_one_line(tmp_path, argv, expected):
    with pytest.raises(SystemExit) as exited:
        run_main(export_cli.PROG, export_cli.main, [a.format(tmp=tmp_path) for a in argv])
    assert exited.value.code == f"{export_cli.PROG}: error: {expected.format(tmp=tmp_path)}"


def test_export_cli_without_tensorflow_says_so_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(installed, "tensorflow", lambda: False)
    with pytest.raises(SystemExit, match="2"):
        export_cli.main(["--model", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TensorFlow is not installed: expected it for a SavedModel" in err
