"""The distribution guard of prediction: are the inputs the kind of features the model was trained on?

EDRNet holds its training split's per-channel means and variances (the ``audio_normalization`` and
``visual_normalization`` layers) and the share of its values below 0 (``EDRNet.input_negative_share``).
``check`` compares the same statistics of the inputs (``data.statistics.stream_statistics``: audio
channels over segments, visual channels over segments and the 7x7 positions) with them in three figures
per modality:

* ``mean_abs_z``: the mean over channels of |m_c - mu_c| / sigma_c, the mean |z| of the inputs' channel
  means. For videos of the training distribution the mean over videos of z_c^2 is the between-video part
  of the channel's variance, at most 1: flagged above ``MEAN_ABS_Z_LIMIT`` = 1.
* ``rms_ratio``: the geometric mean over channels of rms_c / rms_train_c (root mean square about 0,
  rms^2 = m^2 + s^2, each channel's ratio clipped to [1e-3, 1e3]). Its square averages 1 over videos of the
  training distribution; maps scaled x0.1 give 0.1. Flagged outside [1/``RMS_RATIO_LIMIT``, ``RMS_RATIO_LIMIT``].
* ``negative_share``: the share of input values below 0, flagged when it exceeds the training split's by
  more than ``NEGATIVE_MARGIN``: the AVE release's audio is post-ReLU (none negative), a linear VGGish
  embedding about half negative.

The limits come from the synthetic measurements in docs/serving.md ("Input check"). Channels whose training
spread is below 1e-3 of the median channel's (never active in training) are left out of both ratios.
``features_record`` is what a run records of the features it was trained on (``run.json`` ``features``),
``record_differences`` what an input's extraction settings differ in from it; ``PredictionCheck`` is what
``predict`` runs, ``check`` of the test split's statistics what ``evaluate`` writes.
"""

import pathlib
import sys

import h5py
import numpy as np

from edrnet_tf.data import statistics
from edrnet_tf.training import run_folder

MODALITIES = ("audio", "visual")
MEAN_ABS_Z_LIMIT = 1.0
RMS_RATIO_LIMIT = 4.0
NEGATIVE_MARGIN = 0.10
DEAD_CHANNEL = 1e-3  # a channel whose training spread is below this share of the median channel's is left out
RECORD_KEYS = ("vggish_embedding", "frame_rule", "frames_per_segment")
# The AVE release: VGGish embeddings after fc2's ReLU (the 2018 vggish_slim), AVE's frame picks, 16 frames a second.
AVE_RELEASE = {"vggish_embedding": "relu", "frame_rule": "ave", "frames_per_segment": 16}
SYNTHETIC = {"vggish_embedding": "synthetic", "frame_rule": "synthetic", "frames_per_segment": None}


def model_reference(model):
    """``{modality: (mean [C], variance [C], negative share or None)}`` of the training statistics ``model``
    holds; a modality it does not normalise, or whose statistics were never set (Keras' initial 0 and 1), is
    absent."""
    shares = getattr(model, "input_negative_share", None) or {}
    found = {}
    for name, layer in getattr(model, "normalizations", {}).items():
        mean, variance = (np.asarray(w, np.float64).reshape(-1) for w in layer.get_weights()[:2])
        if not (np.all(mean == 0) and np.all(variance == 1)):
            found[name] = (mean, variance, shares.get(name))
    return found


def modality_figures(reference, mean, variance, negative_share):
    """The figures of one modality (module docstring) and the ``warnings`` they raise, as a JSON dict
    (``{"checked": False, ...}`` when no channel varied in training)."""
    mu, var, training_share = reference
    mean, variance = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
    spread = np.sqrt(np.maximum(var, 0.0))
    live = spread > DEAD_CHANNEL * np.median(spread)
    if not live.any():
        return {"checked": False, "reason": "no channel varied in training"}
    z = np.abs(mean[live] - mu[live]) / spread[live]
    ratio = np.sqrt(mean[live] ** 2 + np.maximum(variance[live], 0.0)) / np.sqrt(mu[live] ** 2 + var[live])
    figures = {"mean_abs_z": float(np.mean(z)), "rms_ratio": float(np.exp(np.mean(np.log(np.clip(ratio, 1e-3, 1e3))))),
               "negative_share": float(negative_share),
               "training_negative_share": None if training_share is None else float(training_share)}
    found = []
    if figures["mean_abs_z"] > MEAN_ABS_Z_LIMIT:
        found.append(f"mean |z| of the channel means {figures['mean_abs_z']:.2f} (limit {MEAN_ABS_Z_LIMIT:g})")
    if not 1 / RMS_RATIO_LIMIT <= figures["rms_ratio"] <= RMS_RATIO_LIMIT:
        found.append(f"rms ratio {figures['rms_ratio']:.3g} to training (limit x{RMS_RATIO_LIMIT:g} either way)")
    if training_share is not None and figures["negative_share"] > training_share + NEGATIVE_MARGIN:
        found.append(f"{figures['negative_share']:.1%} of values negative (training {training_share:.1%})")
    return {"checked": True, **figures, "warnings": found}


