"""``python -m edrnet_tf.extract``: AVE-layout files, row mapping, resume, recorded choices, one-line errors
with nothing left behind."""

import json
import subprocess
import sys

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
    assert not (tmp_path / "out").exists()


def test_extract_with_a_wrong_checkpoint_exits_with_one_line_naming_it(clips, tmp_path):
    (tmp_path / "wrong.ckpt").write_bytes(b"\x00" * 64)
    with pytest.raises(SystemExit, match=r"error: --vggish-checkpoint='.*wrong.ckpt' is not a readable") as info:
        run([str(clips["a"]), "--out", str(tmp_path / "out"), "--vggish-checkpoint", str(tmp_path / "wrong.ckpt"),
             "--vgg19-weights", str(tmp_path / "absent.h5")])
    assert "\n" not in str(info.value.code)
    assert not (tmp_path / "out").exists()  # the networks are loaded before the first file is created


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


def test_frames_per_segment_defaults_to_aves_16_in_extract_and_predict():
    from edrnet_tf import predict

    args = extract.build_parser().parse_args(["v.mp4", "--out", "o"])
    assert (args.frames_per_segment, args.frame_rule, args.vggish_embedding) == (16, "ave", None)
    assert extract.check_weight_flags(extract.build_parser(), args.__class__(**{**vars(args), "random_weights": True})
                                      ) == {"vggish_embedding": "relu", "frame_rule": "ave", "frames_per_segment": 16}
    assert predict.build_parser().parse_args(["--model", "m", "--video", "v.mp4"]).frames_per_segment == 16


def read_attributes(folder):
    with h5py.File(folder / writer.AUDIO_FILE) as a, h5py.File(folder / writer.VISUAL_FILE) as v:
        assert dict(a.attrs) == dict(v.attrs)
        return dict(a.attrs)


def test_extract_records_its_choices_in_both_files_and_refuses_to_mix_others(clips, tmp_path, capsys):
    out = tmp_path / "out"
    run([str(clips["a"]), "--out", str(out), *FAST, "--vggish-embedding", "linear", "--frame-rule", "centre"])
    assert read_attributes(out) == {"vggish_embedding": "linear", "frame_rule": "centre", "frames_per_segment": 2}
    before = {name: (out / name).read_bytes() for name in (writer.AUDIO_FILE, writer.VISUAL_FILE, writer.VIDEOS_FILE)}
    for flags, flag in ((["--vggish-embedding", "linear"], "--frame-rule"),  # default ave vs centre
                        (["--frame-rule", "centre"], "--vggish-embedding"),  # default relu vs linear
                        (["--vggish-embedding", "linear", "--frame-rule", "centre", "--frames-per-segment", "3"],
                         "--frames-per-segment")):
        with pytest.raises(SystemExit, match=f"error: {flag}=.* differs from '.*audio_feature.h5'") as info:
            run([str(clips["b"]), "--out", str(out), "--random-weights", *flags])
        assert "\n" not in str(info.value.code)
    assert before == {name: (out / name).read_bytes() for name in before}


def test_extract_refuses_a_folder_written_without_recorded_choices(clips, tmp_path):
    out = tmp_path / "out"
    run([str(clips["a"]), "--out", str(out), *FAST])
    for name in (writer.AUDIO_FILE, writer.VISUAL_FILE):
        with h5py.File(out / name, "a") as handle:  # as an extract before the attributes existed wrote it
            for attribute in writer.ATTRIBUTES:
                del handle.attrs[attribute]
    with pytest.raises(SystemExit, match="records no vggish_embedding"):
        run([str(clips["b"]), "--out", str(out), *FAST])


