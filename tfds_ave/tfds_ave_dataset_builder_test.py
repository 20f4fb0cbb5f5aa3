"""The tfds_ave builder: TFDS conformance on dummy_data, exact reproduction of the files, and bad inputs.

``tfds_ave/dummy_data`` is the generator's output: ``python -m edrnet_tf.data.synthetic --out
tfds_ave/dummy_data --dummy`` (``test_dummy_data_is_the_generators_output`` keeps it so).
"""

import contextlib
import hashlib
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets import testing

from edrnet_tf.data import builds, pipeline, synthetic
from edrnet_tf.data.arrays import read_split
from tfds_ave import ave, ave_files, tfds_ave_dataset_builder

ROOT = pathlib.Path(__file__).resolve().parents[1]
DUMMY = ROOT / "tfds_ave" / "dummy_data"


class TfdsAveSupervisedTest(testing.DatasetBuilderTestCase):
    DATASET_CLASS = tfds_ave_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["supervised", "corrected"]
    SPLITS = {"train": 3, "validation": 1, "test": 1}


class TfdsAveWeaklySupervisedTest(testing.DatasetBuilderTestCase):
    DATASET_CLASS = tfds_ave_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["weakly_supervised"]
    SPLITS = {"train": 3 + 2, "validation": 1, "test": 1}  # + the 2 background-only videos


def _h5(folder, name, key="avadataset"):
    with h5py.File(folder / name, "r") as f:
        return f[key][()]


def test_dummy_data_is_the_generators_output(tmp_path):
    fresh = synthetic.write_dummy_data(tmp_path / "dummy")
    assert sorted(p.name for p in fresh.iterdir()) == sorted(p.name for p in DUMMY.iterdir())
    for path in fresh.iterdir():
        if path.suffix == ".h5":
            with h5py.File(path, "r") as f:
                key = next(iter(f.keys()))
            np.testing.assert_array_equal(_h5(fresh, path.name, key), _h5(DUMMY, path.name, key), err_msg=path.name)
        else:
            assert path.read_text() == (DUMMY / path.name).read_text(), path.name


def test_builder_reproduces_the_synthetic_files_exactly(synthetic_ave_dir, built_ave):
    audio = _h5(synthetic_ave_dir, "audio_feature.h5")
    visual = _h5(synthetic_ave_dir, "visual_feature.h5")
    labels = _h5(synthetic_ave_dir, "labels.h5").argmax(-1)
    mil = _h5(synthetic_ave_dir, "mil_labels.h5").argmax(-1)
    annotations = ave.read_annotations(synthetic_ave_dir / "Annotations.txt")
    for split, order_file in {"train": "train_order.h5", "validation": "val_order.h5", "test": "test_order.h5"}.items():
        arrays = pipeline.split_arrays(built_ave, split)
        rows = arrays["row"]
        assert sorted(rows) == sorted(_h5(synthetic_ave_dir, order_file, "order"))
        np.testing.assert_array_equal(arrays["audio"], audio[rows].astype(np.float32))
        np.testing.assert_array_equal(arrays["visual"], visual[rows].astype(np.float32))
        np.testing.assert_array_equal(arrays["segment_labels"], labels[rows])
        np.testing.assert_array_equal(arrays["video_label"], mil[rows])
    for example in tfds.as_numpy(pipeline.load_split(built_ave, "test")):
        a = annotations[example["row"]]
        assert example["video_id"].decode() == a.video_id
        assert example["span"].tolist() == [a.start, a.end]


def test_corrected_config_takes_test_labels_from_right_labels(synthetic_ave_dir, built_ave):
    right = _h5(synthetic_ave_dir, "right_labels.h5").argmax(-1)
    test = pipeline.split_arrays(built_ave, "test", "corrected")
    np.testing.assert_array_equal(test["segment_labels"], right[test["row"]])
    original = pipeline.split_arrays(built_ave, "test", "supervised")
    assert (test["segment_labels"] != original["segment_labels"]).any()  # the fixture has corrected rows
    for split in ("train", "validation"):
        a = pipeline.split_arrays(built_ave, split, "corrected")
        b = pipeline.split_arrays(built_ave, split, "supervised")
        np.testing.assert_array_equal(a["segment_labels"], b["segment_labels"])


