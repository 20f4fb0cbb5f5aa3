"""Training callbacks beyond Keras' own: the one validation pass, the divergence guard, ``history.csv``.

``SegmentValidation`` is the run's validation: ``fit`` gets no ``validation_data``; it predicts the
validation arrays once per epoch and adds to the epoch logs what Keras' validation would (``val_loss``,
``val_<output>_loss``, ``val_<output>_accuracy``, ``val_features_land|sea|shore``) and the split-level segment
accuracy (docs/design.md#evaluation) that the checkpoint and early stopping watch, and hands its prediction
to the TensorBoard per-class views. Nothing here imports TensorFlow. ``StopOnDivergence`` ends a run whose loss or
predictions stop being finite with an error, before any callback can save the diverged model;
``HistoryCSV`` keeps ``history.csv`` whole after every epoch. TensorBoard and HParams: ``tensorboard.py``.
"""

import csv
import io
import math
import pathlib

import keras
import numpy as np

from edrnet_tf import files
from edrnet_tf.model import losses, metrics

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


class SegmentValidation(keras.callbacks.Callback):
    """The run's one validation: predicts the validation arrays once per epoch and adds to the epoch logs

    - what ``fit(validation_data=...)`` would, under Keras' names and equal to ``evaluate``'s figures with
      the same ``batch_size``: ``val_loss`` and ``val_<output>_loss`` (when the objective has several losses)
      from ``losses.objective(config, task)`` and its loss weights (wsel: the MIL loss on the video labels),
      and for sel the compiled metrics ``val_<head>_accuracy`` (``SegmentAccuracy``) and
      ``val_features_land|sea|shore`` (``LSSTerm``);
    - ``val_segment_accuracy`` (``MONITOR``) and ``val_segment_accuracy_b2ilc``: the gated head's segment
      accuracy on the segment labels, for sel and wsel alike (WSEL's checkpoint is chosen as its test
      figure is read, docs/design.md#evaluation).

    List it before every callback that reads these (checkpoint, early stopping, TensorBoard, HParams); call ``fit``
    without ``validation_data``. Non-finite probabilities (a diverged model) log a NaN segment accuracy,
    never a score: no selector keeps the model for it and ``StopOnDivergence`` (listed after it) stops the run.
    Every ``every`` epochs (and after the last one) it hands the prediction to ``views`` (the TensorBoard
    per-class accuracy and confusion matrix, ``tensorboard.ValidationViews``), at step = epoch index.

    Args:
        inputs: {"audio", "visual"} NumPy arrays of the validation split.
        segment_labels: [M, N] int segment labels.
        video_labels: [M] int video labels (the wsel loss's target; None for sel).
        config: the model's ``EDRNetConfig`` (objective, B2ILC settings).
        task: "sel" or "wsel".
        views: what writes the per-class views: ``write(epoch, segment_labels, probs)`` and ``flush()``
            (None: none written).
        batch_size: prediction and loss batch size (as ``evaluate``'s, for the same LSS figures).
        every: epochs between per-class views (0: only at the end of training).
    """

    def __init__(self, inputs, segment_labels, video_labels, config, task, views=None, batch_size=32, every=1):
        super().__init__()
        if task == "wsel" and video_labels is None:
            raise ValueError("SegmentValidation(task='wsel') needs video_labels: the MIL loss's target")
        self.inputs = inputs
        self.segment_labels = np.asarray(segment_labels)
        self.video_labels = None if video_labels is None else np.asarray(video_labels)
        self.config = config
        self.task = task
        self.views = views
        self.batch_size = batch_size
        self.every = every
        self.last = None

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model.predict(self.inputs, batch_size=self.batch_size, verbose=0)
        logs = logs if logs is not None else {}
        if not np.all(np.isfinite(outputs["probs"])):  # a diverged model: no accuracy (0 would rank it), no views
            logs.update({MONITOR: math.nan, MONITOR + "_b2ilc": math.nan})
            return
        logs.update(self.figures(outputs))
        self.last = (epoch, outputs["probs"])
        if self.views is not None and self.every and epoch % self.every == 0:
            self.views.write(epoch, self.segment_labels, outputs["probs"])

    def on_train_end(self, logs=None):
        if self.views is None:
            return
        if self.last is not None and not (self.every and self.last[0] % self.every == 0):
            self.views.write(self.last[0], self.segment_labels, self.last[1])
        self.views.flush()

    def figures(self, outputs):
        """The ``val_*`` figures of one prediction ``outputs`` (the model's output dict of NumPy arrays)."""
        found = self.loss_figures(outputs)
        for name, b2ilc in ((MONITOR, False), (MONITOR + "_b2ilc", True)):
            found[name] = self.accuracy(outputs["probs"], b2ilc)
        if self.task == "sel":  # the metrics sel compiles (runner.compiled_metrics)
            found.update({f"val_{name}_accuracy": self.accuracy(probs) for name, probs in outputs.items()
                          if name.startswith("probs")})
            for term in metrics.LSS_TERMS:
                metric = metrics.LSSTerm(term, alpha=self.config.alpha, background=self.config.background,
                                         unit=self.config.lss_unit_features)
                metric.update_state(self.segment_labels, outputs["features"])
                found[f"val_features_{term}"] = float(metric.result())
        return found

    def loss_figures(self, outputs):
        """``val_loss`` and, when the objective has several losses, each unweighted ``val_<output>_loss``,
        from the losses of batches of ``batch_size`` as ``evaluate`` takes them on the TensorFlow backend:
        ``val_loss`` their mean weighted by batch size, ``val_<output>_loss`` their plain mean (Keras weights
        it by the batch's static size, unknown in a traced step)."""
        loss_fns, weights = losses.objective(self.config, self.task)
        targets = {"probs": self.video_labels} if self.task == "wsel" else dict.fromkeys(outputs, self.segment_labels)
        videos = len(self.segment_labels)
        starts = range(0, videos, self.batch_size)
        found = {"val_loss": 0.0, **({f"val_{name}_loss": 0.0 for name in loss_fns} if len(loss_fns) > 1 else {})}
        for start in starts:
            batch = slice(start, start + self.batch_size)
            for name, loss_fn in loss_fns.items():
                value = float(loss_fn(targets[name][batch], outputs[name][batch]))
                found["val_loss"] += len(self.segment_labels[batch]) / videos * weights[name] * value
                if f"val_{name}_loss" in found:
                    found[f"val_{name}_loss"] += value / len(starts)
        return found

    def accuracy(self, probs, b2ilc=False):
        metric = metrics.SegmentAccuracy(b2ilc=b2ilc, background=self.config.background,
                                         witness_rate=self.config.witness_rate)
        metric.update_state(self.segment_labels, probs)
        return float(metric.result())