@pytest.mark.parametrize("flags, message", [
    (["--vggish-embedding", "pca"], "--vggish-embedding pca needs --vggish-pca"),
    (["--vggish-embedding", "relu", "--vggish-pca", "p.npz"], "--vggish-pca is only used by --vggish-embedding pca"),
    (["--vggish-embedding", "softplus"], "argument --vggish-embedding: invalid choice: 'softplus'"),
    (["--frame-rule", "middle"], "argument --frame-rule: invalid choice: 'middle'"),
    (["--extract-batch-size", "0"], "argument --extract-batch-size: expected an integer >= 1, found '0'"),
    (["--extract-batch-size", "-1"], "argument --extract-batch-size: expected an integer >= 1, found '-1'"),
    (["--frames-per-segment", "0"], "argument --frames-per-segment: expected an integer >= 1"),
])
def test_extract_names_a_bad_flag_in_one_line_before_creating_anything(clips, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as info:
        run([str(clips["a"]), "--out", str(tmp_path / "out"), "--random-weights", *flags])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
    assert not (tmp_path / "out").exists()


def test_extract_with_a_bad_pca_file_leaves_no_output_folder(clips, tmp_path):
    (tmp_path / "pca.npz").write_bytes(b"not numpy")
    with pytest.raises(SystemExit, match="--vggish-pca='.*pca.npz' is not a VGGish PCA file"):
        run([str(clips["a"]), "--out", str(tmp_path / "out"), "--random-weights", "--vggish-pca",
             str(tmp_path / "pca.npz")])
    assert not (tmp_path / "out").exists()


def test_extract_names_a_video_with_fewer_frames_than_16_per_second_and_writes_nothing(clips, tmp_path):
    with pytest.raises(SystemExit, match="1 of 1 videos failed"):  # a.mp4: 10 fps, 2 s: 20 frames < 16 x 2
        run([str(clips["a"]), "--out", str(tmp_path / "out"), "--random-weights"])
    assert not (tmp_path / "out").exists()


def test_extract_with_out_a_regular_file_names_it_in_one_line(clips, tmp_path, capsys):
    (tmp_path / "afile.txt").write_text("mine")
    with pytest.raises(SystemExit) as info:
        run([str(clips["a"]), "--out", str(tmp_path / "afile.txt"), *FAST])
    assert info.value.code == 2
    assert "argument --out: expected a folder path, found the regular file" in capsys.readouterr().err
    assert (tmp_path / "afile.txt").read_text() == "mine"


def test_extract_names_an_output_file_that_is_not_hdf5_and_leaves_it_alone(clips, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / writer.AUDIO_FILE).write_text("my notes")
    with pytest.raises(SystemExit, match=r"audio_feature.h5' is not an HDF5 file") as info:
        run([str(clips["a"]), "--out", str(out), *FAST])
    assert "\n" not in str(info.value.code)
    assert (out / writer.AUDIO_FILE).read_text() == "my notes" and sorted(p.name for p in out.iterdir()) == [
        writer.AUDIO_FILE]


def test_extract_names_a_list_file_that_is_not_utf8(clips, tmp_path):
    (tmp_path / "list.txt").write_bytes(b"\xff\xfe" + str(clips["a"]).encode("utf-16-le"))
    with pytest.raises(SystemExit, match=r"list.txt': expected a UTF-8 list of videos, found byte 0xff at offset 0"
                       ) as info:
        run([str(tmp_path / "list.txt"), "--out", str(tmp_path / "out"), *FAST])
    assert "\n" not in str(info.value.code) and not (tmp_path / "out").exists()


def test_two_extracts_into_one_out_at_once_stop_the_second_with_one_line_about_the_lock(clips, tmp_path):
    out = tmp_path / "out"
    run([str(clips["a"]), "--out", str(out), *FAST])
    holder = subprocess.Popen(  # a first extract, still writing: it holds the .h5 files open
        [sys.executable, "-c", "import h5py, sys, time; f = h5py.File(sys.argv[1], 'a'); print('open', flush=True); "
                               "time.sleep(60)", str(out / writer.AUDIO_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(SystemExit, match=r"audio_feature.h5' is locked by another process") as info:
            run([str(clips["b"]), "--out", str(out), *FAST])
        assert "\n" not in str(info.value.code)
    finally:
        holder.kill()
        holder.wait()
    assert (out / writer.VIDEOS_FILE).read_text().splitlines() == [str(clips["a"].resolve())]


def test_extract_names_an_out_whose_videos_txt_is_not_utf8_and_leaves_it_alone(clips, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / writer.VIDEOS_FILE).write_bytes(b"\xff\xfeclip.mp4\n")
    with pytest.raises(SystemExit, match=r"videos.txt' is not a UTF-8 list of videos") as info:
        run([str(clips["a"]), "--out", str(out), *FAST])
    assert "\n" not in str(info.value.code)
    assert sorted(p.name for p in out.iterdir()) == [writer.VIDEOS_FILE]
