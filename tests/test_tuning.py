"""tuning/: the search spaces (conditional L <= L_max(k), every k reachable, the Fig. 7 grids), a 2-trial sweep
end to end (CSV, Markdown, PNG, TensorBoard hparams, resume) and a loopback chief + 2 workers sweep."""

import csv
import os
import pathlib
import socket
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

from edrnet_tf.config import EDRNetConfig, TrainSettings
from tuning import studies, sweep
from tuning.hypermodel import OBJECTIVE, EDRNetHyperModel

ROOT = pathlib.Path(__file__).resolve().parents[1]
L_MAX = {2: 9, 3: 4, 4: 3, 5: 2}  # the paper's L_max for N = 10 ("EDRNet Configurations")
TINY = ["--widths", "16", "--visual-width", "8", "--epochs", "1", "--batch-size", "32", "--no-jit-compile"]


class SpaceOnly(EDRNetHyperModel):
    """The real hyperparameter declaration and trial config (``trial`` validates the EDRNetConfig), with a
    one-weight stand-in model so the oracle can be sampled hundreds of times without building EDRNets."""

    def build(self, hp):
        self.trial(hp)
        return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])


def recording_tuner(tuner_class, hypermodel, tmp_path, **kwargs):
    """A Keras Tuner whose trials record their (EDRNetConfig, TrainSettings) instead of training."""

    class Recording(tuner_class):
        seen = []

        def run_trial(self, trial, *args, **fit_kwargs):
            config, settings = self.hypermodel.trial(trial.hyperparameters)
            self.seen.append((config, settings))
            # Any deterministic objective; it varies so the Bayesian oracle fits a non-flat model.
            return {OBJECTIVE: float(np.sin(config.kernel_size * config.num_layers + config.width / 256))}

    return Recording(hypermodel, objective=keras_tuner.Objective(OBJECTIVE, "max"), directory=str(tmp_path),
                     project_name="p", overwrite=True, seed=0, **kwargs)


def hypermodel_for(study, **overrides):
    config = EDRNetConfig(visual_width=8)
    space = studies.study_space(study, config, smb_per_class=250, learning_rate=1e-4, **overrides)
    return SpaceOnly(space, config, TrainSettings())


def test_declared_space_has_l_max_per_k_and_the_issue_ranges():
    hp = keras_tuner.HyperParameters()
    hypermodel_for("random").declare_hyperparameters(hp)
    by_name = {h.name: h for h in hp.space}
    assert sorted(by_name["kernel_size"].values) == [2, 3, 4, 5]
    for k, l_max in L_MAX.items():
        layers = by_name[studies.layers_name(k)]
        assert (layers.min_value, layers.max_value) == (1, l_max)
        assert [(c.name, list(c.values)) for c in layers.conditions] == [("kernel_size", [k])]
    assert list(by_name["width"].values) == [256, 512, 768, 1024, 1280, 1536]
    assert list(by_name["smb_per_class"].values) == [0, 50, 100, 150, 200, 250, 300, 350, 400]
    assert (by_name["learning_rate"].min_value, by_name["learning_rate"].max_value) == (1e-5, 1e-3)
    assert by_name["learning_rate"].sampling == "log"


@pytest.mark.parametrize("tuner_class,trials,options", [
    (keras_tuner.RandomSearch, 300, {}),
    (keras_tuner.BayesianOptimization, 8, {"num_initial_points": 5}),  # 3 proposals of the Gaussian process
])
def test_sampled_l_never_exceeds_l_max_of_sampled_k_and_every_k_is_reached(tmp_path, tuner_class, trials, options):
    tuner = recording_tuner(tuner_class, hypermodel_for("random"), tmp_path, max_trials=trials, **options)
    tuner.search(verbose=0)
    seen = tuner.seen
    assert len(seen) == trials
    for config, settings in seen:
        assert 1 <= config.num_layers <= L_MAX[config.kernel_size]
        assert config.width in studies.WIDTHS and settings.smb_per_class in studies.SMB_VALUES
        assert 1e-5 <= settings.learning_rate <= 1e-3 and 0.01 <= config.lambda2 <= 1.0
    if tuner_class is keras_tuner.RandomSearch:  # enough draws to reach every k, and every L of every k
        assert {c.kernel_size for c, _ in seen} == {2, 3, 4, 5}
        assert {(c.kernel_size, c.num_layers) for c, _ in seen} == {
            (k, layers) for k, l_max in L_MAX.items() for layers in range(1, l_max + 1)}


