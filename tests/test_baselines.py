"""Baselines (edrnet_tf.baselines): each figure against an independent NumPy/sklearn reference, the CLI, the
JSON, one-line errors, and the tables of edrnet_tf.experiments printing them."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from edrnet_tf import ave
from edrnet_tf import baselines as baselines_cli
from edrnet_tf import cli
from edrnet_tf import experiments as experiments_cli
from edrnet_tf.config import EDRNetConfig, TrainSettings
from edrnet_tf.data import pipeline
from edrnet_tf.data.tfds_source import TfdsSource
from edrnet_tf.evaluation import baselines, experiments


def tiny_data(seed=0, videos=(60, 20, 20)):
    """Pooled-feature splits where the class shows in a few audio and visual dimensions, plus noise."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in videos:
        y = rng.integers(0, 4, (n, ave.N_SEGMENTS))
        x = rng.standard_normal((n, ave.N_SEGMENTS, 640)).astype(np.float32) * 2 + 5
        x[..., :4] += np.eye(4)[y] * 4
        x[..., ave.AUDIO_DIM: ave.AUDIO_DIM + 4] += np.eye(4)[y] * 3
        splits.append((x, y))
    return {"train": splits[0], "validation": splits[1], "test": (splits[2][0], {"original": splits[2][1],
                                                                                  "corrected": None})}


def reference_probe(data, columns, c):
    """Validation and test accuracy of sklearn's logistic regression on training-standardised features."""
    x_train = data["train"][0][..., columns].reshape(-1, len(range(640)[columns]))
    mean, std = x_train.mean(0), x_train.std(0)
    model = LogisticRegression(C=c, max_iter=baselines.PROBE_ITERATIONS).fit(
        (x_train - mean) / std, data["train"][1].ravel())
    return [float(np.mean(model.predict((x[..., columns].reshape(-1, x_train.shape[1]) - mean) / std)
                          == y.ravel()))
            for x, y in (data["validation"], (data["test"][0], data["test"][1]["original"]))]


def test_majority_predicts_the_most_frequent_training_label_everywhere(monkeypatch):
    monkeypatch.setattr(baselines, "FITS", {"majority": baselines.FITS["majority"]})
    data = tiny_data()
    data["train"][1][:, :6] = 3  # make 3 the most frequent training segment label
    result = baselines.evaluate_baselines(data)["majority"]
    counts = np.bincount(data["train"][1].ravel())
    assert result["selected"] == {"label": int(np.argmax(counts))} == {"label": 3}
    assert result["validation"] == float(np.mean(data["validation"][1] == 3))
    assert result["test"] == {"original": float(np.mean(data["test"][1]["original"] == 3)), "corrected": None}


def test_probes_equal_sklearn_on_standardised_features_with_c_chosen_on_validation(monkeypatch):
    monkeypatch.setattr(baselines, "FITS", {k: v for k, v in baselines.FITS.items() if k.startswith("probe")})
    data = tiny_data()
    results = baselines.evaluate_baselines(data)
    for name, columns in baselines.FEATURES.items():
        reference = {c: reference_probe(data, columns, c) for c in baselines.PROBE_C}
        best = max(baselines.PROBE_C, key=lambda c: reference[c][0])  # first of the ties, as the baseline
        got = results[f"probe-{name}"]
        assert got["selected"] == {"C": best}, name
        assert got["validation"] == pytest.approx(reference[best][0], abs=1e-9), name
        assert got["test"]["original"] == pytest.approx(reference[best][1], abs=1e-9), name
    assert results["probe-audio+visual"]["test"]["original"] > 0.5  # the planted signal is found


def test_temporal_conv_is_seeded_and_chooses_its_width_on_validation(monkeypatch):
    monkeypatch.setattr(baselines, "CONV_MAX_EPOCHS", 3)
    data = tiny_data(videos=(20, 8, 8))
    scaled = dict(zip(("train", "validation"), zip(baselines.standardise(data["train"][0], data["validation"][0]),
                                                   (data["train"][1], data["validation"][1]))))
    first, second = (baselines.temporal_conv(scaled, seed=3) for _ in range(2))
    assert first[1] == second[1] and first[1]["width"] in baselines.CONV_WIDTHS and 1 <= first[1]["epochs"] <= 3
    np.testing.assert_array_equal(first[0](scaled["validation"][0]), second[0](scaled["validation"][0]))