def test_weakly_supervised_train_has_video_labels_only_plus_background_videos(synthetic_ave_dir, built_ave):
    train = {int(e["row"]): e for e in tfds.as_numpy(pipeline.load_split(built_ave, "train", "weakly_supervised"))}
    noisy_rows = [r for r in train if r < 0]
    assert sorted(noisy_rows) == sorted(-1 - j for j in range(len(_h5(synthetic_ave_dir, "labels_noisy.h5"))))
    noisy_audio = _h5(synthetic_ave_dir, "audio_feature_noisy.h5")
    for r, e in train.items():
        assert (e["segment_labels"] == e["video_label"]).all()  # video label broadcast, no segment truth
        if r < 0:
            assert e["video_label"] == ave.BACKGROUND
            np.testing.assert_array_equal(e["audio"], noisy_audio[-1 - r].astype(np.float32))
        else:
            assert e["span"].tolist() == [-1, -1]
    val = pipeline.split_arrays(built_ave, "validation", "weakly_supervised")
    supervised = pipeline.split_arrays(built_ave, "validation")
    np.testing.assert_array_equal(val["segment_labels"], supervised["segment_labels"])


def _copy_manual(source, dest, skip=(), link_features=True):
    """A writable copy of a manual folder; large feature files are symlinked, not copied."""
    dest.mkdir()
    for path in source.iterdir():
        if path.name in skip:
            continue
        if link_features and path.name.startswith(("audio_feature", "visual_feature")):
            (dest / path.name).symlink_to(path)
        else:
            shutil.copy(path, dest / path.name)
    return dest


def test_text_files_give_the_same_labels_and_splits_as_the_h5_files(synthetic_ave_dir, built_ave, tmp_path, caplog):
    text_only = _copy_manual(synthetic_ave_dir, tmp_path / "manual", skip=ave_files.H5_LABEL_FILES)
    with caplog.at_level(logging.INFO, logger="absl"):
        builds.build_dataset(text_only, tmp_path / "data", "supervised")
    assert "labels and splits from Annotations.txt + trainSet.txt" in caplog.text
    for split in pipeline.SPLITS:
        from_text = pipeline.split_arrays(tmp_path / "data", split)
        from_h5 = pipeline.split_arrays(built_ave, split)
        for key in ("row", "segment_labels", "video_label"):
            np.testing.assert_array_equal(from_text[key], from_h5[key], err_msg=f"{split} {key}")


