"""``TrainingTask``: one (config, settings, data) training recipe, shared by ``python -m edrnet_tf.train``
(``runner``), the Keras Tuner trials (``tuning.hypermodel``) and the ablation tables (``evaluation.experiments``,
through the runner).

It owns everything that decides *what* is trained and *how it is selected*: the input statistics of the
training split, the training data (SMB fusion when S > 0), the model built and compiled under a distribution
scope (objectives, metrics, optimiser and learning-rate schedule), the ``(x, y)`` mapping of the task, the
validation split (read once) and the model-selection callbacks. What a caller adds around it is its own:
the runner's run folder (checkpoint, history, TensorBoard, backup), the tuner's trial callbacks.
"""

import contextlib
import sys

import keras

from edrnet_tf import installed
from edrnet_tf.data import sources
from edrnet_tf.model import EDRNet
from edrnet_tf.model.losses import objective, objective_targets
from edrnet_tf.model.metrics import LSS_TERMS, LSSTerm, SegmentAccuracy
from edrnet_tf.training import callbacks, device_data, distribution

MONITOR = callbacks.MONITOR  # "val_segment_accuracy": the validation global segment accuracy of the gated head
# Device placement: the callbacks that act on the compiled training model (its optimizer, its graph).
ON_TRAINER = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.BackupAndRestore, keras.callbacks.TensorBoard)


