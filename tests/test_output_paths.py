"""Every output path is checked before the work, and a command replaces only what edrnet_tf wrote (issue 21
items A, B, C, D, E, G): a user's file or folder at ``--output`` is refused in one line naming it (``--overwrite``
where the user means it), a folder where a file goes, a missing or unwritable folder are refused before any
model is loaded, and a model holding a NaN or inf weight is refused by every tool that loads one."""

import json
import os
import pathlib
import stat

import h5py
import numpy as np
import pytest

from edrnet_tf import EDRNet, baselines, cam, cli, compare, evaluate, experiments, export, files, predict
from edrnet_tf.analysis import cam_strip
from edrnet_tf.serving import event_report
from edrnet_tf.training import run_folder, runner

from helpers import random_inputs, tiny_config
from test_run_safety import settings_for


def one_line(prog, main, argv):
    """The message with which ``main(argv)`` exits under ``run_main`` (status 1)."""
    with pytest.raises(SystemExit) as exited:
        cli.run_main(prog, main, argv)
    return exited.value.code


def parser_line(capsys, main, argv):
    """The one line (exit status 2) ``main(argv)`` prints on stderr."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder holding a tiny ``model.keras`` (no ``run.json``: data flags default to the synthetic demo)."""
    folder = tmp_path_factory.mktemp("output_paths") / "run"
    folder.mkdir()
    model = EDRNet(tiny_config())
    model(random_inputs(batch=1))
    model.save(folder / "model.keras")
    return folder


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fails the test if a tool loads its model: the output path must be refused before."""
    def refuse(path):
        raise AssertionError(f"the model {path} was loaded before the output path was checked")
    monkeypatch.setattr(run_folder, "load_trained_model", refuse)


def tree(folder):
    """``{relative path: bytes}`` of every file under ``folder`` (and the folders, as None)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(pathlib.Path(folder).rglob("*"))}


# A. export never removes a folder it did not write.