def test_the_ave_facts_import_neither_tensorflow_nor_tfds():
    # edrnet_tf/ave.py is loaded on its own: the edrnet_tf package itself imports Keras (the model).
    code = f"""if True:
        import importlib.util, sys
        import tfds_ave, tfds_ave.ave, tfds_ave.ave_files
        spec = importlib.util.spec_from_file_location("edrnet_tf_ave", {str(ROOT / "edrnet_tf" / "ave.py")!r})
        edrnet_ave = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(edrnet_ave)
        assert edrnet_ave.class_names() == tfds_ave.ave.class_names() and len(edrnet_ave.class_names()) == 29
        assert edrnet_ave.read_annotations is tfds_ave.ave.read_annotations
        loaded = [m for m in ("tensorflow", "tensorflow_datasets", "keras") if m in sys.modules]
        assert not loaded, loaded
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_importing_tfds_ave_before_tfds_registers_the_builder():
    code = "import tfds_ave, tensorflow_datasets as tfds; print(tfds.builder_cls('tfds_ave').__module__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["tfds_ave.tfds_ave_dataset_builder"]


def test_tfds_build_command_builds_every_config_from_the_repo_root(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "tfds_ave",
         "--manual_dir", str(DUMMY), "--data_dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    for config, train in (("supervised", 3), ("corrected", 3), ("weakly_supervised", 5)):
        builder = tfds.builder(f"tfds_ave/{config}", data_dir=tmp_path)
        assert {s: builder.info.splits[s].num_examples for s in pipeline.SPLITS} == {
            "train": train, "validation": 1, "test": 1}


def test_tfds_build_command_with_imports_builds_from_any_folder(tmp_path):
    # TFDS' own way to build a dataset of an installed package; works whether or not tfds_ave_build.pth is installed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "tfds_ave", "--imports", "tfds_ave",
         "--config", "supervised", "--manual_dir", str(DUMMY), "--data_dir", str(tmp_path / "data")],
        cwd=elsewhere, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    builder = tfds.builder("tfds_ave/supervised", data_dir=tmp_path / "data")
    assert {s: builder.info.splits[s].num_examples for s in pipeline.SPLITS} == {
        "train": 3, "validation": 1, "test": 1}
    assert list(elsewhere.iterdir()) == []


PACKAGE_FILES = ("README.md", "pyproject.toml", "setup.cfg", "setup.py", "edrnet_tf", "tfds_ave", "tuning")
TFDS_COMMAND = """#!{python}
import sys
from tensorflow_datasets.scripts.cli.main import launch_cli
sys.exit(launch_cli())
"""


@pytest.mark.large
@pytest.mark.parametrize("editable", [False, True], ids=["pip-install", "pip-install-e"])
def test_bare_tfds_build_command_finds_the_installed_builder_from_any_folder(tmp_path, editable):
    # TFDS finds a dataset by name only among the modules already imported or under the working directory; the
    # installed tfds_ave_build.pth imports the builder when TFDS' command line loads, in both kinds of install.
    source = tmp_path / "source"  # a copy: pip writes build/ and *.egg-info into the folder it installs
    source.mkdir()
    for name in PACKAGE_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    # A venv that sees the packages of the Python running this test (its own venv's, where `--system-site-packages`
    # would give its base interpreter's) and no setuptools of its own; this Python's pip installs into it.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site_packages = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    outer = [path for path in sys.path if path.endswith(("site-packages", "dist-packages"))]
    pathlib.Path(site_packages, "_test_outer_site.pth").write_text("\n".join(outer) + "\n")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    install = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                              "--no-build-isolation", *(["-e"] if editable else []), source],
                             capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stderr[-2000:]
    # The venv shares this Python's TFDS, whose `tfds` command lives outside it: the same script, run by the venv.
    tfds_command = venv / "bin" / "tfds"
    tfds_command.write_text(TFDS_COMMAND.format(python=python))
    tfds_command.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([tfds_command, "build", "tfds_ave", "--manual_dir", DUMMY, "--data_dir", tmp_path / "data"],
                            cwd=elsewhere, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Loading dataset tfds_ave from imports: tfds_ave.tfds_ave_dataset_builder" in result.stdout + result.stderr
    for config, train in (("supervised", 3), ("corrected", 3), ("weakly_supervised", 5)):
        builder = tfds.builder(f"tfds_ave/{config}", data_dir=tmp_path / "data")
        assert {s: builder.info.splits[s].num_examples for s in pipeline.SPLITS} == {
            "train": train, "validation": 1, "test": 1}
    where = subprocess.run([python, "-c", "import tfds_ave; print(tfds_ave.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, check=True, env=env).stdout
    assert pathlib.Path(where.strip()).is_relative_to(source if editable else venv)
    assert list(elsewhere.iterdir()) == []


# --- bad inputs: one clear line naming the file, what was expected and what was found ------------


@pytest.fixture
def manual(tmp_path):
    return _copy_manual(DUMMY, tmp_path / "manual", link_features=False)


def _rewrite(folder, name, data, key="avadataset"):
    (folder / name).unlink()
    with h5py.File(folder / name, "w") as f:
        f.create_dataset(key, data=data)


def _build_fails(manual, match, config="supervised"):
    data_dir = manual.parent / "data"
    with pytest.raises(ave_files.AveFilesError, match=match) as info:
        builds.build_dataset(manual, data_dir, config)
    assert "\n" not in str(info.value)
    return data_dir


def test_missing_feature_file_lists_the_expected_files(manual):
    (manual / "visual_feature.h5").unlink()
    _build_fails(manual, r"missing visual_feature\.h5 in .*expected files: audio_feature\.h5, visual_feature\.h5")


def test_missing_label_files_name_both_accepted_sets(manual):
    for name in ave_files.H5_LABEL_FILES[:1] + ave_files.TEXT_LABEL_FILES[:1]:
        (manual / name).unlink()
    _build_fails(manual, r"need either labels\.h5, .* or trainSet\.txt, .*; missing labels\.h5, trainSet\.txt")


def test_corrected_config_without_right_labels_says_where_they_come_from(manual):
    (manual / "right_labels.h5").unlink()
    _build_fails(manual, r"tfds_ave/corrected \(C-AVE test labels from the PSP authors\): missing right_labels\.h5",
                 config="corrected")


def test_nan_feature_row_fails_and_leaves_no_dataset_behind(manual):
    visual = _h5(manual, "visual_feature.h5")
    row = int(_h5(manual, "test_order.h5", "order")[0])
    visual[row, 3, 1, 1, 7] = np.nan
    _rewrite(manual, "visual_feature.h5", visual)
    data_dir = _build_fails(manual, rf"visual_feature\.h5\['avadataset'\] row {row}: expected finite features,"
                                    " found NaN or inf")
    assert not tfds.builder("tfds_ave/supervised", data_dir=data_dir).is_prepared()
    assert list((data_dir / "tfds_ave" / "supervised").glob("*")) == []  # no incomplete.* folder left
    with pytest.raises(FileNotFoundError, match="tfds_ave/supervised is not built in "):
        pipeline.load_split(data_dir, "train")


def test_overlapping_splits_are_refused(manual):
    train = _h5(manual, "train_order.h5", "order")
    _rewrite(manual, "test_order.h5", train[:1], key="order")
    _build_fails(manual, rf"train_order\.h5 and test_order\.h5: expected disjoint splits, found 1 shared rows"
                         rf" \(first: {int(train[0])}\)")


def test_multi_hot_segments_take_the_lowest_class_and_are_counted(manual, caplog):
    labels = _h5(manual, "labels.h5")
    row = int(_h5(manual, "test_order.h5", "order")[0])
    labels[row, 0] = 0.0
    labels[row, 0, [3, 11]] = 1.0  # two event labels, like the real rows 171 and 2189
    _rewrite(manual, "labels.h5", labels)
    with caplog.at_level(logging.INFO, logger="absl"):
        builds.build_dataset(manual, manual.parent / "data", "supervised")
    assert f"1 segment labels in 1 rows [{row}] had several classes set" in caplog.text
    test = pipeline.split_arrays(manual.parent / "data", "test")
    assert test["segment_labels"][list(test["row"]).index(row), 0] == 3


def test_background_video_labels_must_be_background(manual):
    noisy = _h5(manual, "labels_noisy.h5")
    noisy[1] = np.eye(ave.NUM_CLASSES)[4]
    _rewrite(manual, "labels_noisy.h5", noisy)
    _build_fails(manual, r"labels_noisy\.h5 row 1: expected one-hot at column 28 \(background\)",
                 config="weakly_supervised")


def test_split_file_line_not_in_annotations_is_refused(manual):
    for name in ave_files.H5_LABEL_FILES:
        (manual / name).unlink()
    (manual / "valSet.txt").write_text("Bark&notAVideo00&good&0&10\n")
    _build_fails(manual, r"valSet\.txt line 1: expected a row of Annotations\.txt, found 'Bark&notAVideo00&good&0&10'")


def test_unknown_class_in_annotations_is_refused(manual):
    lines = (manual / "Annotations.txt").read_text().splitlines()
    lines[1] = "Kazoo&" + lines[1].split("&", 1)[1]
    (manual / "Annotations.txt").write_text("\n".join(lines) + "\n")
    _build_fails(manual, r"Annotations\.txt line 2: unknown AVE class 'Kazoo'")


def _zero_chunk_of_test_row(manual):
    """Zeroes, on disk, the gzip chunk holding a test row's first segment: the file opens, that read fails."""
    row = int(_h5(manual, "test_order.h5", "order")[0])
    with h5py.File(manual / "visual_feature.h5", "r") as f:
        chunk = f["avadataset"].id.get_chunk_info_by_coord((row - row % 2, 0, 0, 0, 0))
    with open(manual / "visual_feature.h5", "r+b") as f:
        f.seek(chunk.byte_offset)
        f.write(bytes(chunk.size))


