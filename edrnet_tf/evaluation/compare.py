"""Per-class accuracy deltas between two runs, as the paper reports them ("Bus" +19%, "Female speech" +8% with
SMB video fusion; "Truck" +10.5%, "Motorcycle" +10% with B2ILC in WSEL).

Reads each run's ``metrics.json`` (``edrnet_tf.evaluation.report.test_report``: global segment accuracy of the gated,
audio and visual heads with and without B2ILC, per-class accuracy of the gated head) and returns the overall
and per-class figures of both and their difference B - A, as a dict (the JSON) and a Markdown table.

CLI: ``python -m edrnet_tf.compare RUN_A RUN_B [--classes Bus,Truck] [--sort delta] [--json F] [--markdown F]``.
"""

import json
import math
import pathlib

from edrnet_tf.evaluation import report

SORTS = ("class", "delta", "abs-delta")


def load_metrics(path, what="run", b2ilc=False):
    """The ``metrics.json`` of a run folder (or the file itself), checked for the figures compared here.

    The per-class figures compared are those without B2ILC, or with it (``b2ilc=True``); either way
    they are returned under ``"per_class_accuracy"``.
    """
    path = pathlib.Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{what}={str(path)!r}: expected a run folder holding metrics.json or a "
                                f"metrics.json file, found {'a folder without it' if path.is_dir() else 'nothing'}")
    try:
        figures = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file}: expected the JSON of a run's metrics.json, found invalid JSON ({error})") from None
    key = report.PER_CLASS_KEYS[b2ilc]
    try:
        figures["per_class_accuracy"] = figures[key]
        per_class = figures["per_class_accuracy"]["accuracy"]
        figures["test"][per_class_labels(figures)]["gated"]["raw"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"{file}: expected a metrics.json of python -m edrnet_tf.train ({key} and "
                         f"test accuracies), found no {error}") from None
    if not isinstance(per_class, dict) or not all(v is None or isinstance(v, (int, float)) for v in per_class.values()):
        raise ValueError(f"{file}: expected per_class_accuracy.accuracy to map class names to accuracies or null")
    return file, figures


def per_class_labels(figures):
    return figures["per_class_accuracy"].get("labels", "original")


def segments_per_class(figures):
    """Test segments of each class (row sums of the confusion matrix), when the run recorded it."""
    matrix = figures.get("confusion_matrix", {}).get("matrix")
    names = list(figures["per_class_accuracy"]["accuracy"])
    if not matrix or len(matrix) != len(names):
        return {}
    return {name: int(sum(row)) for name, row in zip(names, matrix)}


def delta(a, b):
    return None if a is None or b is None else b - a


def compare(run_a, run_b, classes=None, sort="class", b2ilc_a=False, b2ilc_b=False):
    """The overall and per-class accuracies of two runs and their deltas B - A (fractions in [0, 1]).

    Args:
        run_a, run_b: run folders (or their metrics.json files).
        classes: class names to keep (all by default); an unknown name raises.
        sort: "class" (class index order), "delta" (largest gain first) or "abs-delta".
        b2ilc_a, b2ilc_b: compare each run's per-class accuracy with B2ILC; ``compare(run, run,
            b2ilc_b=True)`` gives what B2ILC changes per class in one model (the paper's WSEL deltas).
    """
    file_a, a = load_metrics(run_a, "RUN_A", b2ilc_a)
    file_b, b = load_metrics(run_b, "RUN_B", b2ilc_b)
    if per_class_labels(a) != per_class_labels(b):
        raise ValueError(f"{file_b}: per-class accuracy is on the {per_class_labels(b)!r} test labels, but {file_a} "
                         f"is on {per_class_labels(a)!r}; expected the same labels in both runs")
    names_a, names_b = list(a["per_class_accuracy"]["accuracy"]), list(b["per_class_accuracy"]["accuracy"])
    if names_a != names_b:
        raise ValueError(f"{file_b}: expected the classes of {file_a} ({len(names_a)} classes), found "
                         f"{len(names_b)} different ones")
    if classes:
        unknown = [c for c in classes if c not in names_a]
        if unknown:
            raise ValueError(f"--classes: unknown class(es) {unknown}; expected names from {file_a} such as "
                             f"{names_a[:3]}")
    if sort not in SORTS:
        raise ValueError(f"--sort={sort!r} is invalid: expected one of {', '.join(SORTS)}")
    labels = per_class_labels(a)
    counts = segments_per_class(a)
    rows = []
    for name in classes or names_a:
        acc_a, acc_b = a["per_class_accuracy"]["accuracy"][name], b["per_class_accuracy"]["accuracy"][name]
        rows.append({"class": name, "a": acc_a, "b": acc_b, "delta": delta(acc_a, acc_b),
                     "segments": counts.get(name)})
    if sort != "class":
        key = (lambda r: -r["delta"]) if sort == "delta" else (lambda r: -abs(r["delta"]))
        rows = [r for r in rows if r["delta"] is not None and not math.isnan(r["delta"])]
        rows.sort(key=key)
    overall = []
    heads = [h for h in ("gated", "audio", "visual") if h in a["test"][labels] and h in b["test"][labels]]
    for head in heads:
        for name in ("raw", "b2ilc"):
            acc_a, acc_b = a["test"][labels][head][name], b["test"][labels][head][name]
            overall.append({"head": head, "b2ilc": name == "b2ilc", "a": acc_a, "b": acc_b,
                            "delta": delta(acc_a, acc_b)})
    return {"run_a": str(file_a), "run_b": str(file_b), "labels": labels,
            "per_class_head": a["per_class_accuracy"].get("head", "gated"),
            "per_class_b2ilc": {"a": bool(a["per_class_accuracy"].get("b2ilc", False)),
                                "b": bool(b["per_class_accuracy"].get("b2ilc", False))},
            "synthetic": bool(a.get("synthetic") or b.get("synthetic")),
            "dataset": {"a": a.get("dataset"), "b": b.get("dataset")},
            "overall": overall, "per_class": rows}


def percent(value, signed=False):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def markdown(result):
    """The comparison as Markdown: overall accuracies, then per-class accuracies and deltas (percent)."""
    note = " (synthetic data)" if result["synthetic"] else ""
    lines = [f"A = `{result['run_a']}`, B = `{result['run_b']}`; {result['labels']} test labels{note}.", "",
             "| head | B2ILC | A (%) | B (%) | B - A (pp) |", "|---|---|---:|---:|---:|"]
    for row in result["overall"]:
        lines.append(f"| {row['head']} | {'on' if row['b2ilc'] else 'off'} | {percent(row['a'])} | "
                     f"{percent(row['b'])} | {percent(row['delta'], signed=True)} |")
    lines += ["", f"Per-class accuracy of the {result['per_class_head']} head "
                  f"(B2ILC: A {'on' if result['per_class_b2ilc']['a'] else 'off'}, "
                  f"B {'on' if result['per_class_b2ilc']['b'] else 'off'}):", "",
              "| class | segments | A (%) | B (%) | B - A (pp) |", "|---|---:|---:|---:|---:|"]
    for row in result["per_class"]:
        segments = "" if row["segments"] is None else str(row["segments"])
        lines.append(f"| {row['class']} | {segments} | {percent(row['a'])} | {percent(row['b'])} | "
                     f"{percent(row['delta'], signed=True)} |")
    return "\n".join(lines) + "\n"
