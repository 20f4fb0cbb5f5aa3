"""The distribution guard of prediction (``serving.input_check``): its figures against NumPy, no warning on the
model's own training features, warnings on linear audio into a relu-trained model and on visual maps x0.1, the
``input_check`` of predict's JSON lines and evaluate's figures, and the recorded-extraction mismatch line."""

import json

import h5py
import keras
import numpy as np
import pytest

from edrnet_tf import EDRNet, EDRNetConfig, evaluate, predict
from edrnet_tf.cli import run_main
from edrnet_tf.config import TrainSettings
from edrnet_tf.data import arrays, pipeline, statistics
from edrnet_tf.serving import input_check
from edrnet_tf.training import run_folder

TINY = EDRNetConfig(width=16, visual_width=8, num_layers=1)  # windows of >= 3 segments


def numpy_figures(train, given):
    """mean |z| of the channel means, geometric-mean rms ratio and negative shares, straight from the arrays
    ([..., C]); channels whose training spread is under 1e-3 of the median channel's left out."""
    x = np.asarray(train, np.float64).reshape(-1, train.shape[-1])
    y = np.asarray(given, np.float64).reshape(-1, given.shape[-1])
    sd = x.std(axis=0)
    keep = sd > 1e-3 * np.median(sd)
    z = np.abs(y.mean(0) - x.mean(0))[keep] / sd[keep]
    rms = np.sqrt((y ** 2).mean(0))[keep] / np.sqrt((x ** 2).mean(0))[keep]
    return {"mean_abs_z": z.mean(), "rms_ratio": np.exp(np.log(np.clip(rms, 1e-3, 1e3)).mean()),
            "negative_share": (y < 0).mean(), "training_negative_share": (x < 0).mean()}


def model_of(audio, visual, config=TINY):
    """An EDRNet holding the training statistics of ``audio`` and ``visual``, as ``train`` sets them."""
    model = EDRNet(config)
    model.set_input_statistics(statistics.stream_statistics([{"audio": audio, "visual": visual}]))
    return model


@pytest.fixture(scope="module")
def splits(synthetic_ave_dir):
    return {split: arrays.read_split(synthetic_ave_dir, split) for split in ("train", "validation")}


@pytest.fixture(scope="module")
def synthetic_model(splits):
    return model_of(splits["train"]["audio"], splits["train"]["visual"])


def test_figures_equal_an_independent_numpy_computation():
    rng = np.random.default_rng(0)
    train_audio = rng.normal(0.3, 1.0, (6, 10, 128)).astype(np.float32)
    train_visual = rng.gamma(0.7, 1.0, (6, 10, 7, 7, 512)).astype(np.float32)
    train_visual[..., 7] = 0.0  # a channel never active in training: left out
    audio = rng.normal(0.1, 2.0, (3, 12, 128)).astype(np.float32)
    visual = (rng.gamma(0.7, 1.0, (3, 12, 7, 7, 512)) * rng.uniform(0.1, 3, 512)).astype(np.float32)
    found = input_check.check_arrays(input_check.model_reference(model_of(train_audio, train_visual)), audio, visual)
    for name, train, given in (("audio", train_audio, audio), ("visual", train_visual, visual)):
        for key, value in numpy_figures(train, given).items():
            assert found[name][key] == pytest.approx(value, rel=1e-4, abs=1e-6), (name, key)


def test_the_models_own_training_features_raise_no_warning(synthetic_model, splits):
    reference = input_check.model_reference(synthetic_model)
    for split in ("train", "validation"):
        audio, visual = splits[split]["audio"], splits[split]["visual"]
        checks = [input_check.check_arrays(reference, audio, visual)]
        checks += [input_check.check_arrays(reference, audio[i:i + 1], visual[i:i + 1]) for i in range(len(audio))]
        assert not [c for c in checks if input_check.flagged(c)], split
    whole = checks[0]
    assert whole["audio"]["training_negative_share"] == pytest.approx(0.5, abs=0.02)  # the synthetic audio is Gaussian
    assert whole["visual"]["training_negative_share"] == 0.0


def test_linear_audio_into_a_model_trained_on_relu_audio_is_flagged(splits):
    train, validation = splits["train"], splits["validation"]
    reference = input_check.model_reference(model_of(np.maximum(train["audio"], 0), train["visual"]))
    relu = input_check.check_arrays(reference, np.maximum(validation["audio"], 0), validation["visual"])
    assert not input_check.flagged(relu)
    for i in range(len(validation["audio"])):  # every video on its own, as predict checks them
        linear = input_check.check_arrays(reference, validation["audio"][i:i + 1], validation["visual"][i:i + 1])
        assert list(input_check.flagged(linear)) == ["audio"]
        assert "of values negative (training 0.0%)" in input_check.flagged(linear)["audio"][-1]


