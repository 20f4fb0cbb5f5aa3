"""TensorBoard as its users read it: grouped epoch scalars, the HParams tab, the test figures.

``TensorBoard`` writes the epoch logs under grouped tags (``loss/``, ``accuracy/``, ``lss/``,
``learning_rate``) in the ``train`` and ``validation`` runs; ``HParams`` declares the run's settings and
metrics and writes its session; ``ValidationViews`` draws the per-class validation accuracy and the confusion
matrix; ``write_test_figures`` adds the test figures after training. One step
numbering everywhere: the epoch index from 0 (Keras' own and ``history.csv``'s ``epoch`` column; the
progress bar prints it + 1). docs/tensorboard.md describes every run and tag.
"""

import io
import math

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from edrnet_tf import ave, config
from edrnet_tf.data.smb_states import SEQUENCE_RULES
from edrnet_tf.model import metrics
from edrnet_tf.training import distribution, flags
from edrnet_tf.training.callbacks import MONITOR

# Keras' epoch-log names (less "val_") -> the tag both runs write them under, so train and validation overlay.
TAGS = {
    "loss": "loss/total",
    "probs_loss": "loss/cross_entropy",
    "features_loss": "loss/lss",
    "probs_audio_loss": "loss/cross_entropy_audio",
    "probs_visual_loss": "loss/cross_entropy_visual",
    "probs_accuracy": "accuracy/gated",
    "segment_accuracy": "accuracy/gated",  # the same figure as val_probs_accuracy (and wsel's only accuracy)
    "segment_accuracy_b2ilc": "accuracy/gated_b2ilc",
    "probs_audio_accuracy": "accuracy/audio",
    "probs_visual_accuracy": "accuracy/visual",
    "features_land": "lss/land",
    "features_sea": "lss/sea",
    "features_shore": "lss/shore",
    "learning_rate": "learning_rate",
}
BEST_TAG = "best/validation_accuracy"
# The best validation accuracy once, at the last step, beside the headline: a series' first point is never
# smoothed, where Time Series' default smoothing (0.6) bends the rising BEST_TAG curve below its value.
BEST_ONCE_TAG = "Headline/validation_accuracy_best"  # sorts after HEADLINE_TAG in its group
HEADLINE_TAG = "Headline/test_accuracy"  # capital: Time Series sorts it before every other group, expanded
HEADS = {"gated": None, "audio": "A", "visual": "V"}  # test head -> the branch it needs (gated: none)
# Where a run's files are: machine facts, not hyperparameters (run.json keeps them).
MACHINE_PATHS = ("data_dir", "manual_dir", "cache_dir", "output")
# The choices of every string setting, the HParams tab's discrete domains and filters.
BRANCH_SETS = [",".join(b for b in config.BRANCHES if b in subset)
               for subset in ({"A"}, {"V"}, {"A", "V"}, {"A", "AV"}, {"V", "AV"}, {"A", "V", "AV"})]
STRING_CHOICES = {
    "dataset": config.DATASETS, "task": ("sel", "wsel"), "test_labels": ("original", "corrected"),
    "smb_sequences": SEQUENCE_RULES, "optimizer": flags.OPTIMIZERS, "lr_schedule": flags.SCHEDULES,
    "lr_scaling": tuple(config.LR_SCALINGS), "data_placement": config.DATA_PLACEMENTS,
    "mixed_precision": config.PRECISIONS, "distribution": distribution.CHOICES, "branches": BRANCH_SETS,
}


