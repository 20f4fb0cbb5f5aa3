"""Test-split figures of a trained EDRNet: what ``metrics.json`` holds and the table the CLIs print.

Global segment accuracy (correct segments / all test segments, docs/design.md "Evaluation") of the gated, audio and
visual heads, with and without B2ILC, on the original (O-AVE) and, when present, corrected (C-AVE) test
labels; per-class accuracy and the confusion matrix of the gated head; and the majority-class baseline
(the most frequent training segment label, predicted everywhere).
"""

import numpy as np

from edrnet_tf import ave
from edrnet_tf.model import metrics

HEADS = {"gated": "probs", "audio": "probs_audio", "visual": "probs_visual"}
HEALTH_MARGIN = 0.02  # a head within 2 points of the majority-class rate has learned nothing useful
PER_CLASS_KEYS = {False: "per_class_accuracy", True: "per_class_accuracy_b2ilc"}  # gated head, headline labels


def head_accuracies(outputs, labels, background=ave.BACKGROUND, witness_rate=0.5):
    """``{head: {"raw": acc, "b2ilc": acc}}`` for each head present in the model's ``outputs``."""
    figures = {}
    for head, key in HEADS.items():
        if key not in outputs:
            continue
        figures[head] = {}
        for name, b2ilc in (("raw", False), ("b2ilc", True)):
            metric = metrics.SegmentAccuracy(b2ilc=b2ilc, background=background, witness_rate=witness_rate)
            metric.update_state(labels, outputs[key])
            figures[head][name] = float(metric.result())
    return figures


def aligned_labels(reference_rows, arrays, what):
    """``arrays["segment_labels"]`` reordered to ``reference_rows``; raises when the rows differ."""
    position = {int(r): i for i, r in enumerate(arrays["row"])}
    missing = [int(r) for r in reference_rows if int(r) not in position]
    if missing or len(position) != len(reference_rows):
        raise ValueError(f"{what}: test rows differ from the original test split ({len(missing)} missing)")
    return arrays["segment_labels"][[position[int(r)] for r in reference_rows]]


def test_split(source, headline="original"):
    """The test split as NumPy: ``(inputs, label_sets)``, the ``{"audio", "visual"}`` features and
    ``{"original": [M, N], "corrected": [M, N]}`` segment labels (corrected when the data has them, aligned to
    the original rows); raises when ``headline`` is a label set the data lacks."""
    test = source.arrays("test")
    label_sets = {"original": test["segment_labels"]}
    if source.has_corrected():
        source.ensure("corrected")
        corrected = source.arrays("test", "corrected", labels_only=True)
        label_sets["corrected"] = aligned_labels(test["row"], corrected, "tfds_ave/corrected")
    if headline not in label_sets:
        raise ValueError(f"--test-labels={headline!r} is invalid: no corrected test labels "
                         f"(right_labels.h5) in {source.where}; expected 'original'")
    return {"audio": test["audio"], "visual": test["visual"]}, label_sets


def test_report(model, source, batch_size=32, headline="original"):
    """Predicts the test split once and returns the ``metrics.json`` figures (see module docstring)."""
    return report_of_predictions(model, source, *test_predictions(model, source, batch_size, headline), headline)


def test_predictions(model, source, batch_size=32, headline="original"):
    """``(label_sets, outputs)``: the test split's label sets (``test_split``) and the model's outputs on it."""
    inputs, label_sets = test_split(source, headline)
    return label_sets, model.predict(inputs, batch_size=batch_size, verbose=0)


def report_of_predictions(model, source, label_sets, outputs, headline="original"):
    """The ``metrics.json`` figures of ``outputs``, the model's outputs on the test split of ``label_sets``."""
    config = model.config
    counts = source.label_counts()
    majority = int(np.argmax(counts))
    names = ave.class_names()
    per_class = {}
    for b2ilc in (False, True):
        per_class[b2ilc] = metrics.PerClassAccuracy(num_classes=config.num_classes, b2ilc=b2ilc,
                                                    background=config.background, witness_rate=config.witness_rate)
        per_class[b2ilc].update_state(label_sets[headline], outputs["probs"])
    confusion = metrics.ConfusionMatrix(num_classes=config.num_classes)
    confusion.update_state(label_sets[headline], outputs["probs"])
    test_figures = {name: head_accuracies(outputs, labels, config.background, config.witness_rate)
                    for name, labels in label_sets.items()}
    majority_baseline = {"class": names[majority], "index": majority,
                         **{name: float(np.mean(labels == majority)) for name, labels in label_sets.items()}}
    return {
        "dataset": source.description,
        "synthetic": source.synthetic,
        "test_videos": int(label_sets["original"].shape[0]),
        "test_segments": int(label_sets["original"].size),
        "headline": {"labels": headline, "head": "gated", "b2ilc": True,
                     "accuracy": test_figures[headline]["gated"]["b2ilc"]},
        "test": test_figures,
        "majority_baseline": majority_baseline,
        "health": health_warnings(test_figures, majority_baseline),
        **{PER_CLASS_KEYS[b2ilc]: {"labels": headline, "head": "gated", "b2ilc": b2ilc,
                                   "accuracy": {n: (None if np.isnan(a) else float(a))
                                                for n, a in zip(names, np.asarray(metric.result()))}}
           for b2ilc, metric in per_class.items()},
        "confusion_matrix": {"labels": headline, "head": "gated", "b2ilc": False, "rows": "true",
                             "matrix": np.asarray(confusion.result()).astype(int).tolist()},
    }


def health_warnings(test_figures, majority, margin=HEALTH_MARGIN):
    """One line per head (raw, each label set) that ends within ``margin`` of the majority-class rate."""
    found = []
    for labels, heads in test_figures.items():
        for head, figures in heads.items():
            if figures["raw"] <= majority[labels] + margin:
                found.append(f"WARNING: the {head} head ({labels} test labels) is at {figures['raw']:.4f}, within "
                             f"{margin * 100:.0f} points of the always-'{majority['class']}' rate "
                             f"{majority[labels]:.4f}: it has not learned")
    return found


def convergence_warnings(validation_curve):
    """A line when the run's last epoch set a new best validation accuracy: it was still rising, training
    stopped before it converged (the CPU demo once ended so at 0.79, where more training reached 0.86)."""
    if len(validation_curve) < 2 or validation_curve[-1] <= max(validation_curve[:-1]):
        return []
    return [f"WARNING: validation accuracy peaked at the last epoch ({len(validation_curve)}: "
            f"{validation_curve[-1]:.4f}): it was still rising, more --epochs (or a higher --learning-rate) may help"]


def format_table(report):
    """The small printed table: one row per head and B2ILC setting, one column per label set."""
    columns = list(report["test"])
    lines = [f"test accuracy ({report['dataset']}); {report['test_segments']} segments",
             f"{'head':<8}{'B2ILC':<7}" + "".join(f"{c:>11}" for c in columns)]
    for head in HEADS:
        if head not in report["test"][columns[0]]:
            continue
        for name, shown in (("raw", "off"), ("b2ilc", "on")):
            lines.append(f"{head:<8}{shown:<7}" + "".join(f"{report['test'][c][head][name]:>11.4f}" for c in columns))
    baseline = report["majority_baseline"]
    lines.append(f"{'majority-class baseline':<15}" + "".join(f"{baseline[c]:>11.4f}" for c in columns)
                 + f"  (always '{baseline['class']}')")
    return "\n".join(lines + report.get("health", []))