def test_pooled_split_is_the_audio_and_the_mean_of_the_visual_map(built_ave):
    x, y, rows = baselines.pooled_split(built_ave, "validation")
    arrays = pipeline.split_arrays(built_ave, "validation")
    np.testing.assert_allclose(x[..., :ave.AUDIO_DIM], arrays["audio"])
    np.testing.assert_allclose(x[..., ave.AUDIO_DIM:], arrays["visual"].mean((2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, arrays["segment_labels"])
    np.testing.assert_array_equal(rows, arrays["row"])


def test_cli_prints_the_table_and_writes_the_json(built_ave, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(baselines, "CONV_MAX_EPOCHS", 2)  # the plumbing, not the fit, is under test here
    monkeypatch.setattr(baselines, "CONV_WIDTHS", (16,))
    output = tmp_path / "baselines.json"
    result = baselines_cli.main(["--data-dir", str(built_ave), "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(result))
    assert not list(output.parent.glob("*.partial"))
    assert list(result["baselines"]) == ["majority", "probe-audio", "probe-visual", "probe-audio+visual",
                                         "temporal-conv"]
    test = pipeline.split_arrays(built_ave, "test", "corrected")["segment_labels"]
    label = result["baselines"]["majority"]["selected"]["label"]
    assert result["baselines"]["majority"]["test"]["corrected"] == float(np.mean(test == label))
    for figures in result["baselines"].values():
        assert 0 <= figures["validation"] <= 1 and set(figures["test"]) == {"original", "corrected"}
    printed = capsys.readouterr().out
    assert "| probe-audio+visual |" in printed and "96/12/12 train/validation/test videos" in printed


def test_missing_data_dir_exits_with_one_line_naming_it(tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.run_main(baselines_cli.PROG, baselines_cli.main, ["--data-dir", str(tmp_path / "nowhere")])
    message = str(exit_.value.code)
    assert str(tmp_path / "nowhere") in message and "tfds build tfds_ave" in message and "\n" not in message


def test_bad_flags_exit_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        baselines_cli.main(["--synthetic-videos", "10"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "--synthetic-videos=10 is invalid" in err and "\n" not in err


def test_cached_baselines_are_reused_for_the_same_data_and_seed(built_ave, tmp_path, monkeypatch):
    source = TfdsSource("ave", built_ave, description="some data")
    stored = {"dataset": "some data", "seed": 0, "synthetic": False, "videos": {}, "baselines": {}}
    (tmp_path / "baselines.json").write_text(json.dumps(stored))
    monkeypatch.setattr(baselines, "compute_baselines", lambda source, seed: {**stored, "seed": seed})
    assert baselines.cached_baselines(source, tmp_path / "baselines.json", seed=0) is not stored
    assert baselines.cached_baselines(source, tmp_path / "baselines.json", seed=0) == stored
    assert baselines.cached_baselines(source, tmp_path / "baselines.json", seed=1)["seed"] == 1
    assert json.loads((tmp_path / "baselines.json").read_text())["seed"] == 1  # recomputed and rewritten


def test_experiment_tables_print_the_baselines_under_their_rows(tmp_path):
    rows = [{"name": name, "branches": list(branches), "audio": None, "visual": None, "gated": None,
             "paper": dict(zip(("audio", "visual", "gated"), experiments.PAPER_TABLE4[branches]))}
            for branches, name in experiments.BRANCH_SETS.items()]
    figures = {"validation": 0.5, "test": {"original": 0.25, "corrected": None}, "selected": {"C": 0.1}}
    result = {"table": "table4", "dataset": "synthetic x", "synthetic": True, "labels": "original", "seeds": [0],
              "config": EDRNetConfig().to_dict(), "settings": TrainSettings().to_dict(), "rows": rows,
              "baselines": {"dataset": "synthetic x", "synthetic": True, "seed": 0,
                            "videos": {"train": 8, "validation": 1, "test": 1}, "baselines": {"probe-audio": figures}}}
    text = experiments.write_results(result, tmp_path)
    assert text == (tmp_path / "table4.md").read_text()
    assert text.index("| A + V + Dual-Phase Fusion |") < text.index("| probe-audio | 50.00 | 25.00 | - | C=0.1 |")
    assert "SYNTHETIC data: synthetic x; 8/1/1 train/validation/test videos" in text


def test_experiments_compute_the_baselines_once_per_output(built_ave, tmp_path, monkeypatch, capsys):
    computed = []
    figures = {"validation": 0.5, "test": {"original": 0.25, "corrected": 0.5}, "selected": {}}

    def fake_compute(source, seed):
        computed.append((source.data_dir, seed))
        return {"dataset": source.description, "synthetic": False, "seed": seed,
                "videos": {"train": 96, "validation": 12, "test": 12}, "baselines": {"majority": figures}}

    monkeypatch.setattr(baselines, "compute_baselines", fake_compute)
    monkeypatch.setitem(experiments.RUN, "table4", lambda config, settings, seeds, output, log: {
        "table": "table4", "dataset": "d", "synthetic": False, "labels": "original", "seeds": seeds,
        "config": config.to_dict(), "settings": settings.to_dict(), "rows": []})
    argv = ["table4", "--dataset", "ave", "--data-dir", str(built_ave), "--output", str(tmp_path), "--seed", "3"]
    for _ in range(2):
        experiments_cli.main(argv)
        assert "| majority | 50.00 | 25.00 | 50.00 |  |" in capsys.readouterr().out
    assert computed == [(built_ave, 3)]
    assert json.loads((tmp_path / "baselines.json").read_text())["seed"] == 3
