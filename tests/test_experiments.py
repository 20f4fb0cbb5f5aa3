"""Tables 3 and 4 (edrnet_tf.experiments): layouts, seed statistics, run reuse, flags; a tiny synthetic sweep."""

import dataclasses
import json

import numpy as np
import pytest

from edrnet_tf import experiments as experiments_cli
from edrnet_tf.config import EDRNetConfig, TrainSettings
from edrnet_tf.evaluation import experiments

TINY_FLAGS = ["--width", "16", "--visual-width", "8", "--epochs", "1", "--batch-size", "32", "--smb-per-class", "1",
              "--no-jit-compile", "--tensorboard-per-class", "0"]


def tiny_setup(built_ave, tmp_path, table="table3", extra=()):
    return experiments_cli.parse_args([table, "--dataset", "ave", "--data-dir", str(built_ave), "--output",
                                   str(tmp_path / "out"), *TINY_FLAGS, *extra])


def test_summary_is_mean_and_sample_std():
    s = experiments.summary([0.70, 0.74, 0.78])
    assert s["mean"] == pytest.approx(0.74)
    assert s["std"] == pytest.approx(np.std([0.70, 0.74, 0.78], ddof=1))
    assert experiments.summary([0.5])["std"] is None


def fake_figure(mean, std=None):
    return {"mean": mean, "std": std, "values": [mean]}


def test_table3_markdown_has_the_paper_layout():
    rows = []
    for i, (name, marks, _, wsel, b2ilc) in enumerate(experiments.TABLE3):
        rows.append({"name": name, "marks": dict(zip(("EDRNet", "B2ILC", "LSS", "SMBVF"), marks)), "b2ilc": b2ilc,
                     "sel": fake_figure(0.5 + i / 100, 0.001), "wsel": fake_figure(0.4 + i / 100) if wsel else None,
                     "paper": dict(zip(("sel", "wsel"), experiments.PAPER_TABLE3[name]))})
    result = {"table": "table3", "dataset": "synthetic x", "synthetic": True, "labels": "original", "seeds": [0, 1],
              "config": EDRNetConfig().to_dict(), "settings": TrainSettings(smb_per_class=4).to_dict(), "rows": rows}
    lines = experiments.table3_markdown(result).splitlines()
    table = [l for l in lines if l.startswith("|")]
    assert table[0] == "| EDRNet | B2ILC | L_lss | SMBVF | SEL Acc. (%) | WSEL Acc. (%) | paper SEL | paper WSEL |"
    assert table[2:] == ["| ✓ |  |  |  | 50.00 ± 0.10 | 40.00 | 76.10 | 72.98 |",
                         "| ✓ | ✓ |  |  | 51.00 ± 0.10 | 41.00 | 76.58 | 73.86 |",
                         "| ✓ |  | ✓ |  | 52.00 ± 0.10 | N/A | 77.10 | N/A |",
                         "| ✓ | ✓ | ✓ | ✓ | 53.00 ± 0.10 | N/A | 77.93 | N/A |"]
    assert "SYNTHETIC data" in lines[-1] and "2 seed(s) 0, 1" in lines[-1]


def test_table4_markdown_has_the_paper_layout():
    rows = []
    for branches, name in experiments.BRANCH_SETS.items():
        row = {"name": name, "branches": list(branches), "paper": dict(zip(("audio", "visual", "gated"),
                                                                            experiments.PAPER_TABLE4[branches]))}
        for head, needed in (("audio", {"A"}), ("visual", {"V"}), ("gated", {"A", "V"})):
            row[head] = fake_figure(0.6) if needed <= set(branches) else None
        rows.append(row)
    result = {"table": "table4", "dataset": "AVE", "synthetic": False, "labels": "original", "seeds": [0],
              "config": EDRNetConfig().to_dict(), "settings": TrainSettings(smb_per_class=250).to_dict(), "rows": rows}
    table = [l for l in experiments.table4_markdown(result).splitlines() if l.startswith("|")]
    assert table[2:] == [
        "| ✓ | - | - | A - Only | 60.00 | - | - | 65.84 | - | - |",
        "| - | ✓ | - | V - Only | - | 60.00 | - | - | 66.93 | - |",
        "| ✓ | - | ✓ | A + Dual-Phase Fusion | 60.00 | - | - | 76.11 | - | - |",
        "| - | ✓ | ✓ | V + Dual-Phase Fusion | - | 60.00 | - | - | 75.26 | - |",
        "| ✓ | ✓ | - | A + V with Late Fusion | 60.00 | 60.00 | 60.00 | 54.38 | 62.76 | 75.88 |",
        "| ✓ | ✓ | ✓ | A + V + Dual-Phase Fusion | 60.00 | 60.00 | 60.00 | 73.62 | 72.74 | 77.93 |"]


def test_flags_pass_through_to_training_and_seeds_count_from_seed(built_ave, tmp_path):
    table, seeds, output, config, settings = tiny_setup(built_ave, tmp_path, extra=["--seeds", "3", "--seed", "5"])
    assert (table, seeds, output) == ("table3", [5, 6, 7], tmp_path / "out")
    assert (config.width, config.visual_width, settings.epochs, settings.smb_per_class) == (16, 8, 1, 1)


