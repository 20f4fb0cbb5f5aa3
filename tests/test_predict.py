"""Prediction on videos of any length: sliding windows, overlap averaging, events, the JSON-lines CLI."""

import json

import h5py
import numpy as np
import pytest

from edrnet_tf import EDRNet, EDRNetConfig, ave, predict
from edrnet_tf.cli import run_main
from edrnet_tf.serving import inference

TINY = EDRNetConfig(width=16, visual_width=8)


def test_window_starts_cover_the_video_and_end_at_its_last_segment():
    assert inference.window_starts(25, 10, 5) == [0, 5, 10, 15]
    assert inference.window_starts(23, 10, 5) == [0, 5, 10, 13]
    assert inference.window_starts(10, 10, 5) == [0]
    assert inference.window_starts(7, 10, 5) == [0]


def test_windowed_probs_average_the_windows_covering_each_segment():
    """A fake model whose probabilities depend on the window content: check against a direct average."""
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(2, 23, 128)).astype(np.float32)
    visual = rng.normal(size=(2, 23, 7, 7, 512)).astype(np.float32)
    weights = rng.normal(size=(128, 29))

    def fake(a, v):  # depends on the window's mean, so windows differ on shared segments
        logits = a @ weights + a.mean(axis=1, keepdims=True) @ weights + v.mean(axis=(1, 2, 3, 4))[:, None, None]
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    got = inference.windowed_probs(fake, audio, visual, window=10, stride=5)
    expected = np.zeros((2, 23, 29))
    count = np.zeros(23)
    for s in (0, 5, 10, 13):
        expected[:, s:s + 10] += fake(audio[:, s:s + 10], visual[:, s:s + 10])
        count[s:s + 10] += 1
    np.testing.assert_allclose(got, expected / count[None, :, None], rtol=1e-5)


def test_events_are_runs_of_one_event_label_with_their_mean_probability():
    labels = np.array([28, 3, 3, 3, 28, 5, 7, 7, 28, 28])
    probs = np.full((10, 29), 0.01)
    probs[1:4, 3] = [0.5, 0.7, 0.9]
    names = ave.class_names()
    assert inference.events(labels, probs, names) == [
        {"class": names[3], "start": 1, "end": 4, "mean_probability": pytest.approx(0.7)},
        {"class": names[5], "start": 5, "end": 6, "mean_probability": pytest.approx(0.01)},
        {"class": names[7], "start": 6, "end": 8, "mean_probability": pytest.approx(0.01)},
    ]


@pytest.fixture(scope="module")
def model_and_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    model = EDRNet(TINY)
    model.save(folder / "model.keras")
    rng = np.random.default_rng(1)
    audio = rng.normal(size=(3, 25, 128))  # float64, as AVE ships its features
    visual = rng.uniform(size=(3, 25, 7, 7, 512))
    for name, data in (("audio.h5", audio), ("visual.h5", visual)):
        with h5py.File(folder / name, "w") as f:
            f.create_dataset("avadataset", data=data)
    return folder, model, audio.astype(np.float32), visual.astype(np.float32)