class TensorBoard(keras.callbacks.TensorBoard):
    """``keras.callbacks.TensorBoard`` writing the epoch logs under ``TAGS``, at step = epoch index, in the
    ``train`` and ``validation`` runs (a name not in ``TAGS`` keeps its Keras name), and no
    ``evaluation_*_vs_iterations`` copies of the validation figures. Arguments as Keras'."""

    def on_test_end(self, logs=None):
        self._pop_writer()  # Keras' also writes the evaluation_*_vs_iterations copies here

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train = {TAGS.get(name, name): value for name, value in logs.items() if not name.startswith("val_")}
        train.update({TAGS.get(name, name): value for name, value in self._collect_learning_rate({}).items()})
        if self.write_steps_per_second:
            train["steps_per_second"] = self._compute_steps_per_second()
        validation = {TAGS.get(name[4:], name[4:]): value for name, value in logs.items() if name.startswith("val_")}
        for writer, values in ((self._train_writer, train), (self._val_writer, validation)):
            if values:
                with writer.as_default():
                    for tag, value in values.items():
                        self.summary.scalar(tag, value, step=epoch)


def confusion_image(matrix, class_names, title):
    """A [1, H, W, 4] uint8 PNG-decoded picture of a row-normalised confusion matrix (rows = true class), legible
    at TensorBoard's card size: axes numbered by class index (``class_key`` names them), each cell's share of its
    row in percent (cells under 0.5% left blank), a colour bar, and the rows of classes without any segment
    hatched grey and marked "-" (no segments, not zeros)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = len(class_names)
    figure, axes = pyplot.subplots(figsize=(6.4, 5.6), dpi=100)
    shown = np.ma.masked_where(np.broadcast_to(rows == 0, matrix.shape), normalised)
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#d9d9d9")
    image = axes.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    for r in np.flatnonzero(rows[:, 0] == 0):
        axes.add_patch(matplotlib.patches.Rectangle((-0.5, r - 0.5), size, 1, fill=False, hatch="///",
                                                    edgecolor="#9a9a9a", linewidth=0))
    for r, c in zip(*np.nonzero(normalised >= 0.005)):
        value = normalised[r, c]
        axes.text(c, r, f"{value * 100:.0f}", ha="center", va="center", fontsize=5.5,
                  color="white" if value > 0.55 else "#08306b")
    ticks = np.arange(size)
    axes.set_xticks(ticks, [str(i) for i in ticks], fontsize=6.5, rotation=90)
    axes.set_yticks(ticks, [str(i) if rows[i, 0] > 0 else f"{i} -" for i in ticks], fontsize=6.5)
    axes.set_xlabel("predicted class (index; names in the confusion_matrix_classes text)", fontsize=8)
    axes.set_ylabel("true class (- : no segments)", fontsize=8)
    axes.set_title(title, fontsize=9)
    bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.03)
    bar.set_label("share of the true class's segments", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return tf.image.decode_png(buffer.getvalue(), channels=4)[None]


def class_key(class_names):
    """The markdown table naming the confusion matrix's class indices."""
    return "\n".join(["| index | class |", "|---|---|"] + [f"| {i} | {name} |" for i, name in enumerate(class_names)])


class ValidationViews:
    """The per-class views of ``callbacks.SegmentValidation``'s predictions in a TensorBoard folder: a
    ``per_class_accuracy/<class>`` scalar per class present and the ``confusion_matrix`` image, at step = epoch.

    Args:
        log_dir: the TensorBoard run folder (the run's ``logs/validation``).
        class_names: the C class names (AVE's by default).
    """

    def __init__(self, log_dir, class_names=None):
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.class_names = list(class_names or ave.class_names())
        self.keyed = False

    def write(self, epoch, segment_labels, probs):
        num_classes = len(self.class_names)
        confusion = metrics.ConfusionMatrix(num_classes=num_classes)
        confusion.update_state(segment_labels, probs)
        per_class = metrics.PerClassAccuracy(num_classes=num_classes)
        per_class.update_state(segment_labels, probs)
        with self.writer.as_default(step=epoch):
            if not self.keyed:
                tf.summary.text("confusion_matrix_classes", class_key(self.class_names))
                self.keyed = True
            for name, value in zip(self.class_names, np.asarray(per_class.result())):
                if np.isfinite(value):
                    tf.summary.scalar(f"per_class_accuracy/{name}", float(value))
            tf.summary.image("confusion_matrix",
                             confusion_image(confusion.result(), self.class_names,
                                             f"validation at step {epoch} (rows: true, normalised)"))
        self.writer.flush()

    def flush(self):
        self.writer.flush()


