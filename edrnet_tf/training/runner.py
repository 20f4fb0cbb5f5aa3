"""One training run: data -> EDRNet built under the distribution's scope -> ``model.fit`` -> test figures
-> export. ``python -m edrnet_tf.train`` is a thin CLI over ``train(config, settings)``.

A run folder holds ``run.json`` (config, settings, data and ``features``: how they were made,
``input_check.features_record``), ``model.keras`` (the best epoch on the validation segment accuracy, never on
test), ``history.csv``, ``logs/`` (TensorBoard), ``saved_model/`` (``export.export_saved_model``) and, last,
``metrics.json`` (test figures, ``report.test_report``);
``run_folder`` says how far a run got, so a ``--backup`` rerun resumes it or finds it complete.

Before the first epoch a run checks everything it will need (data configs, model/data match, the folder's
earlier run) and takes the folder's lock; a NaN or inf loss or prediction stops it with an error and
leaves the best earlier checkpoint as it was.

When several processes train one model (``--distribution data_parallel`` across hosts, docs/scaling.md), process
0 does all of the above and alone writes the run folder; the others read the data, train beside it (feeding
their share of every batch, validating alike) and wait for it to finish, writing nothing.
"""

import contextlib
import json
import os
import pathlib

import keras

from edrnet_tf import files, installed
from edrnet_tf.data import sources
from edrnet_tf.evaluation import report
from edrnet_tf.serving import input_check
from edrnet_tf.training import callbacks, distribution, run_folder, task
from edrnet_tf.training.run_folder import best_so_far

if installed.tensorflow():  # TensorBoard logs and the SavedModel; a run without TensorFlow has neither
    from edrnet_tf.serving import export
    from edrnet_tf.training import tensorboard


def train_callbacks(training, output, extra_callbacks=()):
    """The callbacks of a run: the task's validation and divergence guard, then the run folder's (the
    best-epoch checkpoint, ``history.csv``, TensorBoard, hparams and, with ``backup``, Keras' backup) and
    ``extra_callbacks``, then the task's early stopping and plateau schedule."""
    config, settings = training.config, training.settings
    resuming = settings.backup and (output / "backup").exists()
    own = [
        keras.callbacks.ModelCheckpoint(output / run_folder.MODEL, save_best_only=True, verbose=1,
                                        initial_value_threshold=best_so_far(output / run_folder.HISTORY)
                                        if resuming else None, monitor=task.MONITOR, mode="max"),
        callbacks.HistoryCSV(output / run_folder.HISTORY, append=resuming),
    ]
    views = None
    if installed.tensorflow():
        own += [tensorboard.TensorBoard(output / "logs"),
                tensorboard.HParams(output / "logs", config, settings, trial_id=output.name,
                                    test_labels=("original", "corrected") if training.source.has_corrected()
                                    else ("original",),
                                    best=best_so_far(output / run_folder.HISTORY) if resuming else None)]
        views = tensorboard.ValidationViews(output / "logs" / "validation")
    if settings.backup:
        own.append(keras.callbacks.BackupAndRestore(output / "backup"))
    return training.callbacks(own + list(extra_callbacks), views=views)


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
    if os.environ.get(distribution.MULTI_HOST_ENV) and settings.data_placement == "device":
        # measured: not the weights of one process (docs/scaling.md)
        raise ValueError(f"--data-placement='device' is invalid: expected 'host' where {distribution.MULTI_HOST_ENV} "
                         "is set (device placement across processes does not give the weights of one process: "
                         "docs/scaling.md)")
    strategy = distribution.resolve(settings.distribution)
    if strategy.processes > 1:
        distribution.check_batch_size(settings.batch_size, strategy.devices)
    if not strategy.writes:
        with distribution.peer_failure(strategy):
            return train_beside(config, settings, strategy, verbose)
    with distribution.peer_failure(strategy):
        figures = train_here(config, settings, strategy, extra_callbacks, verbose)
        distribution.wait_for_all(END)  # the other processes wait for the run folder
    return figures


