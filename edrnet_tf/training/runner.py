"""One training run: data -> EDRNet built under the distribution's scope -> ``model.fit`` -> test figures
-> export. ``python -m edrnet_tf.train`` is a thin CLI over ``train(config, settings)``.

A run folder holds ``run.json`` (config, settings, data), ``model.keras`` (the best epoch on the validation
segment accuracy, never on test), ``history.csv``, ``logs/`` (TensorBoard), ``saved_model/``
(``export.export_saved_model``) and, last, ``metrics.json`` (test figures, ``report.test_report``);
``run_folder`` says how far a run got, so a ``--backup`` rerun resumes it or finds it complete.

Before the first epoch a run checks everything it will need (data configs, model/data match, the folder's
earlier run) and takes the folder's lock; a NaN or inf loss or prediction stops it with an error and
leaves the best earlier checkpoint as it was.
"""

import dataclasses
import json
import math
import pathlib
import shutil
import sys

import keras
import tensorflow as tf

from edrnet_tf import ave, files
from edrnet_tf.training import callbacks, distribution, run_folder
from edrnet_tf.data import sources as data_source
from edrnet_tf.serving import export
from edrnet_tf.evaluation import report
from edrnet_tf.config import EDRNetConfig
from edrnet_tf.data import pipeline, smb, statistics
from edrnet_tf.model.losses import objective
from edrnet_tf.model.metrics import LSS_TERMS, LSSTerm, SegmentAccuracy
from edrnet_tf.model import EDRNet
from edrnet_tf.training.run_folder import best_so_far