@pytest.mark.parametrize("argv, message", [
    (["table4", "--branches", "A"], "--branches is invalid with table4"),
    (["table3", "--task", "wsel"], "--task is invalid with table3"),
    (["table3", "--width", "0"], "--width=0 is invalid"),
    (["table5"], "invalid choice: 'table5'"),
])
def test_bad_flags_exit_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        experiments_cli.parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_table3_refuses_flags_that_merge_its_rows(built_ave, tmp_path):
    _, _, _, config, settings = tiny_setup(built_ave, tmp_path, extra=["--lambda2", "0"])
    with pytest.raises(ValueError, match="--lambda2=0 is invalid for table3"):
        experiments.run_table3(config, settings, [0], tmp_path / "out")
    _, _, _, config, settings = tiny_setup(built_ave, tmp_path, extra=["--smb-per-class", "0"])
    with pytest.raises(ValueError, match="--smb-per-class=0 is invalid for table3"):
        experiments.run_table3(config, settings, [0], tmp_path / "out")


@pytest.mark.large
def test_tiny_synthetic_tables_have_the_paper_layouts_and_reuse_runs(built_ave, tmp_path):
    _, seeds, output, config, settings = tiny_setup(built_ave, tmp_path)
    logged = []
    result3 = experiments.run_table3(config, settings, seeds, output, log=logged.append)
    # Four trained models: SEL without LSS/SMB, WSEL, SEL + LSS, SEL + LSS + SMB; "+ B2ILC" rows reuse them.
    assert sorted(m for m in logged if m.startswith("training")) == sorted(
        f"training {output / 'runs' / key / 'seed0'}" for key in
        ("sel-A+V+AV-lss0-smb0", "wsel-A+V+AV-mil-smb0", "sel-A+V+AV-lss0.1-smb0", "sel-A+V+AV-lss0.1-smb1"))
    rows = {r["name"]: r for r in result3["rows"]}
    base = json.loads((output / "runs" / "sel-A+V+AV-lss0-smb0" / "seed0" / "metrics.json").read_text())
    assert rows["EDRNet"]["sel"]["values"] == [base["test"]["original"]["gated"]["raw"]]
    assert rows["+ B2ILC"]["sel"]["values"] == [base["test"]["original"]["gated"]["b2ilc"]]
    assert rows["+ LSS"]["wsel"] is None and rows["+ LSS + SMBVF + B2ILC"]["wsel"] is None
    text = experiments.write_results(result3, output)
    assert text == (output / "table3.md").read_text()
    assert json.loads((output / "table3.json").read_text())["rows"][0]["sel"] == rows["EDRNet"]["sel"]
    table = [l for l in text.splitlines() if l.startswith("| ✓")]
    assert len(table) == 4 and all(l.count("|") == 9 for l in table)
    assert table[2].split("|")[6].strip() == "N/A"

    logged.clear()
    result4 = experiments.run_table4(config, settings, seeds, output, log=logged.append)
    trained = [m for m in logged if m.startswith("training")]
    assert len(trained) == 5  # the full model's run is Table 3's last one, reused
    assert f"reusing {output / 'runs' / 'sel-A+V+AV-lss0.1-smb1' / 'seed0'}" in logged
    by_name = {r["name"]: r for r in result4["rows"]}
    assert by_name["A - Only"]["visual"] is None and by_name["A - Only"]["gated"] is None
    assert 0.0 <= by_name["A + V + Dual-Phase Fusion"]["gated"]["mean"] <= 1.0
    assert by_name["A + V + Dual-Phase Fusion"]["gated"]["values"] == rows["+ LSS + SMBVF + B2ILC"]["sel"]["values"]
    lines = [l for l in experiments.write_results(result4, output).splitlines() if l.startswith("|")]
    assert len(lines) == 2 + 6 and all(l.count("|") == 11 for l in lines)


def test_a_run_of_other_settings_is_kept_and_named_not_overwritten(built_ave, tmp_path):
    _, _, output, config, settings = tiny_setup(built_ave, tmp_path)
    spec = experiments.TABLE3[0][2]
    run_dir = output / "runs" / spec.key(config, settings) / "seed0"
    run_dir.mkdir(parents=True)
    other_config, other_settings = spec.apply(config, settings)
    other_settings = dataclasses.replace(other_settings, seed=0, output=run_dir, learning_rate=0.5)
    (run_dir / "run.json").write_text(json.dumps({"config": other_config.to_dict(),
                                                  "settings": other_settings.to_dict()}))
    (run_dir / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match=r"holds a run of other settings \(settings.learning_rate: 0.5 there, "
                                         r"0.0003 now\); expected the same flags") as error:
        experiments.train_or_reuse(spec, config, dataclasses.replace(settings, learning_rate=3e-4), output / "runs",
                                   0, log=lambda m: None)
    assert "\n" not in str(error.value)
    assert (run_dir / "metrics.json").read_text() == "{}"
