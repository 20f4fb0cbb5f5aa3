"""``EDRNetHyperModel``: EDRNet as a ``keras_tuner.HyperModel`` over k, L, d, SMB S, learning rate and lambda2.

``build(hp)`` returns the ``EDRNet`` of the trial's k, L, d and lambda2 (paper, "EDRNet Configurations").
``fit(hp, model, ...)`` trains it as ``python -m edrnet_tf.train`` does (the training data of
``runner.training_data`` with the trial's S: SMB fusion changes the data, so S is handled here; the
objectives, metrics and optimiser of the runner; the validation segment accuracy ``val_segment_accuracy``
that the runner's checkpoint watches), then restores the best epoch and measures the test split. It returns
the trial's figures, so a chief in distributed tuning holds every result without the workers' files.
"""

import dataclasses
import time

import keras
import keras_tuner

from edrnet_tf import ave
from edrnet_tf.training import callbacks, runner
from edrnet_tf.evaluation import report
from edrnet_tf.data import pipeline
from edrnet_tf.model.losses import objective

OBJECTIVE = callbacks.MONITOR  # "val_segment_accuracy": validation global segment accuracy, gated head


class EDRNetHyperModel(keras_tuner.HyperModel):
    """EDRNet over a ``studies.SearchSpace``.

    Args:
        space: the ``studies.SearchSpace`` to declare.
        config: the ``EDRNetConfig`` giving every field the space does not tune (e.g. a small
            ``visual_width`` for a quick run).
        settings: the ``runner.TrainSettings`` of every trial (data, task, batch size, epochs, optimiser,
            schedule, early stopping, seed); the trial's S and learning rate replace ``smb_per_class`` and
            ``learning_rate``.
        source: the ``data_source.DataSource`` to train on (``settings.data_source()`` by default).

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
        self._splits = {}
        self._statistics = None

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

    def build(self, hp):
        config, settings = self.trial(hp)
        keras.utils.set_random_seed(settings.seed)
        if config.normalize_inputs and self._statistics is None:
            try:  # bad data stops the search with its one-line message (as in fit)
                self._statistics = runner.training_statistics(self.data_source(), settings.task)
            except (FileNotFoundError, ValueError) as error:
                raise keras_tuner.errors.FatalValueError(str(error)) from error
        return runner.build_model(config, self._statistics)

    def data_source(self):
        if self.source is None:
            self.source = self.settings.data_source()
        return self.source

    def split(self, name):
        """The validation or test split as NumPy arrays, read once per process."""
        if name not in self._splits:
            source = self.data_source()
            arrays = pipeline.split_arrays(source.data_dir, name)
            if name == "test" and self.settings.test_labels == "corrected":
                source.ensure("corrected")
                corrected = pipeline.split_arrays(source.data_dir, "test", config="corrected")
                arrays["segment_labels"] = report.aligned_labels(arrays["row"], corrected, "tfds_ave/corrected")
            self._splits[name] = arrays
        return self._splits[name]

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, verbose="auto", **kwargs):
        """Trains ``model`` for the trial ``hp``; returns its figures (``OBJECTIVE`` = best validation accuracy).

        ``callbacks`` are Keras Tuner's (TensorBoard with the trial's hparams, its checkpoint); ``epochs``
        and ``initial_epoch`` are set by Hyperband, else ``settings.epochs`` is used.
        """
        config, settings = self.trial(hp)
        epochs = epochs or settings.epochs
        start = time.perf_counter()
        try:  # bad data is no reason to try the next trial: stop the search with its one-line message
            source = self.data_source()
            train_batches, steps_per_epoch = runner.training_data(source, settings)
            validation, test = self.split("validation"), self.split("test")
        except (FileNotFoundError, ValueError) as error:
            raise keras_tuner.errors.FatalValueError(str(error)) from error
        loss, loss_weights = objective(config, settings.task)
        model.compile(optimizer=runner.make_optimizer(settings, steps_per_epoch or 1), loss=loss,
                      loss_weights=loss_weights,
                      metrics=runner.compiled_metrics(config, settings.task, list(model.output)),
                      jit_compile=settings.jit_compile)
        to_xy = runner.targets(settings.task, list(model.output))
        history = model.fit(
            train_batches.map(to_xy),
            validation_data=pipeline.eval_pipeline(pipeline.load_split(source.data_dir, "validation"),
                                                   settings.batch_size).map(to_xy),
            epochs=epochs, initial_epoch=initial_epoch, verbose=verbose,
            callbacks=self.training_callbacks(config, settings, validation, epochs) + list(callbacks))
        outputs = model.predict({"audio": test["audio"], "visual": test["visual"]},
                                batch_size=settings.batch_size, verbose=0)
        accuracy = report.head_accuracies(outputs, test["segment_labels"], config.background,
                                          config.witness_rate)["gated"]
        seconds = time.perf_counter() - start
        values = history.history[OBJECTIVE]
        best = max(range(len(values)), key=values.__getitem__)
        figures = {OBJECTIVE: values[best],
                   f"{OBJECTIVE}_b2ilc": history.history[f"{OBJECTIVE}_b2ilc"][best],
                   "test_accuracy": accuracy["b2ilc"], "test_accuracy_raw": accuracy["raw"],
                   "best_epoch": initial_epoch + best + 1, "epochs_run": len(values), "wall_time_s": seconds}
        log_test(callbacks, figures)
        return figures

    def training_callbacks(self, config, settings, validation, epochs):
        """The runner's model-selection callbacks: segment validation (adds ``OBJECTIVE`` to the logs, so it
        comes first), NaN guard, early stopping (restoring the best epoch for the test figures), plateau."""
        monitor = dict(monitor=OBJECTIVE, mode="max")
        found = [
            callbacks.SegmentValidation({"audio": validation["audio"], "visual": validation["visual"]},
                                        validation["segment_labels"], ave.class_names(),
                                        batch_size=settings.batch_size, background=config.background,
                                        witness_rate=config.witness_rate),
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.EarlyStopping(patience=settings.early_stopping or epochs, restore_best_weights=True,
                                          verbose=0, **monitor),
        ]
        if settings.lr_schedule == "plateau":
            found.append(keras.callbacks.ReduceLROnPlateau(factor=0.1, patience=settings.plateau_patience,
                                                           verbose=1, **monitor))
        return found


def log_test(found_callbacks, figures):
    """Adds the trial's test accuracy to its TensorBoard run (the hparams dashboard lists it as a metric)."""
    for callback in found_callbacks:
        if isinstance(callback, keras.callbacks.TensorBoard):
            callbacks.write_scalars(callback.log_dir, {"test/accuracy": figures["test_accuracy"],
                                                       "test/accuracy_raw": figures["test_accuracy_raw"]})