def _edit(name, index, value):
    """A corruption: ``name['avadataset'][index] = value``."""
    def edit(manual):
        data = _h5(manual, name)
        data[index] = value
        _rewrite(manual, name, data)
    return edit


BAD_FILES = {  # corruption -> the one-line error (a regular expression)
    "wrong key": (lambda m: _rewrite(m, "audio_feature.h5", _h5(m, "audio_feature.h5"), key="features"),
                  r"audio_feature\.h5: expected key 'avadataset', found keys \['features'\]"),
    "wrong shape": (lambda m: _rewrite(m, "visual_feature.h5", _h5(m, "visual_feature.h5")[..., :256]),
                    r"visual_feature\.h5\['avadataset'\]: expected shape \(5, 10, 7, 7, 512\) for the 5 rows of "
                    r"Annotations\.txt, found \(5, 10, 7, 7, 256\)"),
    "wrong rows": (lambda m: _rewrite(m, "audio_feature.h5", _h5(m, "audio_feature.h5")[:4]),
                   r"audio_feature\.h5\['avadataset'\]: expected shape \(5, 10, 128\) .*found \(4, 10, 128\)"),
    "order out of range": (lambda m: _rewrite(m, "val_order.h5", np.array([99], np.int64), key="order"),
                           r"val_order\.h5: expected row indices in \[0, 5\) .*found 99 at position 0"),
    "no class": (_edit("labels.h5", (2, 4), 0.0),
                 r"labels\.h5 row 2 segment 4: expected a one-hot vector over 29 classes, found no class set"),
    "not 0/1": (_edit("labels.h5", (1, 0, ave.BACKGROUND), 0.5),
                r"labels\.h5 row 1 segment 0: expected one-hot values 0/1, found 0\.5"),
    "video label": (_edit("mil_labels.h5", (0, ave.BACKGROUND), 1.0),
                    r"mil_labels\.h5 row 0: expected one-hot over the 28 event classes"),
    "truncated": (lambda m: (m / "visual_feature.h5").write_bytes((m / "visual_feature.h5").read_bytes()[:100_000]),
                  r"^visual_feature\.h5: expected an HDF5 file, found a truncated or corrupt file \(h5py: .*truncated"),
    "0 bytes": (lambda m: (m / "val_order.h5").write_bytes(b""),
                r"^val_order\.h5: expected an HDF5 file, found an empty \(0-byte\) file$"),
    "corrupt chunk": (_zero_chunk_of_test_row, r"^visual_feature\.h5\['avadataset'\] rows \d+-\d+: expected readable "
                                               r"features, found a truncated or corrupt file \(h5py: "),
    "strings": (lambda m: _rewrite(m, "audio_feature.h5", _h5(m, "audio_feature.h5").astype("S12")),
                r"^audio_feature\.h5\['avadataset'\]: expected float or integer features, found dtype \|S12$"),
    "empty split": (lambda m: _rewrite(m, "val_order.h5", np.zeros(0, np.int64), key="order"),
                    r"^val_order\.h5: expected the rows of the validation split, found none \(empty split\)$"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_named_in_one_line_and_leaves_no_dataset(manual, case):
    corrupt, match = BAD_FILES[case]
    corrupt(manual)
    data_dir = _build_fails(manual, match)
    assert list((data_dir / "tfds_ave" / "supervised").glob("*")) == []


def test_train_and_tfds_build_name_a_truncated_feature_file_in_one_line(manual, tmp_path):
    from edrnet_tf import train  # noqa: PLC0415  (train pulls in the whole model stack)
    from edrnet_tf.cli import run_main  # noqa: PLC0415
    BAD_FILES["truncated"][0](manual)
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.PROG, train.main, ["--dataset", "ave", "--manual-dir", str(manual), "--data-dir",
                                          str(tmp_path / "data"), "--output", str(tmp_path / "run")])
    assert str(exit_info.value.code).startswith(f"{train.PROG}: error: visual_feature.h5: expected an HDF5 file")
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "tfds_ave", "--manual_dir",
         str(manual), "--data_dir", str(tmp_path / "tfds")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "AveFilesError: visual_feature.h5: expected an HDF5 file, found a truncated" in result.stderr


def test_a_byte_order_mark_and_float16_or_int32_features_are_accepted_and_logged(manual, caplog):
    (manual / "Annotations.txt").write_text("\ufeff" + (manual / "Annotations.txt").read_text())
    video_ids = [a.video_id for a in ave.read_annotations(DUMMY / "Annotations.txt")]
    assert [a.video_id for a in ave.read_annotations(manual / "Annotations.txt")] == video_ids
    visual, audio = _h5(manual, "visual_feature.h5").astype(np.float16), _h5(manual, "audio_feature.h5")
    audio = np.round(audio * 100).astype(np.int32)
    _rewrite(manual, "visual_feature.h5", visual)
    _rewrite(manual, "audio_feature.h5", audio)
    with caplog.at_level(logging.INFO, logger="absl"):
        builds.build_dataset(manual, manual.parent / "data", "supervised")
    for name, dtype in (("visual_feature.h5", "float16"), ("audio_feature.h5", "int32")):
        assert f"{name}['avadataset'] holds {dtype} features; accepted, read as float32" in caplog.text
    for example in tfds.as_numpy(pipeline.load_split(manual.parent / "data", "test")):
        assert example["video_id"].decode() == video_ids[example["row"]]
        np.testing.assert_array_equal(example["visual"], visual[example["row"]].astype(np.float32))
        np.testing.assert_array_equal(example["audio"], audio[example["row"]].astype(np.float32))


# --- file-system faults: one line naming the path, nothing written (issue 21 D) ---------------------------


def _fifo_unblocked_after(path, seconds=20):
    """A FIFO at ``path``; a thread opens it for writing after ``seconds``, so a reader that blocks on it (the
    fault under test) gets end-of-file instead of hanging the test session."""
    os.mkfifo(path)

    def unblock():
        time.sleep(seconds)
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
    threading.Thread(target=unblock, daemon=True).start()


MANUAL_FAULTS = {  # fault -> (make it in the manual folder, the one-line error)
    "Annotations.txt a directory": (lambda m: ((m / "Annotations.txt").unlink(), (m / "Annotations.txt").mkdir()),
                                    r"Annotations\.txt: expected a regular file, found a directory$"),
    "Annotations.txt a FIFO": (lambda m: ((m / "Annotations.txt").unlink(),
                                          _fifo_unblocked_after(m / "Annotations.txt")),
                               r"Annotations\.txt: expected a regular file, found a FIFO \(named pipe\)$"),
    "labels.h5 a FIFO": (lambda m: ((m / "labels.h5").unlink(), _fifo_unblocked_after(m / "labels.h5")),
                         r"labels\.h5: expected a regular file, found a FIFO \(named pipe\)$"),
    "Annotations.txt not UTF-8": (lambda m: (m / "Annotations.txt").write_bytes(b"\xff" + (DUMMY / "Annotations.txt")
                                                                                .read_bytes()),
                                  r"^Annotations\.txt: expected UTF-8 text, found byte 0xff at offset 0$"),
    "valSet.txt not UTF-8": (lambda m: ([(m / n).unlink() for n in ave_files.H5_LABEL_FILES],
                                        (m / "valSet.txt").write_bytes(b"Bark\xe9&x&good&0&10\n")),
                             r"^valSet\.txt: expected UTF-8 text, found byte 0xe9 at offset 4$"),
}


@pytest.mark.parametrize("case", MANUAL_FAULTS)
def test_a_file_system_fault_in_the_manual_folder_is_named_and_the_data_dir_is_left_as_it_was(manual, case):
    make, match = MANUAL_FAULTS[case]
    make(manual)
    fresh, kept = manual.parent / "fresh", manual.parent / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine\n")
    for data_dir in (fresh, kept):
        with pytest.raises(ave_files.AveFilesError, match=match) as info:
            builds.build_dataset(manual, data_dir, "supervised")
        assert "\n" not in str(info.value)
    with pytest.raises(ave_files.AveFilesError, match=match):
        read_split(manual, "train")  # the TensorFlow-free path (ReleaseSource)
    assert not fresh.exists()  # no skeleton (downloads/, tfds_ave/.config/, the lock file) left behind
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"] and (kept / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize("what", ["missing", "a file"])
def test_a_manual_dir_that_is_missing_or_a_file_is_named_before_anything_is_written(tmp_path, what):
    manual = tmp_path / "manual"
    if what == "a file":
        manual.write_text("not a folder\n")
    found = "nothing there" if what == "missing" else "a file"
    with pytest.raises(ave_files.AveFilesError, match=rf"^{manual}: expected the manual-download folder of the AVE "
                                                      rf"release files, found {found}$"):
        builds.build_dataset(manual, tmp_path / "data", "supervised")
    with pytest.raises(ave_files.AveFilesError, match=rf"^{manual}: expected the manual-download folder"):
        read_split(manual, "train")  # the TensorFlow-free path (ReleaseSource)
    assert not (tmp_path / "data").exists()


def test_tfds_build_and_train_name_a_missing_manual_dir_or_a_fifo_and_write_nothing(manual, tmp_path):
    from edrnet_tf import train  # noqa: PLC0415  (train pulls in the whole model stack)
    from edrnet_tf.cli import run_main  # noqa: PLC0415
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build", "tfds_ave", "--config", "supervised",
         "--manual_dir", str(tmp_path / "nowhere"), "--data_dir", str(tmp_path / "tfds")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert (f"AveFilesError: {tmp_path / 'nowhere'}: expected the manual-download folder of the AVE release files, "
            "found nothing there") in result.stderr
    MANUAL_FAULTS["Annotations.txt a FIFO"][0](manual)
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.PROG, train.main, ["--dataset", "ave", "--manual-dir", str(manual), "--data-dir",
                                          str(tmp_path / "data"), "--output", str(tmp_path / "run")])
    assert exit_info.value.code == (f"{train.PROG}: error: {manual / 'Annotations.txt'}: expected a regular file, "
                                    "found a FIFO (named pipe)")
    assert not any((tmp_path / name).exists() for name in ("tfds", "data", "run"))