def train_here(config, settings, strategy, extra_callbacks=(), verbose="auto"):
    """``train`` in the process that writes the run folder (the only one, or process 0 of several, which tells
    the others whether to train: ``distribution.process_zero_decides``)."""
    output = pathlib.Path(settings.output)
    with contextlib.ExitStack() as held:
        try:
            if run_folder.state(output, config, settings) == run_folder.COMPLETE:
                distribution.process_zero_decides(DONE)
                return already_complete(output)
            if output.is_dir() and installed.tensorflow():  # the export at the end replaces only an earlier one
                files.check_output(output / run_folder.EXPORT, "--output", files.SAVED_MODEL, overwrite_flag=None)
            source = sources.of_settings(settings)
            source.prepare(config, settings.task, settings.test_labels)
            output.mkdir(parents=True, exist_ok=True)
            held.enter_context(files.lock_folder(output))
            found = run_folder.state(output, config, settings)  # again, under the lock: a run may have ended
        except ValueError as error:
            distribution.process_zero_decides(f"{STOPPED}{error}")
            distribution.wait_for_all(STOPPED_BARRIER)  # the others have read it
            raise
        resumes = settings.backup and (output / "backup").exists()
        distribution.process_zero_decides(DONE if found in (run_folder.TRAINED, run_folder.COMPLETE) else
                                          RESUME if resumes else FIT)
        if found == run_folder.COMPLETE:
            return already_complete(output)
        if found != run_folder.TRAINED:
            run = {"config": config.to_dict(), "settings": settings.to_dict(),
                   "data": {"description": source.description,
                            "data_dir": source.data_dir and str(source.data_dir),
                            "manual_dir": source.manual_dir and str(source.manual_dir), "synthetic": source.synthetic},
                   "features": input_check.features_record(source),
                   "backend": keras.backend.backend(), "distribution": strategy.name,
                   "processes": strategy.processes}
            run_folder.write_run(output, run, trained=False)
            fit(config, settings, source, strategy, extra_callbacks, verbose)
            run_folder.write_run(output, run, trained=True)
        with distribution.unset():  # process 0 alone: the test report and export on its own device
            return finish(output, source, settings)


# What process 0 tells the others before training (distribution.process_zero_decides), and their last barrier.
FIT, RESUME, DONE, STOPPED = "fit", "resume", "done", "stopped: "
END, STOPPED_BARRIER = "edrnet_tf/train/end", "edrnet_tf/train/stopped"


def train_beside(config, settings, strategy, verbose="auto"):
    """A process other than 0: reads the data, trains beside process 0 when it trains (its share of every
    batch; the same validation, early stopping and schedule), waits for process 0 to finish the run folder;
    writes nothing. Returns None."""
    source = sources.of_settings(settings)
    source.prepare(config, settings.task, settings.test_labels)
    decided = distribution.process_zero_decides(timeout=distribution.END_TIMEOUT)
    if decided.startswith(STOPPED):
        distribution.wait_for_all(STOPPED_BARRIER)
        raise ValueError(f"process 0 stopped: {decided[len(STOPPED):]}")
    backup = pathlib.Path(settings.output) / "backup"
    if decided == RESUME and not backup.is_dir():
        raise ValueError(f"--output='{settings.output}' is invalid: expected process 0's backup/ to resume from "
                         f"(--backup restores every process from it: give all processes one shared --output), "
                         f"found no {backup}")
    if decided in (FIT, RESUME):
        training = task.TrainingTask(config, settings, source)
        model = training.build(strategy)
        own = [distribution.RestoreOnly(backup)] if settings.backup else []
        training.fit(model, training.callbacks(own), verbose=verbose)
    distribution.wait_for_all(END)
    print(f"process {strategy.process} of {strategy.processes}: done; process 0 wrote the run folder "
          f"{settings.output}", flush=True)
    return None


def already_complete(output):
    """The ``metrics.json`` dict of the complete run in ``output``, after saying so; writes nothing."""
    print(f"{output}: already complete ({run_folder.METRICS} is there); nothing to do", flush=True)
    return json.loads((output / run_folder.METRICS).read_text())


def fit(config, settings, source, strategy, extra_callbacks, verbose):
    """Trains the run's ``TrainingTask``; its checkpoint ``model.keras`` holds the best epoch."""
    output = pathlib.Path(settings.output)
    training = task.TrainingTask(config, settings, source)
    model = training.build(strategy)
    try:
        training.fit(model, train_callbacks(training, output, extra_callbacks), verbose=verbose)
    except BaseException as error:
        if installed.tensorflow():
            tensorboard.end_failed_session(output / "logs")
        if not isinstance(error, callbacks.Diverged):
            raise
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
    curve = run_folder.validation_curve(output / run_folder.HISTORY)
    figures["best_epoch_val_segment_accuracy"] = max(curve, default=None)
    figures["health"] += report.convergence_warnings(curve)
    print(report.format_table(figures))
    if installed.tensorflow():
        tensorboard.write_test_figures(output / "logs", figures,
                                       step=run_folder.last_epoch(output / run_folder.HISTORY))
        export.write_saved_model(model, output / run_folder.EXPORT)
    else:
        print(f"{installed.NO_TENSORFLOW}: no TensorBoard logs and no {run_folder.EXPORT}/ in {output} "
              f"({run_folder.HISTORY} and {run_folder.METRICS} hold every figure; to serve {run_folder.MODEL}, "
              f"run python -m edrnet_tf.export --model {output} where TensorFlow is installed)", flush=True)
    files.write_json(output / run_folder.METRICS, figures)
    return figures