def check(reference, input_statistics):
    """``{"audio": ..., "visual": ...}``: each modality's ``modality_figures`` against ``reference``
    (``model_reference``) for the inputs' ``data.statistics.InputStatistics``, or ``{"checked": False,
    "reason": ...}`` where the model holds no training statistics for it."""
    result = {}
    for name in MODALITIES:
        if name not in reference:
            result[name] = {"checked": False, "reason": "the model holds no training statistics for it"}
            continue
        result[name] = modality_figures(
            reference[name], getattr(input_statistics, f"{name}_mean"), getattr(input_statistics, f"{name}_variance"),
            getattr(input_statistics, f"{name}_negative_share"))
    return result


def check_arrays(reference, audio, visual):
    """``check`` of features in memory: ``audio`` [M, T, 128], ``visual`` [M, T, 7, 7, 512] (all M videos
    together)."""
    return check(reference, statistics.stream_statistics([{"audio": audio, "visual": visual}]))


def flagged(result):
    """``{modality: [warning, ...]}`` of the modalities a ``check`` result finds off the training distribution."""
    return {name: result[name]["warnings"] for name in MODALITIES if result.get(name, {}).get("warnings")}


def _describe(found):
    return "; ".join(f"{name} features: {', '.join(warnings)}" for name, warnings in found.items())


HINT = "(not extracted as the training features? docs/serving.md#input-check)"


def warning_line(result, what="the inputs"):
    """One line naming each modality off the training distribution in a ``check`` result and its figures, or
    None."""
    found = flagged(result)
    return f"WARNING: input check: {what} are off the training distribution: {_describe(found)} {HINT}" if found \
        else None


def summary_line(results, labels):
    """One line for per-video ``check`` results: in how many videos each modality is off the training
    distribution, and the figures of the first such video (``labels[i]`` names video i); None when none is."""
    off = [i for i, result in enumerate(results) if flagged(result)]
    if not off:
        return None
    counts = {name: sum(name in flagged(result) for result in results) for name in MODALITIES}
    where = ", ".join(f"{name} in {count} of {len(results)} videos" for name, count in counts.items() if count)
    return (f"WARNING: input check: features off the training distribution: {where}; first, {labels[off[0]]}: "
            f"{_describe(flagged(results[off[0]]))} {HINT}")


def features_record(source):
    """What a run's data says of how its features were made (``run.json`` ``features``): ``SYNTHETIC`` for
    the generator; for AVE the attributes ``edrnet_tf.extract`` writes on ``audio_feature.h5`` in the release
    folder, else the release's own (``AVE_RELEASE``)."""
    if source.synthetic:
        return dict(SYNTHETIC)
    found = dict(AVE_RELEASE)
    path = None if source.manual_dir is None else pathlib.Path(source.manual_dir) / "audio_feature.h5"
    if path is not None and path.is_file():
        with h5py.File(path, "r") as handle:
            found.update(attrs_record(handle.attrs))
    return found


def attrs_record(attrs):
    """The extraction attributes (``RECORD_KEYS``) of an ``.h5`` file's ``attrs``, as JSON values."""
    plain = lambda v: v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v  # noqa: E731
    return {key: plain(attrs[key]) for key in RECORD_KEYS if key in attrs}


def trained_record(model_arg):
    """The ``run.json`` ``features`` of a run folder ``--model`` (None for a ``.keras`` file, a run recorded
    before it or a run.json that cannot be read)."""
    try:
        run = run_folder.read_run(model_arg) if pathlib.Path(model_arg).is_dir() else None
    except ValueError:
        return None
    return (run or {}).get("features")


def record_differences(trained, given):
    """``{key: {"trained": ..., "given": ...}}`` for each ``RECORD_KEYS`` entry both records know and that
    differs."""
    return {key: {"trained": trained[key], "given": given[key]} for key in RECORD_KEYS
            if trained.get(key) is not None and given.get(key) is not None and trained[key] != given[key]}


def record_line(differences, what):
    """One line naming how ``what`` (files, the ``--video`` flags) was extracted otherwise than the model's
    training features, or None."""
    if not differences:
        return None
    return (f"WARNING: input check: {what} made with "
            + ", ".join(f"{key}={d['given']!r}" for key, d in differences.items())
            + ", the model was trained on " + ", ".join(f"{key}={d['trained']!r}" for key, d in differences.items())
            + " (run.json features)")


class PredictionCheck:
    """The input check of one ``predict`` command: the extraction record against the run's (one line at once,
    through ``warn``), each video's ``check`` (``video``: the JSON ``input_check`` of its line) and, at
    ``finish``, one line summing up the videos off the training distribution.

    Args:
        model: the loaded EDRNet.
        model_arg: ``--model`` (a run folder's ``run.json`` says what features it was trained on).
        given: the extraction record of the inputs (``attrs_record`` of the files, or the ``--video`` flags).
        what: how the line names the inputs (``"--audio/--visual files"``, ``"--video"``).
        warn: prints one line (standard error by default).
    """

    def __init__(self, model, model_arg, given, what, warn=None):
        self.reference = model_reference(model)
        trained = trained_record(model_arg)
        differences = record_differences(trained or {}, given)
        self.features = {"trained": trained, "given": given, "differences": differences}
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self.results, self.labels = [], []
        if differences:
            self.warn(record_line(differences, what))

    def video(self, audio, visual, label):
        """The ``input_check`` of one video's ``audio`` [T, 128] and ``visual`` [T, 7, 7, 512]; ``label``
        names it in the summary line."""
        result = check_arrays(self.reference, audio[None], visual[None])
        self.results.append(result)
        self.labels.append(label)
        return {**result, "features": self.features}

    def finish(self):
        line = summary_line(self.results, self.labels)
        if line:
            self.warn(line)