@pytest.mark.parametrize("study,expected", [
    ("fig7a", [(2, 9, 768, 250), (3, 4, 768, 250), (4, 3, 768, 250), (5, 2, 768, 250)]),
    ("fig7b", [(3, layers, 768, 250) for layers in (1, 2, 3, 4)]),
    ("fig7c", [(3, 4, width, 250) for width in (256, 512, 768, 1024, 1280, 1536)]),
    ("fig7d", [(3, 4, 768, s) for s in (50, 100, 150, 200, 250, 300, 350, 400)]),
])
def test_fig7_grid_studies_run_exactly_the_papers_configurations(tmp_path, study, expected):
    tuner = recording_tuner(keras_tuner.GridSearch, hypermodel_for(study), tmp_path)
    tuner.search(verbose=0)
    got = [(c.kernel_size, c.num_layers, c.width, s.smb_per_class) for c, s in tuner.seen]
    assert sorted(got) == sorted(expected) and len(got) == len(expected)
    assert {(s.learning_rate, c.lambda2) for c, s in tuner.seen} == {(1e-4, EDRNetConfig.lambda2)}


def test_overrides_replace_a_dimension_and_keep_l_within_l_max():
    space = studies.study_space("fig7a", EDRNetConfig(), 0, 1e-4, kernel_sizes=(2, 5), widths=(16,))
    assert space.swept() == ["kernel_size", "num_layers"]
    assert [space.layer_values(k) for k in (2, 5)] == [(9,), (2,)]
    with pytest.raises(ValueError, match=r"--num-layers=3,4 is invalid for k=5: expected values in \[1, 2\]"):
        studies.study_space("random", EDRNetConfig(), 0, 1e-4, num_layers=(3, 4))
    with pytest.raises(ValueError, match="--kernel-sizes: 7 is invalid"):
        studies.study_space("fig7a", EDRNetConfig(), 0, 1e-4, kernel_sizes=(3, 7))