def write_scalars(log_dir, values, step=0):
    """Writes ``{tag: float}`` scalars to the TensorBoard folder ``log_dir``."""
    with tf.summary.create_file_writer(str(log_dir)).as_default(step=step):
        for tag, value in values.items():
            tf.summary.scalar(tag, float(value))


def hparams_values(config, settings):
    """Every field of ``settings.to_dict()`` and ``config.to_dict()`` but the ``MACHINE_PATHS`` as the flat
    {name: bool|int|float|str} the hparams plugin takes: ints stay ints, lists are joined with ",", an unset
    ``synthetic_videos`` (real AVE data) is 0."""
    values = {}
    for name, value in {**settings.to_dict(), **config.to_dict()}.items():
        if name in MACHINE_PATHS:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        if name == "synthetic_videos" and value is None:
            value = 0
        if not isinstance(value, (bool, int, float, str)):
            raise TypeError(f"hparams_values: {name}={value!r} is not a bool, int, float or str")
        values[name] = value
    return values


def hparam(name, value):
    """``hp.HParam(name)`` with a typed domain: bools {False, True}, strings their ``STRING_CHOICES`` (and the
    value), ints ``IntInterval`` and floats ``RealInterval`` from min(0, value) to max(1, value). TensorBoard's
    interval filters start unbounded, so a run whose value lies outside another run's bounds still shows."""
    if isinstance(value, bool):
        return hp.HParam(name, hp.Discrete([False, True]))
    if isinstance(value, str):
        choices = list(STRING_CHOICES.get(name, ()))
        return hp.HParam(name, hp.Discrete(choices + ([value] if value not in choices else [])))
    if isinstance(value, int):
        return hp.HParam(name, hp.IntInterval(min(0, value), max(1, value)))
    return hp.HParam(name, hp.RealInterval(min(0.0, float(value)), max(1.0, float(value))))


def declared_metrics(config, test_labels=("original",)):
    """The HParams tab's metric columns: the best validation accuracy, the test headline, then the test
    accuracy of each head of ``config`` (raw and B2ILC) on each label set of ``test_labels``."""
    found = [hp.Metric(BEST_TAG, display_name="best validation accuracy",
                       description=f"the best {MONITOR} (gated head, raw) of the run's epochs"),
             hp.Metric(HEADLINE_TAG, display_name="test headline",
                       description="test accuracy of the gated head with B2ILC on the run's --test-labels")]
    heads = [head for head, branch in HEADS.items() if branch is None or branch in config.branches]
    for labels in test_labels:
        for head in heads:
            for suffix, what in (("", "raw"), ("_b2ilc", "B2ILC")):
                found.append(hp.Metric(f"test/{labels}/{head}{suffix}", display_name=f"test {labels} {head} {what}",
                                       description=f"test accuracy of the {head} head ({what}) on the {labels} labels"))
    return found


class HParams(hp.KerasCallback):
    """The run's HParams session in the root of ``log_dir``: at the start of ``fit`` the experiment
    (``hparams_config``: every setting of ``hparams_values``, the metrics of ``declared_metrics``) and the
    session's values, after each epoch the best validation segment accuracy so far (``BEST_TAG``), at the
    end the session's status, success (``end_failed_session`` ends a failed ``fit``'s).

    Args:
        log_dir: the run's TensorBoard folder (``train/`` and ``validation/`` are its sub-runs).
        config: the ``EDRNetConfig``.
        settings: the ``TrainSettings``.
        test_labels: the label sets the test report will have ("original", and "corrected" when present).
        trial_id: the session's name in the HParams tab (a hash of the values by default).
        best: the best validation segment accuracy of a resumed run's earlier epochs.
    """

    def __init__(self, log_dir, config, settings, test_labels=("original",), trial_id=None, best=None):
        super().__init__(str(log_dir), hparams_values(config, settings), trial_id=trial_id)
        self.metrics = declared_metrics(config, test_labels)
        self.best = best

    def on_train_begin(self, logs=None):
        with self._get_writer().as_default():
            hp.hparams_config(hparams=[hparam(name, value) for name, value in self._hparams.items()],
                              metrics=self.metrics)
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(MONITOR)
        if value is None or not math.isfinite(value):
            return
        self.best = value if self.best is None else max(self.best, value)
        with self._get_writer().as_default():
            tf.summary.scalar(BEST_TAG, self.best, step=epoch)

    def on_train_end(self, logs=None):
        writer = self._get_writer()
        super().on_train_end(logs)
        writer.flush()


