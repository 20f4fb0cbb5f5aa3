"""Training where TensorFlow is not installed: the release-file source, the train CLI and a sweep on JAX.

The subprocess test makes TensorFlow (and TFDS, TensorBoard) absent as an uninstalled package is, with an import
finder that refuses it (``import tensorflow`` raises ``ModuleNotFoundError``), and runs
``python -m edrnet_tf.train`` and a one-trial ``python -m tuning.sweep`` on the JAX backend over a synthetic
``.h5`` folder, then exports the run's SavedModel in-process (where TensorFlow is); the in-process tests check
that the release-file source gives what the built ``tfds_ave`` gives.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from edrnet_tf import EDRNet, export, installed
from edrnet_tf.data import sources
from edrnet_tf.data.release_source import ReleaseSource
from edrnet_tf.data.tfds_source import TfdsSource
from edrnet_tf.evaluation import report
from edrnet_tf.training import flags
from helpers import tiny_config

CLI_SCRIPT = """
import json
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets", "tensorboard"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
from edrnet_tf import installed, train
from tuning import sweep
assert not installed.tensorflow()
argv = json.loads(sys.argv[1])
train.main(argv["train"])
print("trials", len(sweep.main(argv["sweep"])))
loaded = sorted(m for m in sys.modules if m.startswith(("tensorflow", "tensorboard")))
assert not loaded, loaded
import keras
print("backend", keras.backend.backend())
"""

TINY_FLAGS = ["--width", "16", "--visual-width", "8", "--batch-size", "16", "--epochs", "2", "--early-stopping", "0"]


@pytest.fixture
def sources_of(synthetic_ave_dir, built_ave):
    tfds_source = TfdsSource("ave", built_ave, synthetic_ave_dir, True, "built")
    return tfds_source, ReleaseSource("ave", None, synthetic_ave_dir, True, "release files")


@pytest.mark.large
def test_train_and_sweep_run_on_jax_where_tensorflow_is_not_installed(synthetic_ave_dir, tmp_path):
    output = tmp_path / "run"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    data = ["--dataset", "ave", "--manual-dir", str(synthetic_ave_dir), "--data-placement", "device", *TINY_FLAGS]
    argv = {"train": [*data, "--smb-per-class", "2", "--output", str(output)],
            "sweep": ["--study", "fig7d", "--smb-values", "0", "--output", str(tmp_path / "sweep"), *data]}
    done = subprocess.run([sys.executable, "-c", CLI_SCRIPT, json.dumps(argv)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "backend jax" in done.stdout and "TensorFlow is not installed: no TensorBoard logs" in done.stdout
    figures = json.loads((output / "metrics.json").read_text())
    assert figures["test_videos"] == 12 and set(figures["test"]) == {"original", "corrected"}
    assert figures["dataset"].startswith("AVE features (release .h5 files in")
    assert (output / "model.keras").exists() and (output / "history.csv").exists()
    assert not (output / "logs").exists() and not (output / "saved_model").exists()
    run = json.loads((output / "run.json").read_text())
    assert run["backend"] == "jax" and run["data"]["data_dir"] is None
    assert "trials 1" in done.stdout and (tmp_path / "sweep" / "fig7d-ave" / "results.csv").exists()
    # ... and where TensorFlow is installed, python -m edrnet_tf.export serves what JAX trained
    export.main(["--model", str(output)])
    model, rng = keras.saving.load_model(output / "model.keras"), np.random.default_rng(0)
    audio = rng.normal(size=(2, 10, 128)).astype("float32")
    visual = rng.uniform(size=(2, 10, 7, 7, 512)).astype("float32")
    serve = tf.saved_model.load(str(output / "saved_model")).signatures["serving_default"]
    np.testing.assert_allclose(serve(audio=tf.constant(audio), visual=tf.constant(visual))["probs"].numpy(),
                               model.predict({"audio": audio, "visual": visual}, verbose=0)["probs"], atol=1e-5)


def test_release_files_give_the_built_splits_statistics_and_label_counts(sources_of):
    built, release = sources_of
    for split, config in (("train", "supervised"), ("train", "weakly_supervised")):
        a, b = built.statistics(split, config), release.statistics(split, config)
        assert a.videos == b.videos
        for field in ("audio_mean", "audio_variance", "visual_mean", "visual_variance"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-5, atol=1e-6)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(built.label_counts(split), release.label_counts(split))


def test_release_files_give_the_built_test_report(sources_of):
    built, release = sources_of
    model = EDRNet(tiny_config())
    figures = [report.test_report(model, source, batch_size=8) for source in sources_of]
    for found in figures:
        found.pop("dataset")
    assert figures[0] == figures[1]
    assert set(figures[0]["test"]) == {"original", "corrected"}


def test_release_source_names_a_missing_file_in_one_line(synthetic_ave_dir, tmp_path):
    for name in ("audio_feature.h5", "visual_feature.h5", "Annotations.txt", "labels_closs.h5", "right_labels.h5"):
        (tmp_path / name).symlink_to(synthetic_ave_dir / name)
    source = ReleaseSource("ave", None, tmp_path)
    source.ensure("corrected")
    with pytest.raises(Exception, match=r"^tfds_ave/weakly_supervised: missing .*audio_feature_noisy.h5.* in "):
        source.ensure("weakly_supervised")


def test_without_tensorflow_the_sources_read_release_files(monkeypatch, synthetic_ave_dir, tmp_path):
    monkeypatch.setattr(installed, "tensorflow", lambda: False)
    source = sources.resolve("ave", manual_dir=synthetic_ave_dir)
    assert isinstance(source, ReleaseSource) and source.data_dir is None
    synthetic = sources.resolve("synthetic", cache_dir=tmp_path, synthetic_videos=40, synthetic_seed=3)
    assert isinstance(synthetic, ReleaseSource) and synthetic.synthetic
    assert not (tmp_path / "synthetic-v2-n40-s3" / "tfds").exists()  # nothing built
    with pytest.raises(ValueError, match=r"^--manual-dir=None is invalid: expected the folder of the AVE .h5 files"):
        sources.resolve("ave")


@pytest.mark.parametrize("argv, expected", [
    (["--data-placement", "host"], "--data-placement='host' is invalid: expected device where TensorFlow is not "
                                   "installed (host placement feeds tf.data)"),
    (["--dataset", "ave", "--data-placement", "device"], "--manual-dir=None is invalid: expected the folder of the "
                                                         "AVE .h5 files where TensorFlow is not installed"),
])
def test_without_tensorflow_bad_flags_are_one_line(monkeypatch, capsys, argv, expected):
    monkeypatch.setattr(installed, "tensorflow", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        flags.parse_train_args(argv)
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err.strip().splitlines()[-1]


def test_labels_only_give_the_labels_of_the_full_read_without_features(sources_of):
    for source in sources_of:
        full, labels = source.arrays("test", "corrected"), source.arrays("test", "corrected", labels_only=True)
        assert set(labels) == {"segment_labels", "video_label", "row"}
        for key, value in labels.items():
            np.testing.assert_array_equal(value, full[key])
            assert value.dtype == np.int64
