"""Per-class accuracy deltas between two runs' metrics.json (edrnet_tf.compare)."""

import json

import numpy as np
import pytest

from edrnet_tf import EDRNet, ave
from edrnet_tf import compare as compare_cli
from edrnet_tf.evaluation import compare
from tests.helpers import tiny_config

NAMES = list(ave.class_names())


def write_metrics(folder, per_class, gated=0.5, labels="original", synthetic=True, per_class_b2ilc=None):
    """A metrics.json in the layout of ``edrnet_tf.evaluation.report.test_report`` with the given per-class accuracies."""
    folder.mkdir(parents=True, exist_ok=True)
    accuracy = {name: per_class.get(name) for name in NAMES}
    figures = {
        "dataset": "synthetic test set", "synthetic": synthetic,
        "test": {labels: {"gated": {"raw": gated, "b2ilc": gated + 0.01},
                          "audio": {"raw": 0.3, "b2ilc": 0.31}, "visual": {"raw": 0.4, "b2ilc": 0.41}}},
        "per_class_accuracy": {"labels": labels, "head": "gated", "b2ilc": False, "accuracy": accuracy},
        "per_class_accuracy_b2ilc": {"labels": labels, "head": "gated", "b2ilc": True,
                                     "accuracy": {name: (per_class_b2ilc or per_class).get(name) for name in NAMES}},
        "confusion_matrix": {"matrix": np.diag(np.arange(1, len(NAMES) + 1)).tolist()},
    }
    (folder / "metrics.json").write_text(json.dumps(figures))
    return folder


def test_deltas_are_b_minus_a_per_class_and_overall(tmp_path):
    a = write_metrics(tmp_path / "a", {"Bus": 0.5, "Truck": 0.25, "Background": 0.9}, gated=0.70)
    b = write_metrics(tmp_path / "b", {"Bus": 0.69, "Truck": 0.35, "Background": 0.85}, gated=0.75)
    result = compare.compare(a, b)
    rows = {r["class"]: r for r in result["per_class"]}
    assert [r["class"] for r in result["per_class"]] == NAMES
    assert rows["Bus"]["delta"] == pytest.approx(0.19)
    assert rows["Background"]["delta"] == pytest.approx(-0.05)
    assert rows["Bus"]["segments"] == NAMES.index("Bus") + 1
    assert rows["Church bell"]["delta"] is None  # absent from both test sets
    gated_raw = next(r for r in result["overall"] if r["head"] == "gated" and not r["b2ilc"])
    assert gated_raw["delta"] == pytest.approx(0.05)
    assert result["synthetic"] is True


def test_markdown_lists_the_chosen_classes_with_signed_percentage_points(tmp_path):
    a = write_metrics(tmp_path / "a", {"Bus": 0.5, "Truck": 0.25, "Female speech, woman speaking": 0.6})
    b = write_metrics(tmp_path / "b", {"Bus": 0.69, "Truck": 0.355, "Female speech, woman speaking": 0.68})
    result = compare.compare(a, b, classes=["Truck", "Bus", "Female speech, woman speaking"], sort="delta")
    text = compare.markdown(result)
    lines = [l for l in text.splitlines() if l.startswith("| ") and "pp" not in l and "head" not in l]
    per_class = [l for l in lines if not l.startswith(("| gated", "| audio", "| visual"))]
    assert per_class == ["| Bus | 21 | 50.00 | 69.00 | +19.00 |",
                         "| Truck | 12 | 25.00 | 35.50 | +10.50 |",
                         "| Female speech, woman speaking | 6 | 60.00 | 68.00 | +8.00 |"]
    assert "| gated | off | 50.00 | 50.00 | +0.00 |" in text
    assert "(synthetic data)" in text


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    a = write_metrics(tmp_path / "a", {"Bus": 0.5})
    b = write_metrics(tmp_path / "b", {"Bus": 0.75})
    compare_cli.main([str(a), str(b / "metrics.json"), "--classes", "Bus", "--json", str(tmp_path / "c.json"),
                  "--markdown", str(tmp_path / "c.md")])
    printed = capsys.readouterr().out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["per_class"] == [{"class": "Bus", "a": 0.5, "b": 0.75, "delta": 0.25, "segments": 21}]
    assert (tmp_path / "c.md").read_text() == printed
    assert "| Bus | 21 | 50.00 | 75.00 | +25.00 |" in printed


