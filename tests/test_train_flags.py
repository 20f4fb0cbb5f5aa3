"""``python -m edrnet_tf.train`` flags: paper defaults, demo defaults, one-line errors naming the flag."""

import dataclasses

import keras
import numpy as np
import pytest

from edrnet_tf import EDRNetConfig, train
from edrnet_tf.cli import run_main
from edrnet_tf.config import TRAINING_DEFAULTS
from edrnet_tf.data import synthetic
from edrnet_tf.training import distribution, flags, runner
from edrnet_tf.training.task import TrainingTask


def test_no_flags_give_the_cpu_demo_model_and_schedule():
    config, settings = flags.parse_train_args([])
    assert config == EDRNetConfig(width=256, visual_width=128)  # config.MODEL_DEFAULTS["synthetic"]
    assert (config.kernel_size, config.num_layers) == (3, 4)
    demo = TRAINING_DEFAULTS["synthetic"]
    assert settings.dataset == "synthetic" and settings.task == "sel"
    assert (settings.synthetic_videos, settings.epochs, settings.smb_per_class, settings.batch_size,
            settings.learning_rate) == (demo["synthetic_videos"], demo["epochs"], demo["smb_per_class"],
                                        demo["batch_size"], demo["learning_rate"])


def test_ave_defaults_to_the_paper_size_model_and_250_fused_videos_per_class(tmp_path):
    config, settings = flags.parse_train_args(["--dataset", "ave", "--data-dir", str(tmp_path)])
    assert config == EDRNetConfig() and (config.width, config.visual_width) == (768, 512)
    assert settings.smb_per_class == 250 and settings.data_dir == tmp_path


def test_placement_and_precision_flags_reach_the_settings():
    _, settings = flags.parse_train_args(["--data-placement", "device", "--mixed-precision", "bfloat16"])
    assert (settings.data_placement, settings.mixed_precision) == ("device", "bfloat16")
    _, settings = flags.parse_train_args([])
    assert (settings.data_placement, settings.mixed_precision) == ("host", "float32")


def test_lr_scaling_flag_scales_the_learning_rate_to_the_batch_size():
    _, settings = flags.parse_train_args(["--batch-size", "64", "--learning-rate", "1e-3", "--lr-scaling", "linear"])
    assert settings.lr_scaling == "linear" and settings.scaled_learning_rate == pytest.approx(4e-3)  # demo batch 16
    assert flags.parse_train_args([])[1].lr_scaling == "none"


def test_smb_sequences_flag_reaches_the_fusion_sampler():
    assert flags.parse_train_args([])[1].smb_sequences == "machine"
    config, settings = flags.parse_train_args(["--smb-sequences", "labels"])
    seg = np.full((4, 10), 28)
    seg[:, 2:8] = 3
    batches = TrainingTask(config, settings)._device_batches({"segment_labels": seg, "video_label": np.full(4, 3)},
                                                             ["probs"])
    assert batches.sampler.db.sequence_rule == "labels"


def test_a_model_flag_overrides_the_demo_model_default():
    config, _ = flags.parse_train_args(["--width", "768", "--visual-width", "512"])
    assert config == EDRNetConfig()


def test_every_config_field_has_a_flag_that_sets_it():
    help_text = flags.build_train_parser().format_help()
    for field in dataclasses.fields(EDRNetConfig):
        assert flags.flag_name(field.name) in help_text
    config, _ = flags.parse_train_args(["--kernel-size", "2", "--num-layers", "9", "--width", "32",
                                        "--visual-width", "16", "--dropout", "0", "--branches", "A,AV",
                                        "--lambda2", "0.5", "--alpha", "1", "--witness-rate", "0.6"])
    assert config == EDRNetConfig(kernel_size=2, num_layers=9, width=32, visual_width=16, dropout=0.0,
                                  branches=("A", "AV"), lambda2=0.5, alpha=1.0, witness_rate=0.6)