def test_predict_cli_writes_one_json_line_per_25_segment_video(model_and_files):
    folder, model, audio, visual = model_and_files
    out = folder / "events.jsonl"
    run_main("predict", predict.main, ["--model", str(folder), "--audio", str(folder / "audio.h5"),
                                       "--visual", str(folder / "visual.h5"), "--rows", "2,0",
                                       "--output", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["row"] for line in lines] == [2, 0]
    starts = inference.window_starts(25, 10, 5)
    for line in lines:
        row = line["row"]
        windows = [model.predict({"audio": audio[row:row + 1, s:s + 10], "visual": visual[row:row + 1, s:s + 10]},
                                 verbose=0)["probs"][0] for s in starts]
        total, count = np.zeros((25, 29)), np.zeros(25)
        for s, p in zip(starts, windows):
            total[s:s + 10] += p
            count[s:s + 10] += 1
        raw = np.argmax(total / count[:, None], axis=-1)
        assert line["labels_raw"] == raw.tolist()
        assert len(line["labels"]) == len(line["segment_labels"]) == 25
        assert line["segment_labels"] == [ave.class_names()[c] for c in line["labels"]]
        covered = [t for e in line["events"] for t in range(e["start"], e["end"])]
        assert covered == [t for t, c in enumerate(line["labels"]) if c != ave.BACKGROUND]


def _argv(folder, model=None, audio="audio.h5", visual="visual.h5"):
    """predict's argv on files of ``folder`` with ``--output folder/events.jsonl``."""
    return ["--model", str(model or folder), "--audio", str(folder / audio), "--visual", str(folder / visual),
            "--output", str(folder / "events.jsonl")]


@pytest.mark.parametrize("change,flag", [
    ({"--audio": "visual.h5"}, "--audio"),
    ({"--visual": "missing.h5"}, "--visual"),
    ({"--key": "features"}, "--audio"),
    ({"--rows": "0,7"}, "--rows"),
    ({"--rows": "5-2"}, "--rows"),
    ({"--window": "4"}, "--window"),
    ({"--window": "0"}, "--window"),
    ({"--stride": "0"}, "--stride"),
    ({"--batch-size": "0"}, "--batch-size"),
    ({"--batch-size": "-1"}, "--batch-size"),
    ({"--output": "no_such_folder/events.jsonl"}, "--output"),
])
def test_bad_predict_input_exits_with_one_line_naming_the_flag(model_and_files, tmp_path, capsys, change, flag):
    folder = model_and_files[0]
    args = {"--model": str(folder), "--audio": "audio.h5", "--visual": "visual.h5", "--output": "events.jsonl",
            **change}
    base = {"--audio": folder, "--visual": folder, "--output": tmp_path}
    argv = [x for k, v in args.items() for x in (k, str(base[k] / v) if k in base else v)]
    with pytest.raises(SystemExit) as exit_info:
        run_main("predict", predict.main, argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and f"{flag}=" in error
    assert list(tmp_path.iterdir()) == []  # no output, not even an empty one


def _write_features(folder, name, data, **storage):
    with h5py.File(folder / name, "w") as f:
        f.create_dataset("avadataset", data=data, **storage)


def _refused(argv, folder):
    """Runs predict expecting exit status 1 (one line, returned); ``events.jsonl`` keeps its old content."""
    earlier = '{"row": 0, "labels": [28], "earlier": true}\n'  # an earlier output of predict
    (folder / "events.jsonl").write_text(earlier)
    with pytest.raises(SystemExit) as exit_info:
        run_main("predict", predict.main, argv)
    message = exit_info.value.code
    assert isinstance(message, str) and "\n" not in message  # sys.exit(message): status 1
    assert (folder / "events.jsonl").read_text() == earlier
    assert sorted(p.name for p in folder.iterdir() if "events" in p.name) == ["events.jsonl"]  # no temp file left
    return message


def test_a_nan_input_row_is_refused_naming_the_row(model_and_files):
    folder, _, audio, _ = model_and_files
    audio = audio.copy()
    audio[1, 7, 3] = np.nan
    _write_features(folder, "nan_audio.h5", audio)
    message = _refused(_argv(folder, audio="nan_audio.h5"), folder)
    assert message.endswith("nan_audio.h5' is invalid: expected finite features, found NaN or inf in row 1")
    assert "--audio=" in message


def test_a_read_error_after_written_rows_leaves_no_partial_output(model_and_files):
    """Row 2 of a gzip file with one chunk per row is zeroed on disk: rows 0 and 1 are predicted first."""
    folder, _, _, visual = model_and_files
    _write_features(folder, "corrupt_visual.h5", visual, chunks=(1,) + visual.shape[1:], compression="gzip")
    with h5py.File(folder / "corrupt_visual.h5", "r") as f:
        chunk = f["avadataset"].id.get_chunk_info_by_coord((2, 0, 0, 0, 0))
    with open(folder / "corrupt_visual.h5", "r+b") as f:
        f.seek(chunk.byte_offset)
        f.write(bytes(chunk.size))
    message = _refused(_argv(folder, visual="corrupt_visual.h5") + ["--batch-size", "1"], folder)
    assert "--visual=" in message and "corrupt_visual.h5' is invalid: expected readable features in rows 2-2" in message


def test_a_model_giving_nan_is_refused_instead_of_writing_nan_json(model_and_files, tmp_path):
    folder, model, _, _ = model_and_files
    broken = EDRNet(TINY)  # finite weights so large that the logits overflow
    broken.set_weights([np.full_like(w, 1e30) if w.dtype.kind == "f" else w for w in model.get_weights()])
    broken.save(tmp_path / "model.keras")
    message = _refused(_argv(folder, model=tmp_path), folder)
    assert "model.keras' is invalid: expected finite probabilities, found NaN or inf for row 0" in message


def test_a_model_with_a_nan_weight_is_refused_at_load_naming_the_file_and_weight(model_and_files, tmp_path):
    folder, model, _, _ = model_and_files
    broken = EDRNet(TINY)
    weights = model.get_weights()
    weights[0] = weights[0].copy()
    weights[0].flat[0] = np.nan
    broken.set_weights(weights)
    broken.save(tmp_path / "model.keras")
    message = _refused(_argv(folder, model=tmp_path), folder)
    assert message.startswith(f"predict: error: {tmp_path / 'model.keras'}: expected finite weights, found NaN or "
                              f"inf in {broken.weights[0].path} ")
