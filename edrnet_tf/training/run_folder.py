"""A training run's folder (``--output``): what a run has finished, whether a rerun is the same run, the
trained model in it.

``run.json`` is written first (``trained: false``) and rewritten with ``trained: true`` when ``fit`` has
finished; ``metrics.json`` is written last, after the SavedModel export, so it marks a complete run. Every
file is written whole (``edrnet_tf.files``), and a run holds the folder's lock (``files.lock_folder``)
while it writes there.
"""

import csv
import json
import pathlib

import keras

from edrnet_tf import files
from edrnet_tf.config import EDRNetConfig, TrainSettings
from edrnet_tf.training import callbacks

RUN = "run.json"
MODEL = "model.keras"
HISTORY = "history.csv"
METRICS = "metrics.json"
EXPORT = "saved_model"
SAME_RUN_EXEMPT = ("backup", "output")  # a rerun may add --backup, and may spell the folder differently

STARTED, TRAINED, COMPLETE = "started", "trained", "complete"


def read_run(output, what=None):
    """The ``run.json`` dict of ``output`` (None when there is none); raises one line, starting with ``what``
    (default: the file's path), when it is not what ``edrnet_tf.train`` writes."""
    path = pathlib.Path(output) / RUN
    if not path.is_file():
        return None
    expected = f"{what or path}: expected {RUN} as edrnet_tf.train writes it"
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{expected} (JSON), found {type(error).__name__}: {error}") from None
    missing = [key for key in ("config", "settings") if not isinstance(run, dict) or not isinstance(run.get(key), dict)]
    if missing:
        raise ValueError(f"{expected} (a JSON object with the objects {', '.join(map(repr, missing))}), found "
                         f"{sorted(run) if isinstance(run, dict) else type(run).__name__}")
    return run


def differences(run, config, settings):
    """``["width: 32 there, 48 now", ...]``: the config and settings fields in which ``run`` (a ``run.json``
    dict) differs from ``config`` and ``settings``."""
    wanted = {"config": config.to_dict(), "settings": settings.to_dict()}
    return [f"{key}: {run[part].get(key)!r} there, {value!r} now" for part, values in wanted.items()
            for key, value in values.items() if key not in SAME_RUN_EXEMPT and run[part].get(key) != value]


def state(output, config, settings):
    """How far the run of ``config`` and ``settings`` in ``output`` got: None (no run there yet), ``STARTED``,
    ``TRAINED`` (``fit`` finished; test report or export not) or ``COMPLETE``. Raises one line naming the
    differences when the folder holds a run of other settings."""
    output = pathlib.Path(output)
    run = read_run(output)
    if run is None:
        return None
    found = differences(run, config, settings)
    if found:
        raise ValueError(f"--output='{output}' is invalid: expected the flags of the run it holds (--backup resumes "
                         f"the same run only), found other settings: {'; '.join(found)}; use a new --output")
    if (output / METRICS).is_file():
        return COMPLETE
    return TRAINED if run.get("trained") else STARTED


def write_run(output, run, trained):
    """Writes ``run.json`` (the ``run`` dict with ``trained``) whole."""
    files.write_json(pathlib.Path(output) / RUN, {**run, "trained": trained})


def validation_curve(history_csv):
    """The ``val_segment_accuracy`` of every epoch ``history.csv`` holds, in order ([] without one)."""
    if not history_csv.exists():
        return []
    with history_csv.open() as f:
        return [float(row[callbacks.MONITOR]) for row in csv.DictReader(f) if row.get(callbacks.MONITOR)]


def best_so_far(history_csv):
    """The best ``val_segment_accuracy`` of a resumed run's earlier epochs (None for a fresh run)."""
    return max(validation_curve(history_csv), default=None)


def last_epoch(history_csv):
    """The last epoch index (0-based, the TensorBoard step) a ``history.csv`` holds; None without one."""
    path = pathlib.Path(history_csv)
    if not path.exists():
        return None
    with path.open(newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    return max(epochs) if epochs else None


def load_trained_model(path):
    """A trained EDRNet from a ``.keras`` file or a run folder holding ``model.keras``; every tool that reads a
    trained model loads it here, so a file that is not an EDRNet or holds a NaN or inf weight is refused in
    one line naming it (and the first bad weight) before any work."""
    path = pathlib.Path(path)
    file = path / MODEL if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"--model={str(path)!r} is invalid: expected a .keras file or a run folder "
                                f"holding model.keras, found {'a folder without it' if path.is_dir() else 'nothing'}")
    try:
        model = keras.saving.load_model(file)
    except Exception as error:  # a corrupt or foreign file: one line naming it
        raise ValueError(f"--model={str(file)!r} is invalid: expected a saved EDRNet .keras file, could not load "
                         f"it ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
    if not hasattr(model, "config"):
        raise ValueError(f"--model={str(file)!r} is invalid: expected a saved EDRNet, found {type(model).__name__}")
    check_finite_weights(model, file)
    return model


def check_finite_weights(model, path):
    """Raises ``callbacks.Diverged`` when a weight of ``model`` (loaded from ``path``) is NaN or inf."""
    for weight in model.weights:
        if not keras.ops.all(keras.ops.isfinite(weight)):
            raise callbacks.Diverged(f"{path}: expected finite weights, found NaN or inf in {weight.path} "
                                     f"{callbacks.DIVERGED_HINT}")


def load_run(run_dir, what=None):
    """``(EDRNetConfig, TrainSettings)`` of a run folder's ``run.json``; one line starting with ``what`` (default:
    the file's path) when there is none or it is not what ``edrnet_tf.train`` writes."""
    path = pathlib.Path(run_dir) / RUN
    run = read_run(run_dir, what)
    if run is None:
        raise FileNotFoundError(f"{what or path}: expected the {RUN} of a python -m edrnet_tf.train run folder, "
                                "found none")
    try:
        return EDRNetConfig.from_dict(run["config"]), TrainSettings.from_dict(run["settings"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what or path}: expected {RUN} as edrnet_tf.train writes it, found "
                         f"{' '.join(str(error).split())}") from None