@pytest.mark.parametrize("argv,expected", [
    (["--num-layers", "5"], "--num-layers=5 is invalid: expected an integer in [1, 4]"),
    (["--kernel-size", "1"], "--kernel-size=1 is invalid"),
    (["--dropout", "1.5"], "--dropout=1.5 is invalid"),
    (["--branches", "AV"], "--branches=('AV',) is invalid"),
    (["--branches", "A,X"], "--branches=('A', 'X') is invalid"),
    (["--batch-size", "0"], "--batch-size"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--task", "xsel"], "--task"),
    (["--distribution", "tpu"], "--distribution"),
    (["--task", "wsel", "--smb-per-class", "5"], "--smb-per-class=5 is invalid"),
    (["--weight-decay", "0.1"], "--weight-decay=0.1 is invalid: expected to be used with --optimizer adamw"),
    (["--manual-dir", "x"], "--manual-dir='x' is invalid"),
    (["--data-placement", "device", "--backup"], "--backup=True is invalid: expected no --backup with --data-placement"),
    (["--data-placement", "gpu"], "--data-placement"),
    (["--mixed-precision", "float16"], "--mixed-precision"),
])
def test_bad_flags_exit_with_one_line_naming_the_flag(capsys, argv, expected):
    with pytest.raises(SystemExit) as exit_info:
        flags.parse_train_args(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and expected in error, error


@pytest.mark.parametrize("argv", [
    ["--weight-decay", "nan", "--optimizer", "adamw"], ["--weight-decay", "inf", "--optimizer", "adamw"],
    ["--learning-rate", "inf"], ["--dropout", "nan"], ["--lambda2", "nan"], ["--alpha", "inf"],
    ["--witness-rate", "nan"], ["--branch-loss-weight", "inf"], ["--lambda1", "nan"],
])
def test_every_float_flag_refuses_nan_and_inf_at_parse_time(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        flags.parse_train_args(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"argument {argv[0]}: expected a finite" in error, error


@pytest.mark.parametrize("flag", ["--seed", "--synthetic-seed"])
def test_a_negative_seed_is_one_line(capsys, flag):
    with pytest.raises(SystemExit) as exit_info:
        flags.parse_train_args([flag, "-1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"argument {flag}: expected an integer >= 0, found '-1'" in error, error


def test_the_synthetic_generator_cli_refuses_a_negative_seed_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main(["--out", str(tmp_path / "ave"), "--videos", "3", "--seed", "-1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--seed: expected an integer >= 0 (a NumPy generator seed), found -1" in error
    assert not (tmp_path / "ave").exists()


@pytest.mark.parametrize("flag", ["--output", "--cache-dir"])
def test_a_folder_flag_under_a_regular_file_is_one_line(tmp_path, capsys, flag):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        flags.parse_train_args([flag, str(tmp_path / "file" / "run")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"argument {flag}: expected a folder path, found the regular file" in error


def test_an_output_folder_holding_a_run_needs_backup_to_be_reused(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(SystemExit):
        flags.parse_train_args(["--output", str(tmp_path)])
    assert "--output" in capsys.readouterr().err
    assert flags.parse_train_args(["--output", str(tmp_path), "--backup"])[1].backup


def test_missing_ave_data_exits_with_one_line_saying_how_to_build_it(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_main(train.PROG, train.main, ["--dataset", "ave", "--data-dir", str(tmp_path / "tfds"),
                                          "--output", str(out)])
    message = str(exit_info.value.code)
    assert "\n" not in message and "tfds build tfds_ave" in message and str(tmp_path / "tfds") in message
    assert capsys.readouterr().out.startswith("EDRNet SEL training on AVE features")
    assert not out.exists()  # nothing half-written


def test_synthetic_run_says_synthetic_in_its_first_printed_line(monkeypatch, capsys):
    monkeypatch.setattr(runner, "train", lambda config, settings: print("training"))
    train.main([])
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("EDRNet SEL training on synthetic AVE-layout features") and "NOT the real AVE" in first
    assert second == "training"


def test_distribution_choices_on_this_backend():
    assert distribution.resolve("none").devices == 1
    assert distribution.resolve("auto").name in ("none", "mirrored", "data_parallel")
    if keras.backend.backend() == "tensorflow":
        mirrored = distribution.resolve("mirrored")
        assert mirrored.name == "mirrored" and mirrored.devices >= 1
        with pytest.raises(ValueError, match="data_parallel needs KERAS_BACKEND=jax"):
            distribution.resolve("data_parallel")
