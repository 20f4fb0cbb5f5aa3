"""Training callbacks beyond Keras' own: segment-level validation, per-class TensorBoard views, hparams.

Keras' ``TensorBoard`` callback already logs every loss term (``probs_loss`` = CE or MIL, ``features_loss``
= LSS, and the ``lss_land``/``lss_sea``/``lss_shore`` metrics), the learning rate and the train/validation
accuracy. ``SegmentValidation`` adds the split-level segment accuracy (docs/design.md#evaluation) that the
checkpoint and early stopping watch, per-class accuracy scalars and the confusion matrix as an image.
``StopOnDivergence`` ends a run whose loss or predictions stop being finite with an error, before any
callback can save the diverged model; ``HistoryCSV`` keeps ``history.csv`` whole after every epoch.
"""

import csv
import io
import math
import pathlib

import keras
import numpy as np
import tensorflow as tf

from edrnet_tf import files
from edrnet_tf.model import metrics

MONITOR = "val_segment_accuracy"
DIVERGED_HINT = "(a diverged run: try a lower --learning-rate)"


class Diverged(ValueError):
    """Training produced a non-finite loss or prediction."""


class StopOnDivergence(keras.callbacks.Callback):
    """Raises ``Diverged`` at the first NaN or inf training loss (checked after every batch) or epoch-end
    value (losses and metrics, validation included), so ``fit`` stops with an error and no later callback
    saves, backs up or selects the diverged model. ``keras.callbacks.TerminateOnNaN`` instead ends the
    epoch normally, and ``ModelCheckpoint`` then saves the NaN weights. List it after ``SegmentValidation``
    (whose NaN accuracy it then sees) and before every callback that saves."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise Diverged(f"training diverged at epoch {self.epoch + 1}, batch {batch + 1}: expected a finite loss, "
                           f"found {float(loss)} {DIVERGED_HINT}")

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                raise Diverged(f"training diverged at epoch {epoch + 1}: expected a finite {name}, found "
                               f"{float(value)} {DIVERGED_HINT}")


class HistoryCSV(keras.callbacks.Callback):
    """The epoch logs as CSV rows under an ``epoch`` column (as ``keras.callbacks.CSVLogger`` writes them),
    the whole file replaced after every epoch, so a kill or a reader never meets a torn line.

    Args:
        path: the CSV file.
        append: keep the rows of a resumed run's earlier epochs (a row of an epoch run again is replaced).
    """

    def __init__(self, path, append=False):
        super().__init__()
        self.path = pathlib.Path(path)
        self.append = append
        self.rows = []

    def on_train_begin(self, logs=None):
        self.rows = []
        if self.append and self.path.exists():
            with self.path.open(newline="") as handle:
                self.rows = list(csv.DictReader(handle))

    def on_epoch_begin(self, epoch, logs=None):
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, **{key: float(value) for key, value in (logs or {}).items()}})
        columns = ["epoch"] + sorted({key for row in self.rows for key in row} - {"epoch"})
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        files.write_text(self.path, text.getvalue())


def confusion_image(matrix, class_names, title):
    """A [1, H, W, 4] uint8 PNG-decoded picture of a row-normalised confusion matrix (rows = true class)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    figure, axes = pyplot.subplots(figsize=(9, 8), dpi=80)
    axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=90, fontsize=6)
    axes.set_yticks(ticks, class_names, fontsize=6)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return tf.image.decode_png(buffer.getvalue(), channels=4)[None]