def test_export_refuses_a_users_folder_and_replaces_it_only_with_overwrite(run_dir, tmp_path, capsys):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("x")
    error = parser_line(capsys, export.main, ["--model", str(run_dir), "--output", str(precious)])
    assert error == (f"{export.PROG}: error: --output={str(precious)!r} is invalid: expected a path for the "
                     "SavedModel, found a folder there that edrnet_tf did not write (pass --overwrite to replace it, "
                     "or choose another path) (see --help)")
    assert tree(precious) == {"thesis.txt": b"x"} and sorted(os.listdir(tmp_path)) == ["precious"]
    export.main(["--model", str(run_dir), "--output", str(precious), "--overwrite"])
    assert (precious / "saved_model.pb").is_file() and not (precious / "thesis.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["precious"]  # no hidden partial or earlier folder left


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_export_never_writes_over_the_run_it_reads(run_dir, capsys, overwrite):
    before = tree(run_dir)
    for model in (run_dir, run_dir / "model.keras"):
        error = parser_line(capsys, export.main, ["--model", str(model), "--output", str(run_dir), *overwrite])
        assert f"--output={str(run_dir)!r} is invalid: expected a folder apart from --model=" in error
    assert tree(run_dir) == before


def test_export_onto_a_file_is_refused_in_one_line_leaving_no_partial(run_dir, tmp_path, capsys):
    afile = tmp_path / "afile.txt"
    afile.write_text("notes")
    error = parser_line(capsys, export.main, ["--model", str(run_dir), "--output", str(afile), "--overwrite"])
    assert error.endswith(f"--output={str(afile)!r} is invalid: expected a path for the SavedModel (a folder), "
                          "found a file there (see --help)")
    assert os.listdir(tmp_path) == ["afile.txt"] and afile.read_text() == "notes"


def test_an_earlier_export_is_recognised_and_replaced_without_overwrite(run_dir, tmp_path):
    output = tmp_path / "sm"
    (tmp_path / "sm.partial").mkdir()  # a user's folder of the name a fixed temporary name would take
    (tmp_path / "sm.partial" / "keep.txt").write_text("mine")
    export.main(["--model", str(run_dir), "--output", str(output)])
    first = (output / "saved_model.pb").stat().st_mtime_ns
    export.main(["--model", str(run_dir), "--output", str(output)])
    assert (output / "saved_model.pb").stat().st_mtime_ns != first
    assert files.saved_model_folder(output) and sorted(os.listdir(tmp_path)) == ["sm", "sm.partial"]
    assert (tmp_path / "sm.partial" / "keep.txt").read_text() == "mine"


def test_a_run_folder_whose_saved_model_is_not_an_export_is_refused_before_training(built_ave, tmp_path):
    config, output = tiny_config(), tmp_path / "run"
    (output / "saved_model").mkdir(parents=True)
    (output / "saved_model" / "mine.txt").write_text("not an export")
    with pytest.raises(ValueError, match=r"saved_model' is invalid: expected a path for the SavedModel, found a "
                                         r"folder there that edrnet_tf did not write \(remove it, or choose"):
        runner.train(config, settings_for(built_ave, output, backup=True), verbose=0)
    assert tree(output) == {"saved_model": None, "saved_model/mine.txt": b"not an export"}


# A. Each kind of output is recognised as edrnet_tf's own, and nothing else is.

def test_each_output_kind_recognises_what_its_tool_writes_and_nothing_else(tmp_path):
    figure = {"test": {}, "headline": {}, "dataset": "d"}
    own = {
        files.FIGURES_JSON: json.dumps(figure),
        files.COMPARISON_JSON: json.dumps({"run_a": "a", "run_b": "b", "per_class": []}),
        files.COMPARISON_MARKDOWN: "A = `a/metrics.json`, B = `b/metrics.json`; original test labels.\n",
        files.BASELINES_JSON: json.dumps({"baselines": {}, "videos": {}, "seed": 0}),
        files.PREDICTIONS: '{"row": 0, "labels": [28]}\n{"row": 1, "labels": [3]}\n',
        files.TABLE_JSON: json.dumps({"table": "table3", "rows": []}),
        files.TABLE_MARKDOWN: "Table 4: SEL accuracy\n",
        files.EVENT_REPORT: event_report.build_page([np.full((3, 29), 1 / 29)], ["v"], "t"),
    }
    foreign = [b"<!DOCTYPE html>\n<html></html>\n", b"my notes\n", b"{}", b'{"test": 1}', b"[1, 2]", b"\xff\xfe{}", b'{"row": 0, "labels": []}\nnot json\n']
    path = tmp_path / "out"
    for kind, text in own.items():
        path.write_text(text)
        assert kind.recognise(path), kind.what
        files.check_output(path, "--output", kind)
        for other in foreign:
            path.write_bytes(other)
            assert not kind.recognise(path), (kind.what, other)
            with pytest.raises(ValueError, match="found a file there that edrnet_tf did not write"):
                files.check_output(path, "--output", kind)
            files.check_output(path, "--output", kind, overwrite=True)
    path.write_text("")  # an empty file holds nothing to lose
    files.check_output(path, "--output", files.FIGURES_JSON)


def test_a_cam_strip_is_recognised_by_its_png_text_chunk(tmp_path):
    from PIL import Image

    cams = {"visual": np.random.default_rng(0).random((8, 7, 7))}
    cam_strip.write_strip(tmp_path / "ours.png", cams, 3, labels=np.zeros(10, int), predictions=np.zeros(10, int),
                          cell_px=16)
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")
    assert files.written_png(tmp_path / "ours.png") and not files.written_png(tmp_path / "photo.png")


@pytest.mark.parametrize("special", ["fifo", "/dev/null"])
def test_a_device_or_fifo_is_never_replaced_even_with_overwrite(tmp_path, special):
    path = pathlib.Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    with pytest.raises(ValueError, match="found something that is no regular file there"):
        files.check_output(path, "--output", files.PREDICTIONS, overwrite=True)
    assert stat.S_ISFIFO(path.stat().st_mode) if special == "fifo" else stat.S_ISCHR(path.stat().st_mode)


def test_overwrite_replaces_a_file_only_by_a_file(tmp_path):
    (tmp_path / "out.json").mkdir()
    with pytest.raises(ValueError, match=r"expected a path for the figures JSON \(a file\), found a folder there"):
        files.check_output(tmp_path / "out.json", "--output", files.FIGURES_JSON, overwrite=True)


# C. Every tool checks its output path before any work, and names the path the user gave.

def user_files(tmp_path):
    """A user's JSON, Markdown and PNG files, a folder and a path in a missing folder."""
    (tmp_path / "mine.json").write_text('{"my": "data"}\n')
    (tmp_path / "mine.png").write_bytes(b"\x89PNG\r\n\x1a\nnot ours")
    (tmp_path / "folder").mkdir()
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.txt").write_text("x")
    return {"file": tmp_path / "mine.json", "png": tmp_path / "mine.png", "folder": tmp_path / "folder",
            "thesis": tmp_path / "thesis", "missing": tmp_path / "no_such_folder" / "out.json"}


def tool_argvs(run_dir, tmp_path):
    """``(name, main, argv without the output flag, output flag, user's file kind)`` of every tool."""
    metrics = tmp_path / "a"
    metrics.mkdir()
    (metrics / "metrics.json").write_text("{}")
    h5 = tmp_path / "features.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("avadataset", data=np.zeros((1, 10, 128), np.float32))
    return [
        ("evaluate", evaluate.main, ["--model", str(run_dir)], "--output", "file"),
        ("compare --json", compare.main, [str(metrics), str(metrics)], "--json", "file"),
        ("compare --markdown", compare.main, [str(metrics), str(metrics)], "--markdown", "file"),
        ("cam", cam.main, ["--model", str(run_dir), "--row", "0"], "--output", "png"),
        ("baselines", baselines.main, ["--data-dir", str(tmp_path / "nowhere")], "--output", "file"),
        ("predict", predict.main, ["--model", str(run_dir), "--audio", str(h5), "--visual", str(h5)], "--output",
         "file"),
        ("export", export.main, ["--model", str(run_dir)], "--output", "file"),
    ]


@pytest.mark.parametrize("case,found", [
    ("file", "found a file there that edrnet_tf did not write (pass --overwrite to replace it, or choose another "
             "path)"),
    ("folder", "(a file), found a folder there"),
    ("missing", "in an existing folder, found no folder '{missing_parent}'"),
])
def test_every_tool_refuses_a_bad_output_path_in_one_line_before_any_work(run_dir, tmp_path, capsys, no_model_loading,
                                                                         case, found):
    paths = user_files(tmp_path)
    for name, main, argv, flag, kind in tool_argvs(run_dir, tmp_path):
        path = paths[kind if case == "file" else case]
        if name == "export" and case != "missing":  # export writes a folder: a user's folder, or a file in the way
            path = paths["file"] if case == "folder" else paths["thesis"]
        before = tree(tmp_path)
        error = parser_line(capsys, main, argv + [flag, str(path)])
        assert f"error: {flag}={str(path)!r} is invalid: expected a path for the " in error, (name, error)
        expected = found.format(missing_parent=path.parent)
        if name == "export":
            expected = {"file": "found a folder there that edrnet_tf did not write", "folder": "(a folder), found a "
                        "file there", "missing": expected}[case]
        assert expected in error, (name, error)
        assert ".partial" not in error
        assert tree(tmp_path) == before, name


def test_an_unwritable_output_folder_is_named_before_any_work(run_dir, capsys, no_model_loading):
    # /proc takes no new file, even for root (whom permission bits do not stop).
    error = parser_line(capsys, evaluate.main, ["--model", str(run_dir), "--output", "/proc/figures.json"])
    assert "--output='/proc/figures.json' is invalid: expected a path for the figures JSON in a folder this user " \
           "can write to, found '/proc' not writable (" in error


def test_a_tool_replaces_its_own_earlier_output(run_dir, tmp_path):
    metrics = tmp_path / "a"
    metrics.mkdir()
    from test_compare import NAMES, write_metrics

    write_metrics(metrics, {NAMES[0]: 0.5})
    out = tmp_path / "comparison.json"
    for _ in range(2):
        compare.main([str(metrics), str(metrics), "--json", str(out), "--markdown", str(tmp_path / "c.md")])
    assert json.loads(out.read_text())["run_a"] == str(metrics / "metrics.json")
    assert sorted(os.listdir(tmp_path)) == ["a", "c.md", "comparison.json"]


# B. A model holding a NaN or inf weight is refused by every tool that loads one.

@pytest.fixture(scope="module")
def nan_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nan_run")
    model = EDRNet(tiny_config())
    model(random_inputs(batch=1))
    weight = model.weights[3]
    values = np.array(weight.numpy())
    values.flat[1] = np.inf if "bias" in weight.path else np.nan
    weight.assign(values)
    model.save(folder / "model.keras")
    return folder, weight.path


def test_every_tool_that_loads_a_model_refuses_a_nan_weight_naming_the_file_and_the_weight(nan_run, tmp_path):
    folder, bad = nan_run
    h5 = tmp_path / "features.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("avadataset", data=np.zeros((1, 10, 128), np.float32))
    with h5py.File(tmp_path / "visual.h5", "w") as f:
        f.create_dataset("avadataset", data=np.zeros((1, 10, 7, 7, 512), np.float32))
    expected = f"{folder / 'model.keras'}: expected finite weights, found NaN or inf in {bad} "
    for tool, argv in ((export, ["--model", str(folder), "--output", str(tmp_path / "sm")]),
                       (evaluate, ["--model", str(folder), "--output", str(tmp_path / "figures.json")]),
                       (cam, ["--model", str(folder), "--row", "0", "--output", str(tmp_path / "cam.png")]),
                       (predict, ["--model", str(folder), "--audio", str(h5), "--visual", str(tmp_path / "visual.h5"),
                                  "--output", str(tmp_path / "events.jsonl")]),
                       (predict, ["--model", str(folder), "--video", str(tmp_path / "clip.mp4"),
                                  "--output", str(tmp_path / "events.jsonl")])):
        message = one_line(tool.PROG, tool.main, argv)
        assert message.startswith(f"{tool.PROG}: error: {expected}") and "\n" not in message, message
    assert sorted(os.listdir(tmp_path)) == ["features.h5", "visual.h5"]  # nothing written


# D, E, G: predict's HDF5 key, M = 0, file modes; baselines' and experiments' flags.

def write_h5(path, key="avadataset", data=None, group=False):
    with h5py.File(path, "w") as f:
        if group:
            f.create_group(key)
        else:
            f.create_dataset(key, data=data)
    return path


def test_predict_key_naming_an_hdf5_group_is_refused_in_one_line(run_dir, tmp_path, capsys):
    grouped = write_h5(tmp_path / "grouped.h5", group=True)
    error = parser_line(capsys, predict.main, ["--model", str(run_dir), "--audio", str(grouped), "--visual",
                                               str(grouped)])
    assert error.endswith(f"--audio={str(grouped)!r} is invalid: expected the key 'avadataset' (--key) to name a "
                          "dataset, found an HDF5 group (see --help)")


def test_predict_on_no_video_is_refused_instead_of_writing_an_empty_file(run_dir, tmp_path, capsys):
    audio = write_h5(tmp_path / "audio.h5", data=np.zeros((0, 10, 128), np.float32))
    visual = write_h5(tmp_path / "visual.h5", data=np.zeros((0, 10, 7, 7, 512), np.float32))
    error = parser_line(capsys, predict.main, ["--model", str(run_dir), "--audio", str(audio), "--visual",
                                               str(visual), "--output", str(tmp_path / "events.jsonl")])
    assert "is invalid: expected at least one video (M >= 1), found M = 0" in error
    assert not (tmp_path / "events.jsonl").exists()


def test_predict_output_has_the_umask_mode_and_keeps_an_existing_files_mode(run_dir, tmp_path):
    audio = write_h5(tmp_path / "audio.h5", data=np.zeros((1, 10, 128), np.float32))
    visual = write_h5(tmp_path / "visual.h5", data=np.zeros((1, 10, 7, 7, 512), np.float32))
    out = tmp_path / "events.jsonl"
    argv = ["--model", str(run_dir), "--audio", str(audio), "--visual", str(visual), "--output", str(out)]
    umask = os.umask(0o027)
    try:
        predict.main(argv)
        assert stat.S_IMODE(out.stat().st_mode) == 0o640  # 0o666 & ~umask, as open() would give
        out.chmod(0o604)
        predict.main(argv)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o604 and json.loads(out.read_text())["row"] == 0


def test_baselines_seed_flags_are_non_negative_in_one_line(capsys):
    for flag in ("--synthetic-seed", "--seed"):
        error = parser_line(capsys, baselines.main, [flag, "-1"])
        assert error.endswith(f"argument {flag}: expected an integer >= 0, found '-1' (see --help)")


def test_experiments_names_itself_for_an_unknown_training_flag(capsys):
    error = parser_line(capsys, experiments.parse_args, ["table4", "--bogus", "1"])
    assert error == f"{experiments.PROG}: error: unrecognized arguments: --bogus 1 (see --help)"


def test_experiments_refuses_an_output_folder_holding_a_users_table_file(tmp_path, capsys):
    (tmp_path / "table4.json").write_text('{"mine": true}')
    error = parser_line(capsys, experiments.parse_args, ["table4", "--output", str(tmp_path)])
    assert f"--output={str(tmp_path / 'table4.json')!r} is invalid: expected a path for the table JSON, found a " \
           "file there that edrnet_tf did not write (remove it, or choose another path)" in error
    assert (tmp_path / "table4.json").read_text() == '{"mine": true}'


def test_experiments_never_removes_a_run_folder_without_its_run_json(built_ave, tmp_path):
    from edrnet_tf.evaluation import experiments as tables

    table, seeds, output, config, settings = experiments.parse_args(
        ["table4", "--output", str(tmp_path / "out"), "--dataset", "ave", "--data-dir", str(built_ave)])
    spec = tables.RunSpec(branches=("A",), lss=False, smb=False)
    run_dir = output / "runs" / spec.key(config, settings) / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="seed0: expected a run folder of python -m edrnet_tf.experiments"):
        tables.train_or_reuse(spec, config, settings, output / "runs", 0)
    assert (run_dir / "notes.txt").read_text() == "mine"


def test_read_json_names_a_corrupt_or_non_utf8_file(tmp_path):
    for content in (b'{"a": ', b"\xff\xfe{}"):
        (tmp_path / "study.json").write_bytes(content)
        with pytest.raises(ValueError) as error:
            files.read_json(tmp_path / "study.json", "the study's flags as JSON")
        assert str(error.value).startswith(f"{tmp_path / 'study.json'}: expected the study's flags as JSON, found ")
        assert "\n" not in str(error.value)