def test_visual_maps_scaled_by_a_tenth_are_flagged_and_by_a_half_are_not(synthetic_model, splits):
    reference = input_check.model_reference(synthetic_model)
    audio, visual = splits["validation"]["audio"], splits["validation"]["visual"]
    tenth = input_check.check_arrays(reference, audio, visual * 0.1)
    assert list(input_check.flagged(tenth)) == ["visual"]
    assert tenth["visual"]["rms_ratio"] == pytest.approx(0.1, rel=0.05)
    line = input_check.warning_line(tenth, "the test features")
    ratio = tenth["visual"]["rms_ratio"]
    assert "\n" not in line and line.startswith("WARNING: input check: the test features are off the training "
                                                f"distribution: visual features: rms ratio {ratio:.3g} to training "
                                                "(limit x4 either way)")
    assert not input_check.flagged(input_check.check_arrays(reference, audio, visual * 0.5))


def test_a_model_without_statistics_is_reported_unchecked():
    found = input_check.check_arrays(input_check.model_reference(EDRNet(TINY)), np.ones((1, 3, 128), np.float32),
                                     np.ones((1, 3, 7, 7, 512), np.float32))
    assert found["audio"] == found["visual"] == {"checked": False,
                                                 "reason": "the model holds no training statistics for it"}


def test_a_model_whose_training_channels_never_varied_is_reported_unchecked_not_nan():
    constant = model_of(np.ones((1, 3, 128), np.float32), np.ones((1, 3, 7, 7, 512), np.float32))
    found = input_check.check_arrays(input_check.model_reference(constant), np.zeros((1, 3, 128), np.float32),
                                     np.zeros((1, 3, 7, 7, 512), np.float32))
    assert found["audio"] == found["visual"] == {"checked": False, "reason": "no channel varied in training"}


def test_the_training_negative_share_survives_keras_save_and_load(synthetic_model, tmp_path):
    synthetic_model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert dict(restored.input_negative_share) == dict(synthetic_model.input_negative_share)
    for (a, b) in zip(input_check.model_reference(restored).values(),
                      input_check.model_reference(synthetic_model).values()):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[2] == b[2]


def write_features(folder, audio, visual, **attrs):
    for name, data in (("audio.h5", audio), ("visual.h5", visual)):
        with h5py.File(folder / name, "w") as f:
            f.create_dataset("avadataset", data=data)
            f.attrs.update(attrs)


def run_folder_of(model, folder, features):
    """A run folder: ``model.keras`` and a ``run.json`` whose ``features`` record is ``features``."""
    folder.mkdir(exist_ok=True)
    model.save(folder / run_folder.MODEL)
    run_folder.write_run(folder, {"config": model.config.to_dict(), "settings": TrainSettings().to_dict(),
                                  "features": features}, trained=True)
    return folder


def predict_lines(argv, capsys):
    run_main(predict.PROG, predict.main, argv)
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], [line for line in captured.err.splitlines()
                                                                       if "input check" in line]


def test_predict_writes_input_check_and_warns_only_on_off_distribution_features(synthetic_model, splits, tmp_path,
                                                                               capsys):
    run = run_folder_of(synthetic_model, tmp_path / "run", input_check.SYNTHETIC)
    audio, visual = splits["validation"]["audio"][:3], splits["validation"]["visual"][:3]
    write_features(tmp_path, audio, visual)
    argv = ["--model", str(run), "--audio", str(tmp_path / "audio.h5"), "--visual", str(tmp_path / "visual.h5")]
    lines, warnings = predict_lines(argv, capsys)
    assert warnings == []
    for row, line in enumerate(lines):
        expected = numpy_figures(splits["train"]["visual"], visual[row])
        assert line["input_check"]["visual"]["rms_ratio"] == pytest.approx(expected["rms_ratio"], rel=1e-4)
        assert line["input_check"]["audio"]["warnings"] == line["input_check"]["visual"]["warnings"] == []
        assert line["input_check"]["features"] == {"trained": input_check.SYNTHETIC, "given": {}, "differences": {}}
    write_features(tmp_path, audio, visual * 0.1)
    lines, warnings = predict_lines(argv, capsys)
    assert len(warnings) == 1
    assert warnings[0].startswith("WARNING: input check: features off the training distribution: visual in 3 of 3 "
                                  "videos; first, row 0: visual features: rms ratio 0.")
    assert all(line["input_check"]["visual"]["warnings"] and not line["input_check"]["audio"]["warnings"]
               for line in lines)