# --- a build remembers the files it was made from (issue 21 G) -------------------------------------------


def test_a_build_records_its_files_and_refuses_other_files_in_the_same_data_dir(manual, tmp_path):
    data_dir = tmp_path / "data"
    builder = builds.build_dataset(manual, data_dir, "supervised")
    recorded = builder.info.metadata[tfds_ave_dataset_builder.MADE_FROM]
    expected = ["Annotations.txt", "audio_feature.h5", "visual_feature.h5", *ave_files.H5_LABEL_FILES]
    assert sorted(recorded) == sorted(expected)
    for name, found in recorded.items():  # small files: size and SHA-256 of the whole file
        data = (manual / name).read_bytes()
        assert found == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    same = _copy_manual(manual, tmp_path / "copy", link_features=False)
    builds.build_dataset(same, data_dir, "supervised")  # the same files elsewhere: the build is kept
    audio = _h5(manual, "audio_feature.h5")
    audio[1, 2, 3] = np.nan
    _rewrite(manual, "audio_feature.h5", audio)
    match = (rf"^tfds_ave/supervised in {data_dir}: expected the files it was built from in {manual}, found other "
             rf"audio_feature\.h5: build into another data folder, or remove {data_dir / 'tfds_ave' / 'supervised'}")
    with pytest.raises(ave_files.AveFilesError, match=match):
        builds.build_dataset(manual, data_dir, "supervised")
    from edrnet_tf import train  # noqa: PLC0415
    from edrnet_tf.cli import run_main  # noqa: PLC0415
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.PROG, train.main, ["--dataset", "ave", "--manual-dir", str(manual), "--data-dir",
                                          str(data_dir), "--output", str(tmp_path / "run")])
    assert re.match(match.replace("^", rf"^{re.escape(train.PROG)}: error: "), str(exit_info.value.code))
    assert not (tmp_path / "run").exists()


