"""``python -m edrnet_tf.extract``: AVE-layout files, row mapping, resume, one-line errors."""

import json

import h5py
import numpy as np
import pytest

from edrnet_tf import extract
from edrnet_tf.cli import run_main
from edrnet_tf.extraction import writer
from edrnet_tf.extraction.synthetic_video import write_video

FAST = ["--random-weights", "--frames-per-segment", "2"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {"a": write_video(folder / "a.mp4", seconds=2.0), "b": write_video(folder / "b.mp4", seconds=3.0),
            "silent": write_video(folder / "silent.mp4", seconds=2.0, audio=False)}


def run(argv):
    return run_main(extract.PROG, extract.main, argv)


def test_extract_writes_ave_layout_rows_in_order_and_names_a_failed_video(clips, tmp_path, capsys):
    listing = tmp_path / "videos.lst"
    listing.write_text(f"{clips['b']}\n# a comment\n{clips['silent']}\n")
    with pytest.raises(SystemExit, match="1 of 3 videos failed"):
        run([str(clips["a"]), str(listing), "--out", str(tmp_path / "out"), *FAST])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "silent.mp4" in errors[0] and "no audio track" in errors[0]
    with h5py.File(tmp_path / "out" / writer.AUDIO_FILE) as a, h5py.File(tmp_path / "out" / writer.VISUAL_FILE) as v:
        assert a[writer.KEY].shape == (2, 2, 128) and v[writer.KEY].shape == (2, 2, 7, 7, 512)
        assert a[writer.KEY].dtype == v[writer.KEY].dtype == np.float32
    rows = (tmp_path / "out" / writer.VIDEOS_FILE).read_text().splitlines()
    assert rows == [str(clips["a"].resolve()), str(clips["b"].resolve())]  # b keeps its first T=2 seconds


def test_extract_resumes_skipping_written_videos_without_building_the_networks(clips, tmp_path, capsys,
                                                                              monkeypatch):
    out = tmp_path / "out"
    run([str(clips["a"]), "--out", str(out), "--segments", "2", *FAST])
    with h5py.File(out / writer.AUDIO_FILE) as a:
        first = a[writer.KEY][0]

    def no_networks(*args):
        raise AssertionError("networks built although every video is already written")

    monkeypatch.setattr(extract, "make_extractor", no_networks)
    assert run([str(clips["a"]), "--out", str(out), *FAST]) == 0
    assert "1 of 1 videos already in" in capsys.readouterr().err
    with h5py.File(out / writer.AUDIO_FILE) as a:
        assert a[writer.KEY].shape[0] == 1
        np.testing.assert_array_equal(a[writer.KEY][0], first)


def test_extract_without_a_vggish_checkpoint_exits_with_one_line_naming_the_flag(clips, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run([str(clips["a"]), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--vggish-checkpoint is required" in err and "vggish_model.ckpt" in err


def test_extract_with_a_wrong_checkpoint_exits_with_one_line_naming_it(clips, tmp_path):
    (tmp_path / "wrong.ckpt").write_bytes(b"\x00" * 64)
    with pytest.raises(SystemExit, match=r"error: --vggish-checkpoint='.*wrong.ckpt' is not a readable") as info:
        run([str(clips["a"]), "--out", str(tmp_path / "out"), "--vggish-checkpoint", str(tmp_path / "wrong.ckpt"),
             "--vgg19-weights", str(tmp_path / "absent.h5")])
    assert "\n" not in str(info.value.code)
    assert not (tmp_path / "out" / writer.VIDEOS_FILE).exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from edrnet_tf import EDRNet, EDRNetConfig

    path = tmp_path_factory.mktemp("model") / "model.keras"
    EDRNet(EDRNetConfig(width=16, visual_width=8, num_layers=1, kernel_size=3)).save(path)  # windows of >= 3 s
    return path


def test_predict_video_extracts_features_and_writes_one_event_line_per_video(clips, tiny_model, tmp_path):
    from edrnet_tf import ave, predict

    output = tmp_path / "events.jsonl"
    run_main(predict.PROG, predict.main, ["--model", str(tiny_model), "--video", str(clips["b"]), str(clips["b"]),
                                          "--output", str(output), *FAST])
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(line["video"], line["row"]) for line in lines] == [(str(clips["b"]), 0), (str(clips["b"]), 1)]
    assert len(lines[0]["labels"]) == 3 and set(lines[0]["segment_labels"]) <= set(ave.class_names())
    assert lines[0] == {**lines[1], "row": 0}  # the same video gives the same events


def test_predict_video_names_a_bad_or_too_short_video_and_writes_no_output(clips, tiny_model, tmp_path):
    from edrnet_tf import predict

    output = tmp_path / "events.jsonl"
    for video, message in ((clips["silent"], "silent.mp4': has no audio track"),
                           (clips["a"], r"a.mp4': 2 whole seconds, this model needs .*=3 segments")):
        with pytest.raises(SystemExit, match=message):
            run_main(predict.PROG, predict.main, ["--model", str(tiny_model), "--video", str(clips["b"]), str(video),
                                                  "--output", str(output), *FAST])
        assert not output.exists()
    with pytest.raises(SystemExit) as info:
        predict.main(["--model", str(tiny_model), "--video", str(clips["b"]), "--audio", "a.h5"])
    assert info.value.code == 2