def test_predict_names_features_extracted_otherwise_than_the_runs_record(synthetic_model, splits, tmp_path, capsys):
    run = run_folder_of(synthetic_model, tmp_path / "run", input_check.AVE_RELEASE)
    audio, visual = splits["validation"]["audio"][:1], splits["validation"]["visual"][:1]
    argv = ["--model", str(run), "--audio", str(tmp_path / "audio.h5"), "--visual", str(tmp_path / "visual.h5")]
    write_features(tmp_path, audio, visual, vggish_embedding="relu", frame_rule="ave", frames_per_segment=16)
    lines, warnings = predict_lines(argv, capsys)
    assert warnings == [] and lines[0]["input_check"]["features"]["differences"] == {}
    write_features(tmp_path, audio, visual, vggish_embedding="linear", frame_rule="ave", frames_per_segment=16)
    lines, warnings = predict_lines(argv, capsys)
    assert warnings == ["WARNING: input check: --audio/--visual files made with vggish_embedding='linear', the "
                        "model was trained on vggish_embedding='relu' (run.json features)"]
    assert lines[0]["input_check"]["features"]["differences"] == {
        "vggish_embedding": {"trained": "relu", "given": "linear"}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from edrnet_tf.extraction.synthetic_video import write_video

    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=3.0)


def test_predict_video_with_random_weights_into_a_synthetic_model_is_flagged(synthetic_model, clip, tmp_path,
                                                                             capsys):
    run = run_folder_of(synthetic_model, tmp_path / "run", input_check.AVE_RELEASE)
    lines, warnings = predict_lines(["--model", str(run), "--video", str(clip), "--random-weights",
                                     "--frames-per-segment", "2"], capsys)
    assert warnings[0] == ("WARNING: input check: --video made with frames_per_segment=2, the model was trained on "
                           "frames_per_segment=16 (run.json features)")
    assert len(warnings) == 2 and warnings[1].startswith(
        f"WARNING: input check: features off the training distribution: audio in 1 of 1 videos, visual in 1 of 1 "
        f"videos; first, {str(clip)!r}: audio features: rms ratio")
    assert lines[0]["input_check"]["visual"]["rms_ratio"] < 0.25


def test_evaluate_writes_and_prints_the_input_check_of_the_test_split(built_ave, tmp_path, capsys):
    """A model whose visual training maps were x10 the data's: visual flagged, audio (its own) not."""
    data = pipeline.split_arrays(built_ave, "train")
    model_of(data["audio"], data["visual"] * 10, EDRNetConfig(width=16, visual_width=8)).save(tmp_path / "x10.keras")
    out = tmp_path / "figures.json"
    run_main(evaluate.PROG, evaluate.main, ["--model", str(tmp_path / "x10.keras"), "--dataset", "ave",
                                            "--data-dir", str(built_ave), "--output", str(out)])
    found = json.loads(out.read_text())["input_check"]
    test = pipeline.split_arrays(built_ave, "test")
    for name, train, given in (("audio", data["audio"], test["audio"]),
                               ("visual", data["visual"] * 10, test["visual"])):
        expected = numpy_figures(train, given)
        assert found[name]["mean_abs_z"] == pytest.approx(expected["mean_abs_z"], rel=1e-4)
        assert found[name]["rms_ratio"] == pytest.approx(expected["rms_ratio"], rel=1e-4)
    assert found["audio"]["warnings"] == [] and found["visual"]["warnings"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "input check" in line]
    assert warnings == [input_check.warning_line(found, "the test features")]


class FakeSource:
    def __init__(self, synthetic, manual_dir=None):
        self.synthetic, self.manual_dir = synthetic, manual_dir


def test_the_features_record_of_a_run_says_synthetic_ave_release_or_the_extraction_attributes(tmp_path):
    assert input_check.features_record(FakeSource(True, tmp_path)) == input_check.SYNTHETIC
    assert input_check.features_record(FakeSource(False)) == {"vggish_embedding": "relu", "frame_rule": "ave",
                                                              "frames_per_segment": 16}
    with h5py.File(tmp_path / "audio_feature.h5", "w") as f:
        f.attrs.update(vggish_embedding="linear", frame_rule="centre", frames_per_segment=np.int64(8))
    found = input_check.features_record(FakeSource(False, tmp_path))
    assert found == {"vggish_embedding": "linear", "frame_rule": "centre", "frames_per_segment": 8}
    json.dumps(found)  # plain JSON values