def test_a_build_whose_own_manual_folder_was_removed_is_kept_and_another_missing_folder_is_refused(manual, tmp_path):
    # A run evaluated after its .h5 files were deleted reads the build; a mistyped --manual-dir does not.
    data_dir = tmp_path / "data"
    builds.build_dataset(manual, data_dir, "supervised")
    assert tfds_ave_dataset_builder.Builder(config="supervised", data_dir=data_dir).info.metadata[
        tfds_ave_dataset_builder.MADE_IN] == str(manual)
    shutil.rmtree(manual)
    assert builds.build_dataset(manual, data_dir, "supervised").is_prepared()
    with pytest.raises(ave_files.AveFilesError, match=rf"^{tmp_path / 'typo'}: expected the manual-download folder of "
                                                      r"the AVE release files, found nothing there$"):
        builds.build_dataset(tmp_path / "typo", data_dir, "supervised")


def test_a_build_without_a_record_of_its_files_is_refused_with_a_manual_dir(manual, tmp_path):
    data_dir = tmp_path / "data"
    builder = builds.build_dataset(manual, data_dir, "supervised")
    (pathlib.Path(builder.data_dir) / "metadata.json").unlink()  # as built before the record existed
    with pytest.raises(ave_files.AveFilesError, match=r"expected a record of the files it was built from, found "
                                                      r"none \(built by an older tfds_ave\)"):
        builds.build_dataset(manual, data_dir, "supervised")