def test_b2ilc_flags_pick_each_runs_per_class_accuracy_with_b2ilc(tmp_path, capsys):
    run = write_metrics(tmp_path / "wsel", {"Truck": 0.40, "Motorcycle": 0.30},
                        per_class_b2ilc={"Truck": 0.505, "Motorcycle": 0.40})
    result = compare.compare(run, run, classes=["Truck", "Motorcycle"], b2ilc_b=True)
    assert [(r["class"], r["a"], r["b"]) for r in result["per_class"]] == [
        ("Truck", 0.40, 0.505), ("Motorcycle", 0.30, 0.40)]
    assert result["per_class"][0]["delta"] == pytest.approx(0.105)
    assert result["per_class_b2ilc"] == {"a": False, "b": True}
    compare_cli.main([str(run), str(run), "--b2ilc-b", "--classes", "Truck"])
    assert "(B2ILC: A off, B on)" in capsys.readouterr().out


def test_missing_and_invalid_files_give_one_line_errors(tmp_path):
    a = write_metrics(tmp_path / "a", {"Bus": 0.5})
    cases = []
    with pytest.raises(FileNotFoundError, match=r"RUN_B='.*nowhere': expected a run folder holding metrics.json") as e:
        compare.compare(a, tmp_path / "nowhere")
    cases.append(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="found a folder without it") as e:
        compare.compare(tmp_path / "empty", a)
    cases.append(e)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"broken.json: expected the JSON of a run's metrics.json, found invalid") as e:
        compare.compare(a, tmp_path / "broken.json")
    cases.append(e)
    (tmp_path / "other.json").write_text(json.dumps({"accuracy": 1}))
    with pytest.raises(ValueError, match=r"other.json: expected a metrics.json .* found no 'per_class_accuracy'") as e:
        compare.compare(a, tmp_path / "other.json")
    cases.append(e)
    corrected = write_metrics(tmp_path / "c", {"Bus": 0.5}, labels="corrected")
    with pytest.raises(ValueError, match="'corrected' test labels, but .* is on 'original'") as e:
        compare.compare(a, corrected)
    cases.append(e)
    with pytest.raises(ValueError, match=r"--classes: unknown class\(es\) \['Buss'\]") as e:
        compare.compare(a, a, classes=["Buss"])
    cases.append(e)
    assert all("\n" not in str(e.value) for e in cases)


def test_cli_exits_with_one_line_for_a_missing_run(tmp_path):
    import subprocess
    import sys

    a = write_metrics(tmp_path / "a", {"Bus": 0.5})
    done = subprocess.run([sys.executable, "-m", "edrnet_tf.compare", str(a), str(tmp_path / "missing")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr  # (the lines before are TensorFlow's start-up logging)
    assert done.stderr.strip().splitlines()[-1] == (
        f"python -m edrnet_tf.compare: error: RUN_B='{tmp_path / 'missing'}': expected a run folder holding "
        "metrics.json or a metrics.json file, found nothing")


def test_compares_the_metrics_json_the_runner_writes(built_ave, tmp_path):
    from edrnet_tf.data.tfds_source import TfdsSource
    from edrnet_tf.evaluation import report

    source = TfdsSource("ave", built_ave)
    for name, seed in (("a", 0), ("b", 1)):
        import keras

        keras.utils.set_random_seed(seed)
        figures = report.test_report(EDRNet(tiny_config()), source, batch_size=16)
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(figures))
    result = compare.compare(tmp_path / "a", tmp_path / "b")
    total = sum(r["segments"] for r in result["per_class"])
    figures = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert total == 10 * figures["test_videos"]
    for b2ilc, key in ((False, "raw"), (True, "b2ilc")):  # per-class accuracies weighted by segments = global
        per_class = compare.compare(tmp_path / "a", tmp_path / "a", b2ilc_a=b2ilc)["per_class"]
        weighted = sum(r["a"] * r["segments"] for r in per_class if r["a"] is not None) / total
        assert weighted == pytest.approx(figures["test"]["original"]["gated"][key])
    for row in result["per_class"]:
        if row["a"] is not None:
            assert row["delta"] == pytest.approx(row["b"] - row["a"])