@contextlib.contextmanager
def precision(name):
    """Builds layers under Keras' ``"mixed_bfloat16"`` policy for ``name="bfloat16"`` (float32 weights, head and
    losses) or ``"float32"``; the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if name == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def learning_rate_schedule(settings, steps_per_epoch):
    """The learning rate of ``settings``: a float (constant, or plateau: ``ReduceLROnPlateau`` lowers it) or a
    ``CosineDecay`` (cosine to 0 over the epochs after the warm-up; constant after it with ``"constant"``),
    with a linear warm-up from 0 over ``warmup_epochs``. The peak is ``settings.scaled_learning_rate`` (the
    ``lr_scaling`` rule for the batch size)."""
    warmup = settings.warmup_epochs * steps_per_epoch
    peak = settings.scaled_learning_rate
    if settings.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else peak, decay_steps=max(1, (settings.epochs * steps_per_epoch) - warmup),
            warmup_target=peak if warmup else None, warmup_steps=warmup)
    if warmup:  # alpha=1: no decay after the warm-up
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=1, alpha=1.0, warmup_target=peak,
                                                      warmup_steps=warmup)
    return peak


def make_optimizer(settings, steps_per_epoch):
    rate = learning_rate_schedule(settings, steps_per_epoch)
    if settings.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    if settings.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    raise ValueError(f"--optimizer={settings.optimizer!r} is invalid: expected adam, adamw or sgd")


def targets(task, output_names):
    """Maps a batched example dict to the ``(x, y)`` of ``fit``.

    sel: every probability output gets the segment labels (the loss is on ``probs`` and ``features``
    only, the A and V heads are measured), wsel: ``probs`` gets the video label.
    """
    def to_xy(batch):
        x = {"audio": batch["audio"], "visual": batch["visual"]}
        return x, objective_targets(task, output_names, batch["segment_labels"], batch["video_label"])
    return to_xy


def compiled_metrics(config, task, output_names):
    """sel: segment accuracy of each head and the three LSS terms, each logged on its own."""
    if task == "wsel":
        return None
    found = {name: [SegmentAccuracy(name="accuracy")] for name in output_names if name.startswith("probs")}
    found["features"] = [LSSTerm(term, alpha=config.alpha, background=config.background,
                                 unit=config.lss_unit_features, name=term) for term in LSS_TERMS]
    return found


def build_model(config, input_statistics=None):
    """``EDRNet(config)`` with its input normalisation set from ``input_statistics`` (when it has one)."""
    model = EDRNet(config)
    if config.normalize_inputs:
        model.set_input_statistics(input_statistics)
    return model


def train_config(task):
    """The ``tfds_ave`` config a task trains and validates on."""
    return "weakly_supervised" if task == "wsel" else "supervised"


class TrainingTask:
    """What one run trains and how it selects its epoch.

    Args:
        config: the ``EDRNetConfig``.
        settings: the ``TrainSettings`` (data, task, S, batch size, optimisation, seed).
        source: the ``data.data_source.DataSource`` (``sources.of_settings(settings)`` when None).
        input_statistics: the training split's ``InputStatistics`` when already known (tuning trials share
            them); streamed from the data when None.
        validation: the validation arrays (``validation()``'s layout) when already read; read when None.

    Example:
        >>> task = TrainingTask(config, settings)
        >>> with strategy.scope():
        ...     model = task.build()
        >>> history = task.fit(model, [keras.callbacks.ModelCheckpoint("model.keras", monitor=MONITOR,
        ...                                                            mode="max", save_best_only=True)])
    """

    def __init__(self, config, settings, source=None, input_statistics=None, validation=None):
        self.config = config
        self.settings = settings
        self._source = source
        self._statistics = input_statistics
        self._validation = validation
        self._training = None
        self._arrays = None  # the training split as NumPy labels (features moved to the device), device placement
        self._trainer = None  # device placement: the compiled model over the resident features

    @property
    def source(self):
        if self._source is None:
            self._source = sources.of_settings(self.settings)
        return self._source

    def input_statistics(self):
        """The ``InputStatistics`` of the training split (streamed once, bounded memory); None without
        input normalisation."""
        if self.config.normalize_inputs and self._statistics is None:
            self._statistics = self.source.statistics("train", train_config(self.settings.task))
        return self._statistics

    def training_data(self):
        """Host placement: the batched training ``tf.data`` (SMB-augmented for sel when S > 0) and its steps per
        epoch (``host_data.training_batches``); built once per task (SMB draws fresh fused videos every epoch)."""
        if self._training is None:
            if self.source.data_dir is None:
                raise ValueError(f"--data-placement='host' is invalid: expected 'device' where "
                                 f"{installed.NO_TENSORFLOW} (host placement feeds tf.data)")
            from edrnet_tf.training import host_data  # TensorFlow: imported on host placement only

            self._training = host_data.training_batches(self.source.data_dir, self._train_config(), self.settings,
                                                        share=distribution.share())
        return self._training

    def validation(self):
        """The validation split as NumPy ``{"inputs": {"audio", "visual"}, "segment_labels", "video_label"}``,
        read once."""
        if self._validation is None:
            arrays = self.source.arrays("validation")
            self._validation = {"inputs": {"audio": arrays["audio"], "visual": arrays["visual"]},
                                "segment_labels": arrays["segment_labels"], "video_label": arrays["video_label"]}
        return self._validation

    def build(self, strategy=None):
        """The EDRNet of ``config`` (weights seeded by ``settings.seed``, in ``settings.mixed_precision``), its
        input statistics set, compiled with the task's objective, metrics and optimiser, all under
        ``strategy``'s scope when one is given. With ``data_placement="device"`` the model compiled (and
        trained by ``fit``) is ``device_data.device_training_model`` over the resident training features;
        the EDRNet returned shares its weights and is what callers save."""
        statistics_ = self.input_statistics()  # data I/O, outside the scope
        steps_per_epoch = self.steps_per_epoch()
        device = self.settings.data_placement == "device"
        arrays = self._device_arrays() if device else None
        keras.utils.set_random_seed(self.settings.seed)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            with precision(self.settings.mixed_precision):
                model = build_model(self.config, statistics_)
                if device:
                    resident = device_data.ResidentFeatures.from_arrays(
                        arrays.pop("audio"), arrays.pop("visual"), feature_dtype=self.settings.mixed_precision)
                    self._trainer = device_data.device_training_model(model, resident)
            self.compile(self._trainer or model, steps_per_epoch)
        return model

    def steps_per_epoch(self):
        """Steps of one training epoch, from the training data of the settings' placement (read here: a bad
        split raises now, not in ``fit``)."""
        if self.settings.data_placement == "device":
            return len(self._device_batches(self._device_arrays(), ["probs"]))
        return self.training_data()[1]

    def _device_arrays(self):
        """The training split as NumPy (features and labels), to be held on the device."""
        if self._arrays is None:
            self._arrays = self.source.arrays("train", self._train_config())
        return self._arrays

    def _train_config(self):
        """The data config the task trains on, made ready (wsel's weakly_supervised is not built by default)."""
        config = train_config(self.settings.task)
        self.source.ensure(config)
        return config

    def _device_batches(self, arrays, output_names, initial_epoch=0):
        settings = self.settings
        return device_data.EpochBatches(arrays["segment_labels"], arrays["video_label"], settings.batch_size,
                                        output_names, per_class=0 if settings.task == "wsel" else settings.smb_per_class,
                                        seed=settings.seed, task=settings.task, initial_epoch=initial_epoch,
                                        background=self.config.background, sequence_rule=settings.smb_sequences,
                                        share=distribution.share())

    def compile(self, model, steps_per_epoch=None):
        loss, loss_weights = objective(self.config, self.settings.task)
        model.compile(optimizer=make_optimizer(self.settings, steps_per_epoch or 1), loss=loss,
                      loss_weights=loss_weights,
                      metrics=compiled_metrics(self.config, self.settings.task, list(model.output)),
                      jit_compile=self.settings.jit_compile)

    def callbacks(self, own=(), views=None, restore_best=False, epochs=None):
        """``own`` callbacks inside the ones that measure and select: segment validation (it adds ``MONITOR``
        to the logs) and the divergence guard before them, early stopping (``restore_best``: back to the best
        epoch at the end; with no patience set, it then waits ``epochs``) and, with the plateau schedule,
        ``ReduceLROnPlateau`` after them. ``views``: what validation hands its per-class views to
        (``tensorboard.ValidationViews``)."""
        settings, config, validation = self.settings, self.config, self.validation()
        monitor = dict(monitor=MONITOR, mode="max")
        found = [
            callbacks.SegmentValidation(validation["inputs"], validation["segment_labels"],
                                        validation.get("video_label"), config, settings.task, views=views,
                                        batch_size=settings.batch_size, every=settings.per_class_every),
            callbacks.StopOnDivergence(),  # raises before any later callback saves a diverged model
            *own,
        ]
        patience = settings.early_stopping or (epochs if restore_best else 0)
        if patience:
            found.append(keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=restore_best,
                                                       verbose=0 if restore_best else 1, **monitor))
        if settings.lr_schedule == "plateau":
            found.append(keras.callbacks.ReduceLROnPlateau(factor=0.1, patience=settings.plateau_patience,
                                                           verbose=1, **monitor))
        return found

    def fit(self, model, callbacks_=(), epochs=None, initial_epoch=0, verbose="auto"):
        """``model.fit`` on the training data; returns the ``History``. Validation is not Keras' ``validation_data``
        but ``callbacks``' ``SegmentValidation``: one prediction per epoch gives every ``val_*`` figure.

        With ``data_placement="device"`` the compiled training model is fitted on index batches
        (``device_data.EpochBatches``: originals and fresh SMB fused videos every epoch), and every callback
        but those that need its optimizer or graph (``ON_TRAINER``) sees ``model``, the EDRNet, which is what
        they save, predict with or restore."""
        if self._trainer is None:
            batches, _ = self.training_data()
            data, trainer, found = batches.map(targets(self.settings.task, list(model.output))), model, callbacks_
        else:
            data = self._device_batches(self._device_arrays(), list(model.output), initial_epoch)
            trainer = self._trainer
            found = [cb if isinstance(cb, ON_TRAINER) else device_data.OnInnerModel(cb, model) for cb in callbacks_]
        found = distribution.unsharded_callbacks(found)  # several processes: callbacks predict and save unsharded
        return trainer.fit(
            data, epochs=epochs or self.settings.epochs, initial_epoch=initial_epoch, shuffle=False,  # data shuffles
            verbose=(1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose,  # bars: terminal only
            callbacks=list(found))