# Training defaults per --dataset (docs/training.md "Recipe" says how they were chosen). The model's
# defaults live in EDRNetConfig (the paper's size); "synthetic" is the CPU demo, "ave" the full setting.
MODEL_DEFAULTS = {"ave": {}, "synthetic": dict(width=256, visual_width=128)}  # EDRNetConfig changes per dataset
DEMO_DEFAULTS = {
    "ave": dict(synthetic_videos=None, batch_size=32, epochs=60, smb_per_class=250, optimizer="adam",
                learning_rate=3e-4, lr_schedule="constant", warmup_epochs=0, weight_decay=0.0, early_stopping=10,
                jit_compile=True),
    "synthetic": dict(synthetic_videos=400, batch_size=16, epochs=12, smb_per_class=4, optimizer="adam",
                      learning_rate=3e-4, lr_schedule="constant", warmup_epochs=0, weight_decay=0.0,
                      early_stopping=10, jit_compile=False),
}
HPARAM_FIELDS = ("task", "smb_per_class", "batch_size", "epochs", "optimizer", "learning_rate", "lr_schedule",
                 "warmup_epochs", "weight_decay", "early_stopping", "seed", "dataset")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything of a run that is not the model: data, task, optimisation, output (flags.py documents
    each as a flag)."""

    dataset: str = "synthetic"
    data_dir: pathlib.Path = None
    manual_dir: pathlib.Path = None
    cache_dir: pathlib.Path = None
    synthetic_videos: int = DEMO_DEFAULTS["synthetic"]["synthetic_videos"]
    synthetic_seed: int = 0
    task: str = "sel"
    test_labels: str = "original"
    smb_per_class: int = 0
    batch_size: int = 16
    epochs: int = 1
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    early_stopping: int = 10
    plateau_patience: int = 3
    seed: int = 0
    jit_compile: bool = True
    output: pathlib.Path = pathlib.Path("runs/edrnet")
    distribution: str = "auto"
    backup: bool = False
    per_class_every: int = 1

    def to_dict(self):
        return {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in dataclasses.asdict(self).items()}

    def hparams(self):
        return {name: getattr(self, name) for name in HPARAM_FIELDS}

    def data_source(self):
        return data_source.resolve(self.dataset, self.data_dir, self.manual_dir, self.cache_dir,
                                   self.synthetic_videos, self.synthetic_seed)


def learning_rate_schedule(settings, steps_per_epoch):
    """The learning rate of ``settings``: a float (constant, or plateau: ``ReduceLROnPlateau`` lowers it) or a
    ``CosineDecay`` (cosine to 0 over the epochs after the warm-up; constant after it with ``"constant"``),
    with a linear warm-up from 0 over ``warmup_epochs``."""
    warmup = settings.warmup_epochs * steps_per_epoch
    if settings.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else settings.learning_rate, decay_steps=max(1, (settings.epochs * steps_per_epoch) - warmup),
            warmup_target=settings.learning_rate if warmup else None, warmup_steps=warmup)
    if warmup:  # alpha=1: no decay after the warm-up
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=1, alpha=1.0,
                                                      warmup_target=settings.learning_rate, warmup_steps=warmup)
    return settings.learning_rate


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
        if task == "wsel":
            return x, {"probs": batch["video_label"]}
        return x, {name: batch["segment_labels"] for name in output_names}
    return to_xy


def compiled_metrics(config, task, output_names):
    """sel: segment accuracy of each head and the three LSS terms, each logged on its own."""
    if task == "wsel":
        return None
    found = {name: [SegmentAccuracy(name="accuracy")] for name in output_names if name.startswith("probs")}
    found["features"] = [LSSTerm(term, alpha=config.alpha, background=config.background,
                                 unit=config.lss_unit_features, name=term) for term in LSS_TERMS]
    return found


def training_data(source, settings):
    """The batched training ``tf.data`` (SMB-augmented for sel when S > 0) and its steps per epoch."""
    if settings.task == "wsel":
        source.ensure("weakly_supervised")
        examples = pipeline.load_split(source.data_dir, "train", config="weakly_supervised")
        batches = pipeline.train_pipeline(examples, settings.batch_size, shuffle=True, seed=settings.seed)
    elif settings.smb_per_class == 0:
        examples = pipeline.load_split(source.data_dir, "train")
        batches = pipeline.train_pipeline(examples, settings.batch_size, shuffle=True, seed=settings.seed)
    else:
        arrays = pipeline.split_arrays(source.data_dir, "train", features="variable")  # held once, no NumPy copy
        fusable = smb.StateDatabase.from_labels(arrays["segment_labels"], arrays["video_label"]).fusable_classes()
        videos = len(arrays["video_label"]) + settings.smb_per_class * len(fusable)
        examples = smb.smb_training_dataset(arrays, settings.smb_per_class, seed=settings.seed)
        examples = examples.apply(tf.data.experimental.assert_cardinality(videos))  # a sized progress bar
        del arrays
        batches = pipeline.train_pipeline(examples, settings.batch_size, shuffle=False, cache=False)
        return batches, math.ceil(videos / settings.batch_size)
    steps = int(batches.cardinality())
    return batches, steps if steps > 0 else None


def train_callbacks(config, settings, output, validation, steps_per_epoch):
    monitor = dict(monitor=callbacks.MONITOR, mode="max")
    resuming = settings.backup and (output / "backup").exists()
    found = [
        callbacks.SegmentValidation(validation["inputs"], validation["segment_labels"], ave.class_names(),
                                    log_dir=output / "logs" / "validation", batch_size=settings.batch_size,
                                    every=settings.per_class_every, background=config.background,
                                    witness_rate=config.witness_rate),
        callbacks.StopOnDivergence(),  # raises before anything below saves a diverged model
        keras.callbacks.ModelCheckpoint(output / run_folder.MODEL, save_best_only=True, verbose=1,
                                        initial_value_threshold=best_so_far(output / run_folder.HISTORY)
                                        if resuming else None, **monitor),
        callbacks.HistoryCSV(output / run_folder.HISTORY, append=resuming),
        keras.callbacks.TensorBoard(output / "logs"),
        callbacks.HParams(output / "logs", callbacks.hparams_values(config, settings), trial_id=output.name),
    ]
    if settings.early_stopping:
        found.append(keras.callbacks.EarlyStopping(patience=settings.early_stopping, verbose=1, **monitor))
    if settings.lr_schedule == "plateau":
        found.append(keras.callbacks.ReduceLROnPlateau(factor=0.1, patience=settings.plateau_patience,
                                                       verbose=1, **monitor))
    if settings.backup:
        found.append(keras.callbacks.BackupAndRestore(output / "backup"))
    return found


def training_statistics(source, task="sel"):
    """The ``InputStatistics`` of the training split ``task`` trains on (streamed, bounded memory)."""
    return statistics.split_statistics(source.data_dir, "train", "weakly_supervised" if task == "wsel" else
                                       "supervised")


def build_model(config, input_statistics=None):
    """``EDRNet(config)`` with its input normalisation set from ``input_statistics`` (when it has one)."""
    model = EDRNet(config)
    if config.normalize_inputs:
        model.set_input_statistics(input_statistics)
    return model


def train(config, settings, extra_callbacks=(), verbose="auto"):
    """Trains, evaluates and exports one run into ``settings.output``; returns the ``metrics.json`` dict.

    A run of the same config and settings already in the folder is taken up where it stopped (with
    ``backup``: at its last finished epoch; after ``fit``: at the test report and export) or, when complete,
    left untouched. The folder's earlier run, every data config the run reads and the model/data match are
    checked before the folder is written; another run in the folder, or a diverged epoch
    (``callbacks.Diverged``), is an error.

    Args:
        config: the ``EDRNetConfig`` of the model.
        settings: the ``TrainSettings``.
        extra_callbacks: more Keras callbacks, run after the built-in ones.
        verbose: ``fit``'s verbosity (the progress bar by default).
    """
    output = pathlib.Path(settings.output)
    if run_folder.state(output, config, settings) == run_folder.COMPLETE:
        return already_complete(output)
    source = settings.data_source()
    source.prepare(config, settings.task, settings.test_labels)
    strategy = distribution.resolve(settings.distribution)
    output.mkdir(parents=True, exist_ok=True)
    with files.lock_folder(output):
        found = run_folder.state(output, config, settings)  # again, under the lock: a run may have ended meanwhile
        if found == run_folder.COMPLETE:
            return already_complete(output)
        if found != run_folder.TRAINED:
            run = {"config": config.to_dict(), "settings": settings.to_dict(),
                   "data": {"description": source.description, "data_dir": str(source.data_dir),
                            "manual_dir": source.manual_dir and str(source.manual_dir), "synthetic": source.synthetic},
                   "backend": keras.backend.backend(), "distribution": strategy.name}
            run_folder.write_run(output, run, trained=False)
            fit(config, settings, source, strategy, extra_callbacks, verbose)
            run_folder.write_run(output, run, trained=True)
        return finish(output, source, settings)


def already_complete(output):
    """The ``metrics.json`` dict of the complete run in ``output``, after saying so; writes nothing."""
    print(f"{output}: already complete ({run_folder.METRICS} is there); nothing to do", flush=True)
    return json.loads((output / run_folder.METRICS).read_text())


def fit(config, settings, source, strategy, extra_callbacks, verbose):
    """``model.fit`` of one run; its checkpoint ``model.keras`` holds the best epoch."""
    output = pathlib.Path(settings.output)
    keras.utils.set_random_seed(settings.seed)
    train_batches, steps_per_epoch = training_data(source, settings)
    validation_config = "weakly_supervised" if settings.task == "wsel" else "supervised"
    validation_examples = pipeline.load_split(source.data_dir, "validation", config=validation_config)
    arrays = pipeline.split_arrays(source.data_dir, "validation")
    validation = {"inputs": {"audio": arrays["audio"], "visual": arrays["visual"]},
                  "segment_labels": arrays["segment_labels"]}

    input_statistics = training_statistics(source, settings.task) if config.normalize_inputs else None
    with strategy.scope():
        model = build_model(config, input_statistics)
        loss, loss_weights = objective(config, settings.task)
        model.compile(optimizer=make_optimizer(settings, steps_per_epoch or 1), loss=loss,
                      loss_weights=loss_weights, metrics=compiled_metrics(config, settings.task, list(model.output)),
                      jit_compile=settings.jit_compile)
    to_xy = targets(settings.task, list(model.output))
    try:
        model.fit(train_batches.map(to_xy),
                  validation_data=pipeline.eval_pipeline(validation_examples, settings.batch_size).map(to_xy),
                  epochs=settings.epochs, shuffle=False,  # the pipelines shuffle
                  verbose=(1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose,  # bars: terminal
                  callbacks=train_callbacks(config, settings, output, validation, steps_per_epoch)
                  + list(extra_callbacks))
    except callbacks.Diverged as error:
        kept = "keeps the best earlier epoch" if (output / run_folder.MODEL).exists() else "was not written"
        raise callbacks.Diverged(f"{output}: {error}; {run_folder.MODEL} {kept}") from None
    if not (output / run_folder.MODEL).exists():
        raise ValueError(f"{output / run_folder.MODEL}: training saved no checkpoint (no epoch finished with a "
                         "finite validation accuracy)")


def finish(output, source, settings):
    """Test figures of the best checkpoint -> the printed table, TensorBoard; SavedModel export; then
    metrics.json, written last: it marks the run complete."""
    model = keras.saving.load_model(output / run_folder.MODEL)
    run_folder.check_finite_weights(model, output / run_folder.MODEL)
    figures = report.test_report(model, source, settings.batch_size, headline=settings.test_labels)
    figures["best_epoch_val_segment_accuracy"] = best_so_far(output / run_folder.HISTORY)
    print(report.format_table(figures))
    callbacks.write_scalars(output / "logs", {
        f"test/{labels}/{head}{'_b2ilc' if name == 'b2ilc' else ''}": value
        for labels, heads in figures["test"].items() for head, raw_b2ilc in heads.items()
        for name, value in raw_b2ilc.items()})
    partial = output / f"{run_folder.EXPORT}.partial"  # renamed when whole, as the files are
    shutil.rmtree(partial, ignore_errors=True)
    export.export_saved_model(model, partial)
    shutil.rmtree(output / run_folder.EXPORT, ignore_errors=True)
    partial.rename(output / run_folder.EXPORT)
    files.write_json(output / run_folder.METRICS, figures)
    return figures


def load_run(run_dir):
    """``(config, settings)`` of a run folder's ``run.json``."""
    run = json.loads((pathlib.Path(run_dir) / "run.json").read_text())
    settings = {k: (pathlib.Path(v) if k in ("data_dir", "manual_dir", "cache_dir", "output") and v else v)
                for k, v in run["settings"].items()}
    return EDRNetConfig.from_dict(run["config"]), TrainSettings(**settings)