def end_failed_session(log_dir):
    """Ends the HParams session in ``log_dir`` as failed: for a ``fit`` that raised (Keras then calls no
    ``on_train_end``, where ``HParams`` ends it as a success)."""
    from tensorboard.plugins.hparams import api_pb2, summary

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(summary.session_end_pb(api_pb2.STATUS_FAILURE).SerializeToString(),
                                             step=0)
    writer.close()


def summary_markdown(figures):
    """The test figures of ``report.test_report`` as a markdown table (one row per head and B2ILC setting,
    one column per label set) under the data's description (a warning when it is synthetic), the headline,
    the best validation accuracy (unsmoothed) and the run's health warnings."""
    headline = figures["headline"]
    columns = list(figures["test"])
    lines = []
    if figures.get("synthetic"):
        lines += [f"**WARNING: synthetic data.** {figures.get('dataset', '')}", ""]
    elif "dataset" in figures:
        lines += [f"data: {figures['dataset']}", ""]
    lines += [f"**headline**: {headline['accuracy']:.4f} (gated head, B2ILC, {headline['labels']} test labels)", ""]
    if figures.get("best_epoch_val_segment_accuracy") is not None:
        lines += [f"best validation accuracy: {figures['best_epoch_val_segment_accuracy']:.4f} (gated head, raw; "
                  f"`{BEST_ONCE_TAG}`; the `{BEST_TAG}` curve reads it with smoothing 0)", ""]
    lines += [f"{warning}  " for warning in figures.get("health", [])] + ([""] if figures.get("health") else [])
    lines += ["| head | B2ILC | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for head in figures["test"][columns[0]]:
        for name, b2ilc in (("raw", "off"), ("b2ilc", "on")):
            lines.append(f"| {head} | {b2ilc} | "
                         + " | ".join(f"{figures['test'][labels][head][name]:.4f}" for labels in columns) + " |")
    if "majority_baseline" in figures:
        majority = figures["majority_baseline"]
        lines.append(f"| always '{majority['class']}' | | "
                     + " | ".join(f"{majority[labels]:.4f}" for labels in columns) + " |")
    return "\n".join(lines)


def write_test_figures(log_dir, figures, step):
    """Writes the test figures of ``report.test_report`` (the ``metrics.json`` dict) to the root run of
    ``log_dir`` at ``step`` (the last epoch's, so they end the training curves; step 0 would draw an empty
    chart): ``HEADLINE_TAG`` and ``BEST_ONCE_TAG``, ``test/<labels>/<head>`` and ``test/<labels>/<head>_b2ilc``
    (the metrics ``HParams`` declares) and the markdown table ``test/summary``."""
    scalars = {HEADLINE_TAG: figures["headline"]["accuracy"]}
    if figures.get("best_epoch_val_segment_accuracy") is not None:
        scalars[BEST_ONCE_TAG] = figures["best_epoch_val_segment_accuracy"]
    for labels, heads in figures["test"].items():
        for head, accuracy in heads.items():
            scalars[f"test/{labels}/{head}"] = accuracy["raw"]
            scalars[f"test/{labels}/{head}_b2ilc"] = accuracy["b2ilc"]
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default(step=step):
        for tag, value in scalars.items():
            tf.summary.scalar(tag, float(value))
        tf.summary.text("test/summary", summary_markdown(figures))
    writer.close()