def test_a_large_file_is_fingerprinted_by_its_size_and_sampled_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(ave_files, "WHOLE_HASH_BYTES", 1000)
    monkeypatch.setattr(ave_files, "SAMPLE_BLOCKS", 4)
    monkeypatch.setattr(ave_files, "SAMPLE_BYTES", 100)
    data = bytearray(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    path = tmp_path / "visual_feature.h5"
    path.write_bytes(data)
    blocks = b"".join(data[o: o + 100] for o in (0, 633, 1266, 1900))  # offsets 1900 * i // 3
    assert ave_files.fingerprint(path) == {"bytes": 2000, "sha256": hashlib.sha256(blocks).hexdigest()}
    data[1950] ^= 1  # inside the last block
    path.write_bytes(data)
    assert ave_files.changed_files(tmp_path, {"visual_feature.h5": {"bytes": 2000,
                                                                    "sha256": hashlib.sha256(blocks).hexdigest()}})


def test_a_synthetic_cache_build_without_a_record_is_built_again(tmp_path):
    manual, data_dir = builds.ensure_synthetic(tmp_path, videos=6, seed=0)
    builder = tfds.builder("tfds_ave/supervised", data_dir=data_dir)
    (pathlib.Path(builder.data_dir) / "metadata.json").unlink()  # a cache built before the record existed
    builds.ensure_synthetic(tmp_path, videos=6, seed=0)
    rebuilt = tfds.builder("tfds_ave/supervised", data_dir=data_dir)
    assert sorted(rebuilt.info.metadata[tfds_ave_dataset_builder.MADE_FROM]) == sorted(
        ["Annotations.txt", "audio_feature.h5", "visual_feature.h5", *ave_files.H5_LABEL_FILES])