class SegmentValidation(keras.callbacks.Callback):
    """Segment accuracy of the gated head on the validation split, added to the epoch logs as
    ``val_segment_accuracy`` (and ``val_segment_accuracy_b2ilc``), for ``ModelCheckpoint``,
    ``EarlyStopping`` and TensorBoard to use; list it before them.

    Non-finite probabilities (a diverged model) are logged as a NaN accuracy, never as a score: no
    selector saves or keeps a NaN model for it, and ``StopOnDivergence`` (listed after it) stops the run.

    The same metric for SEL and WSEL: WSEL trains on video labels only, and its checkpoint is chosen on
    the validation segment labels, as its test figure is read (docs/design.md#evaluation).
    Every ``every`` epochs (and after the last one) it also writes per-class accuracy scalars and the
    confusion-matrix image to ``log_dir``.

    Args:
        inputs: {"audio", "visual"} NumPy arrays of the validation split.
        labels: [M, N] int segment labels.
        class_names: the C class names.
        log_dir: TensorBoard folder for the per-class views (None: none written).
        batch_size: prediction batch size.
        every: epochs between per-class views (0: only at the end of training).
        background, witness_rate: B2ILC settings.
    """

    def __init__(self, inputs, labels, class_names, log_dir=None, batch_size=32, every=1,
                 background=28, witness_rate=0.5):
        super().__init__()
        self.inputs = inputs
        self.labels = labels
        self.class_names = list(class_names)
        self.log_dir = log_dir
        self.batch_size = batch_size
        self.every = every
        self.background = background
        self.witness_rate = witness_rate
        self.writer = None
        self.last = None

    def on_train_begin(self, logs=None):
        if self.log_dir is not None and self.writer is None:
            self.writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, epoch, logs=None):
        probs = self.model.predict(self.inputs, batch_size=self.batch_size, verbose=0)["probs"]
        logs = logs if logs is not None else {}
        if not np.all(np.isfinite(probs)):  # a diverged model: no accuracy (0 would rank it), no views
            logs.update({MONITOR: math.nan, MONITOR + "_b2ilc": math.nan})
            return
        for name, b2ilc in ((MONITOR, False), (MONITOR + "_b2ilc", True)):
            metric = metrics.SegmentAccuracy(b2ilc=b2ilc, background=self.background,
                                             witness_rate=self.witness_rate)
            metric.update_state(self.labels, probs)
            logs[name] = float(metric.result())
        self.last = (epoch, probs)
        if self.writer is not None and self.every and epoch % self.every == 0:
            self.write_views(epoch, probs)

    def on_train_end(self, logs=None):
        if self.writer is not None and self.last is not None and not (self.every and self.last[0] % self.every == 0):
            self.write_views(*self.last)
        if self.writer is not None:
            self.writer.flush()

    def write_views(self, epoch, probs):
        num_classes = len(self.class_names)
        confusion = metrics.ConfusionMatrix(num_classes=num_classes)
        confusion.update_state(self.labels, probs)
        per_class = metrics.PerClassAccuracy(num_classes=num_classes)
        per_class.update_state(self.labels, probs)
        with self.writer.as_default(step=epoch):
            for name, value in zip(self.class_names, np.asarray(per_class.result())):
                if np.isfinite(value):
                    tf.summary.scalar(f"per_class_accuracy/{name}", float(value))
            tf.summary.image("confusion_matrix",
                             confusion_image(confusion.result(), self.class_names,
                                             f"validation, epoch {epoch + 1} (rows: true, normalised)"))
        self.writer.flush()


def hparams_values(config, settings):
    """The run's hyperparameters as the flat {name: bool|int|float|str} the hparams plugin takes."""
    values = {}
    for name, value in {**config.to_dict(), **settings.hparams()}.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        values[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return values


class HParams(keras.callbacks.Callback):
    """Writes the run's hyperparameters (TensorBoard hparams plugin) and, at the end, its best validation
    accuracy, so runs can be compared in the HPARAMS tab. ``write_test`` adds the test figures."""

    def __init__(self, log_dir, values, trial_id):
        super().__init__()
        self.log_dir = str(log_dir)
        self.values = values
        self.trial_id = trial_id
        self.best = None

    def on_train_begin(self, logs=None):
        from tensorboard.plugins.hparams import api as hp

        with tf.summary.create_file_writer(self.log_dir).as_default():
            hp.hparams(self.values, trial_id=self.trial_id)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(MONITOR)
        if value is not None and (self.best is None or value > self.best):
            self.best = value

    def on_train_end(self, logs=None):
        if self.best is not None:
            write_scalars(self.log_dir, {"hparams/best_val_segment_accuracy": self.best})


def write_scalars(log_dir, values, step=0):
    """Writes ``{tag: float}`` scalars to the TensorBoard folder ``log_dir``."""
    with tf.summary.create_file_writer(str(log_dir)).as_default(step=step):
        for tag, value in values.items():
            tf.summary.scalar(tag, float(value))