def test_bad_flags_exit_with_one_line_naming_the_flag(capsys):
    for argv, flag in ((["--study", "fig7z"], "--study"), (["--study", "fig7a", "--widths", "0"], "--widths"),
                       (["--study", "fig7a", "--kernel-sizes", "3,x"], "--kernel-sizes")):
        with pytest.raises(SystemExit) as exit_info:
            sweep.parse_args(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and flag in err


def test_missing_data_stops_the_search_with_one_clear_error_instead_of_failing_every_trial(tmp_path):
    from edrnet_tf.data.tfds_source import TfdsSource

    config = EDRNetConfig(width=16, visual_width=8)
    space = studies.study_space("fig7b", config, smb_per_class=0, learning_rate=1e-4)
    hypermodel = EDRNetHyperModel(space, config, TrainSettings(), source=TfdsSource("ave", tmp_path / "nowhere"))
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    with pytest.raises(keras_tuner.errors.FatalValueError, match=r"tfds_ave/supervised is not built in .*nowhere"):
        hypermodel.fit(hp, hypermodel.build(hp))


def test_a_bad_flag_or_missing_data_writes_no_study_folder_so_the_corrected_rerun_starts(tmp_path, capsys):
    # study.json is written only once everything is checked: a failed start must not leave a study folder
    # whose settings then refuse the corrected command ("started with other settings").
    studies_dir = tmp_path / "studies"
    common = ["--study", "random", "--dataset", "ave", "--output", str(studies_dir), *TINY]
    with pytest.raises(SystemExit) as exit_info:
        sweep.main([*common, "--data-dir", str(tmp_path / "nowhere"), "--lambda2", "nan"])
    assert exit_info.value.code == 2
    assert "--lambda2: expected a finite number, found 'nan'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match=r"tfds_ave/supervised is not built in .*nowhere"):
        sweep.main([*common, "--data-dir", str(tmp_path / "nowhere")])
    assert not studies_dir.exists()


def read_rows(folder):
    with open(folder / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.large
def test_two_trial_sweep_writes_csv_table_plot_and_hparams_and_resumes(tmp_path, built_ave, capsys):
    from matplotlib import image

    argv = ["--study", "fig7d", "--dataset", "ave", "--data-dir", str(built_ave), "--smb-values", "0,2",
            "--output", str(tmp_path), *TINY]
    found = sweep.main(argv)
    folder = tmp_path / "fig7d-ave"
    rows = read_rows(folder)
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"] and len(found) == 2
    assert sorted(int(r["smb_per_class"]) for r in rows) == [0, 2]
    for row in rows:
        assert (row["kernel_size"], row["num_layers"], row["width"]) == ("3", "4", "16")
        assert 0.0 <= float(row[OBJECTIVE]) <= 1.0 and 0.0 <= float(row["test_accuracy"]) <= 1.0
        assert float(row["wall_time_s"]) > 0 and row["epochs_run"] == "1"
    table = (folder / "results.md").read_text()
    assert "| trial | k | L | d | S |" in table and "(best)" in table and "Best trial (on validation)" in table
    assert image.imread(folder / "results.png").ndim == 3
    # Keras Tuner's TensorBoard integration: one run per trial, with the hparams plugin's session data.
    events = list((folder / "logs").glob("*/execution0/events.out.tfevents.*"))
    assert len({e.parent.parent.name for e in events}) == 2
    assert any(b"hparams" in e.read_bytes() for e in events)

    capsys.readouterr()
    again = sweep.main(argv)  # overwrite=False: the finished grid is reloaded, nothing is retrained
    assert "resuming" in capsys.readouterr().out
    assert [r[OBJECTIVE] for r in again] == [r[OBJECTIVE] for r in found]
    with pytest.raises(ValueError, match=r"study.json: this study folder was started with other settings"):
        sweep.main([*argv, "--lambda2", "0.5"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.large
def test_loopback_chief_and_two_workers_finish_and_the_chief_reports_the_best_trial(tmp_path, built_ave):
    argv = [sys.executable, "-m", "tuning.sweep", "--study", "fig7b", "--max-trials", "2", "--dataset", "ave",
            "--data-dir", str(built_ave), "--smb-values", "0", "--output", str(tmp_path), *TINY]
    base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port()),
            "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    processes = {}
    try:
        for name in ("chief", "worker0", "worker1"):
            processes[name] = subprocess.Popen(argv, cwd=ROOT, env={**base, "KERASTUNER_TUNER_ID": name},
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        outputs = {name: p.communicate(timeout=240)[0] for name, p in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{outputs[name][-3000:]}"
    rows = read_rows(tmp_path / "fig7b-ave")
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"]
    best = max(rows, key=lambda r: float(r[OBJECTIVE]))
    assert f"Best trial (on validation): {best['trial']} (k=3, L={best['num_layers']}," in outputs["chief"]
    assert "worker worker0 finished" in outputs["worker0"] and "worker worker1 finished" in outputs["worker1"]


@pytest.mark.parametrize("content", [b'{"study": ', b"\xff\xfe{}", b"[1, 2]"])
def test_a_corrupt_study_json_is_named_in_one_line(tmp_path, content):
    (tmp_path / "study.json").write_bytes(content)
    with pytest.raises(ValueError) as error:
        sweep.check_resume(tmp_path, {"study": "random"})
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'study.json'}: expected the study's flags")
