"""``EDRNetHyperModel``: EDRNet as a ``keras_tuner.HyperModel`` over k, L, d, SMB S, learning rate and lambda2.

Each trial is the ``training.task.TrainingTask`` of its (config, settings) — the data (SMB with the trial's S),
objectives, metrics, optimiser and model selection of ``python -m edrnet_tf.train`` — with Keras Tuner's
callbacks in place of the run folder's. ``fit`` restores the best epoch on the validation segment accuracy
(``OBJECTIVE``) and measures the test split, returning the trial's figures, so a chief in distributed tuning
holds every result without the workers' files. A diverged trial fails (``callbacks.Diverged``) and the
search goes on with the next.
"""

import dataclasses
import time

import keras
import keras_tuner

from edrnet_tf import installed
from edrnet_tf.data import sources
from edrnet_tf.evaluation import report
from edrnet_tf.training import task

if installed.tensorflow():  # a trial's test figure in its TensorBoard run (the TensorFlow backend)
    from edrnet_tf.training import tensorboard

OBJECTIVE = task.MONITOR  # "val_segment_accuracy": validation global segment accuracy, gated head


class EDRNetHyperModel(keras_tuner.HyperModel):
    """EDRNet over a ``studies.SearchSpace``.

    Args:
        space: the ``studies.SearchSpace`` to declare.
        config: the ``EDRNetConfig`` giving every field the space does not tune (e.g. a small
            ``visual_width`` for a quick run).
        settings: the ``config.TrainSettings`` of every trial (data, task, batch size, epochs, optimiser,
            schedule, early stopping, seed); the trial's S and learning rate replace ``smb_per_class`` and
            ``learning_rate``.
        source: the ``data.data_source.DataSource`` to train on (``sources.of_settings(settings)`` by default).

    Example:
        >>> space = tuning.studies.study_space("fig7b", config, smb_per_class=0, learning_rate=1e-4)
        >>> hypermodel = EDRNetHyperModel(space, config, settings)
        >>> keras_tuner.GridSearch(hypermodel, objective=keras_tuner.Objective(OBJECTIVE, "max"), ...)
    """

    def __init__(self, space, config, settings, source=None, name="edrnet"):
        super().__init__(name=name, tunable=True)
        if settings.task != "sel":
            raise ValueError(f"--task={settings.task!r} is invalid for tuning: expected 'sel' (Fig. 7 is SEL)")
        self.space = space
        self.config = config
        self.settings = settings
        self.source = source
        self._statistics = None
        self._validation = None
        self._test = None
        self._current = None  # (trial values, TrainingTask): build and fit of one trial share the task

    def declare_hyperparameters(self, hp):
        self.space.declare(hp)

    def trial(self, hp):
        """``(EDRNetConfig, TrainSettings)`` of the trial whose values ``hp`` holds."""
        values = self.space.declare(hp)
        config = self.config.replace(kernel_size=values["kernel_size"], num_layers=values["num_layers"],
                                     width=values["width"], lambda2=values["lambda2"])
        settings = dataclasses.replace(self.settings, smb_per_class=values["smb_per_class"],
                                       learning_rate=values["learning_rate"])
        return config, settings

    def task(self, hp):
        """The trial's ``TrainingTask`` (the training split's input statistics and the validation split are read
        once per process); bad data stops the search with its one-line message instead of failing trial after
        trial."""
        if self._current is not None and self._current[0] == hp.values:
            return self._current[1]
        config, settings = self.trial(hp)
        try:
            if self.source is None:
                self.source = sources.of_settings(settings)
            trial_task = task.TrainingTask(config, settings, self.source, self._statistics, self._validation)
            self._statistics = trial_task.input_statistics()
            self._validation = trial_task.validation()
            trial_task.steps_per_epoch()
        except (FileNotFoundError, ValueError) as error:
            raise keras_tuner.errors.FatalValueError(str(error)) from error
        self._current = (dict(hp.values), trial_task)
        return trial_task

    def build(self, hp):
        return self.task(hp).build()

    def test_split(self):
        """``(inputs, labels)`` of the test split under the settings' headline labels, read once per process."""
        if self._test is None:
            try:
                inputs, label_sets = report.test_split(self.source, self.settings.test_labels)
            except (FileNotFoundError, ValueError) as error:
                raise keras_tuner.errors.FatalValueError(str(error)) from error
            self._test = inputs, label_sets[self.settings.test_labels]
        return self._test

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, verbose="auto", **kwargs):
        """Trains ``model`` for the trial ``hp``; returns its figures (``OBJECTIVE`` = best validation accuracy).

        ``callbacks`` are Keras Tuner's (TensorBoard with the trial's hparams, its checkpoint); ``epochs``
        and ``initial_epoch`` are set by Hyperband, else ``settings.epochs`` is used.
        """
        trial_task = self.task(hp)
        epochs = epochs or trial_task.settings.epochs
        start = time.perf_counter()
        history = trial_task.fit(model, trial_task.callbacks(callbacks, restore_best=True, epochs=epochs),
                                 epochs=epochs, initial_epoch=initial_epoch, verbose=verbose)
        inputs, labels = self.test_split()
        outputs = model.predict(inputs, batch_size=trial_task.settings.batch_size, verbose=0)
        accuracy = report.head_accuracies(outputs, labels, trial_task.config.background,
                                          trial_task.config.witness_rate)["gated"]
        seconds = time.perf_counter() - start
        values = history.history[OBJECTIVE]
        best = max(range(len(values)), key=values.__getitem__)
        figures = {OBJECTIVE: values[best],
                   f"{OBJECTIVE}_b2ilc": history.history[f"{OBJECTIVE}_b2ilc"][best],
                   "test_accuracy": accuracy["b2ilc"], "test_accuracy_raw": accuracy["raw"],
                   "best_epoch": initial_epoch + best + 1, "epochs_run": len(values), "wall_time_s": seconds}
        log_test(callbacks, figures)
        return figures


def log_test(found_callbacks, figures):
    """Adds the trial's test accuracy to its TensorBoard run (the hparams dashboard lists it as a metric)."""
    for callback in found_callbacks:
        if isinstance(callback, keras.callbacks.TensorBoard):
            tensorboard.write_scalars(callback.log_dir, {"test/accuracy": figures["test_accuracy"],
                                                       "test/accuracy_raw": figures["test_accuracy_raw"]})

