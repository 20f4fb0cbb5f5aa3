"""``python -m tuning.sweep --study fig7a|fig7b|fig7c|fig7d|random|hyperband|bayesian``: Keras Tuner searches
over EDRNet's k, L, d, SMB S, learning rate and lambda2.

The Fig. 7 studies are grid searches (``keras_tuner.GridSearch``) of one dimension; random, hyperband and
bayesian are Keras Tuner's ``RandomSearch``, ``Hyperband`` and ``BayesianOptimization`` over the whole space
(``tuning.studies``). Every trial trains as ``python -m edrnet_tf.train`` does (``tuning.hypermodel``) and
is chosen on the validation segment accuracy. The study folder ``OUTPUT/PROJECT`` holds Keras Tuner's
trials (rerun the same command to resume an interrupted study), ``logs/`` (TensorBoard, HPARAMS tab on the
TensorBoard backend), ``results.csv``, ``results.md`` and ``results.png``.

Distributed: set ``KERASTUNER_TUNER_ID`` (``chief`` for the oracle, a unique name per worker),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` and run the same command on the chief and on each
worker; the chief writes the results when every trial is done.
"""

import argparse
import json
import os
import pathlib
import time

import keras
import keras_tuner

from edrnet_tf import cli, files, installed
from edrnet_tf.cli import OneLineParser, run_main
from edrnet_tf.config import MODEL_DEFAULTS, EDRNetConfig, model_config
from edrnet_tf.data import sources
from edrnet_tf.training import flags
from tuning import results, studies
from tuning.hypermodel import OBJECTIVE, EDRNetHyperModel

if installed.tensorflow():  # the TensorBoard logs (TensorFlow backend); a study runs on JAX without TensorFlow
    from edrnet_tf.training import tensorboard

PROG = "python -m tuning.sweep"
OPEN_SEARCH_TRIALS = 20


def int_list(text):
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, found {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, found {text!r}")
    return values


def build_parser():
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--study", choices=studies.STUDIES, required=True,
                        help="fig7a: k in 2..5 at L = L_max(k); fig7b: L in 1..4 at k = 3, d = 768; fig7c: d in "
                             "256..1536 step 256 at k = 3, L = 4; fig7d: S in 50..400 step 50 at the default "
                             "model (all grid searches); random / hyperband / bayesian: k, L <= L_max(k), d, S in "
                             "{0, 50..400}, learning rate in [1e-5, 1e-3] and lambda2 in [0.01, 1] (log).")
    flags.add_data_flags(parser)

    space = parser.add_argument_group("search space overrides (a quick run, or a narrower search)")
    space.add_argument("--kernel-sizes", type=int_list, default=None, metavar="K,...",
                       help="k values instead of the study's (from 2,3,4,5).")
    space.add_argument("--num-layers", type=int_list, default=None, metavar="L,...",
                       help="L values instead of the study's (each k keeps those <= L_max(k)).")
    space.add_argument("--widths", type=int_list, default=None, metavar="D,...",
                       help="d values instead of the study's (e.g. --widths 32 for a tiny model).")
    space.add_argument("--smb-values", type=int_list, default=None, metavar="S,...",
                       help="SMB S values instead of the study's (0 = no fusion).")
    flags.add_smb_sequences_flag(space)
    space.add_argument("--lambda2", type=cli.finite_float, default=None,
                       help=f"Fix lambda2 (the open searches tune it). Default: {EDRNetConfig.lambda2}.")
    space.add_argument("--visual-width", type=cli.positive_int, default=None,
                       help="d_v, filters of the visual Conv2D (not tuned). Default: "
                            f"{EDRNetConfig.visual_width} ({MODEL_DEFAULTS['synthetic']['visual_width']} for synthetic).")
    space.add_argument("--dropout", type=cli.finite_float, default=EDRNetConfig.dropout,
                       help="Dropout rate (not tuned). Default: %(default)s.")

    flags.add_optimisation_flags(parser)  # each trial trains as python -m edrnet_tf.train; the open searches
    # tune --learning-rate unless it is given

    tune = parser.add_argument_group("tuner")
    tune.add_argument("--max-trials", type=cli.positive_int, default=None,
                      help=f"Trials at most (grid: default all; random/bayesian: default {OPEN_SEARCH_TRIALS}; "
                           "hyperband: ignored, --epochs and the factor 3 set its brackets).")
    tune.add_argument("--output", type=pathlib.Path, default=pathlib.Path("tuning_runs"),
                      help="Folder of the studies. Default: %(default)s.")
    tune.add_argument("--project", default=None,
                      help="Study folder name under --output. Default: <study>-<dataset>.")
    return parser


def parse_args(argv=None):
    """argv -> ``(args, space, config, settings)``; a bad value exits with one line naming its flag."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.dropout < 1.0:
        flags.fail(parser, "--dropout", args.dropout, "a rate in [0, 1)")
    if args.lambda2 is not None and args.lambda2 < 0:
        flags.fail(parser, "--lambda2", args.lambda2, "a value >= 0")
    for flag, values in (("--kernel-sizes", args.kernel_sizes), ("--num-layers", args.num_layers),
                         ("--widths", args.widths)):
        if values and min(values) < 1:
            flags.fail(parser, flag, ",".join(map(str, values)), "integers >= 1")
    settings = flags.settings_from_args(parser, args, task="sel", distribution="none")
    given = {"visual_width": args.visual_width} if args.visual_width else {}
    config = model_config(args.dataset, dropout=args.dropout, **given)
    try:
        space = studies.study_space(
            args.study, config, settings.smb_per_class, settings.learning_rate, kernel_sizes=args.kernel_sizes,
            num_layers=args.num_layers, widths=args.widths, smb_values=args.smb_values,
            fixed_learning_rate=args.learning_rate, fixed_lambda2=args.lambda2)
    except ValueError as error:
        parser.error(str(error))
    project = args.project or f"{args.study}-{args.dataset}"
    settings = settings.replace(output=args.output / project)
    return args, space, config, settings


def make_tuner(study, hypermodel, folder, max_trials, epochs, seed):
    """The Keras Tuner of ``study`` in ``folder`` (``overwrite=False``: an existing study resumes)."""
    common = dict(objective=keras_tuner.Objective(OBJECTIVE, direction="max"), seed=seed, overwrite=False,
                  directory=str(folder.parent), project_name=folder.name)
    if study in studies.GRID_STUDIES:
        return keras_tuner.GridSearch(hypermodel, max_trials=max_trials, **common)
    if study == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials or OPEN_SEARCH_TRIALS, **common)
    if study == "bayesian":
        return keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials or OPEN_SEARCH_TRIALS, **common)
    return keras_tuner.Hyperband(hypermodel, max_epochs=epochs, factor=3, **common)


def check_resume(folder, description):
    """Records the study's flags in ``study.json`` and returns whether the study resumes; a rerun with other
    flags would mix two searches in one oracle, so it raises a one-line ValueError naming what differs."""
    path = folder / "study.json"
    if path.exists():
        before = files.read_json(path, "the study's flags as python -m tuning.sweep writes them (JSON)")
        if not isinstance(before, dict):
            raise ValueError(f"{path}: expected the study's flags as python -m tuning.sweep writes them (a JSON "
                             f"object), found {type(before).__name__}")
        if before != description:
            changed = sorted(k for k in set(before) | set(description) if before.get(k) != description.get(k))
            raise ValueError(f"{path}: this study folder was started with other settings ({', '.join(changed)} "
                             "differ); rerun with the same flags to resume, or pass another --project/--output")
        return True
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(description, indent=2) + "\n")
    return False


def role():
    """``"chief"``, ``"worker"`` or ``"local"``, read as Keras Tuner reads them: distributed when
    ``KERASTUNER_ORACLE_IP`` is set, the chief when ``KERASTUNER_TUNER_ID`` holds "chief"."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def title(study, settings):
    data = ("AVE" if settings.dataset == "ave" else
            f"SYNTHETIC data ({settings.synthetic_videos} videos, seed {settings.synthetic_seed})")
    return f"{study} on {data}, {settings.epochs} epoch(s) per trial"


def main(argv=None):
    args, space, config, settings = parse_args(argv)
    folder = pathlib.Path(settings.output)
    me = role()
    description = {"study": args.study, "space": repr(space), "config": config.to_dict(),
                   "settings": settings.to_dict(), "max_trials": args.max_trials}
    # Everything is checked (flags, data, the hypermodel's settings) before study.json is written: a failed
    # start leaves no study folder that would refuse the corrected rerun as "started with other settings".
    source = sources.of_settings(settings) if me != "chief" else None
    hypermodel = EDRNetHyperModel(space, config, settings, source)
    if me != "worker":
        resumed = check_resume(folder, description)
        print(f"{PROG}: study {args.study} in {folder} ({'resuming' if resumed else 'new'}; {me})", flush=True)
    tuner = make_tuner(args.study, hypermodel, folder, args.max_trials, settings.epochs, args.seed)
    search_callbacks = []
    if keras.backend.backend() == "tensorflow":
        search_callbacks.append(tensorboard.TensorBoard(str(folder / "logs")))
    else:
        print(f"{PROG}: TensorBoard hparams are logged on the tensorflow backend only (Keras Tuner); "
              f"found {keras.backend.backend()!r}", flush=True)
    start = time.perf_counter()
    tuner.search(callbacks=search_callbacks, verbose=2)  # trial summaries, one line per epoch
    if me == "worker":
        print(f"{PROG}: worker {os.environ['KERASTUNER_TUNER_ID']} finished", flush=True)
        return None
    found = results.rows(tuner.oracle)
    table = results.write_all(found, space.swept(), folder, title(args.study, settings))
    print(table)
    board = f"; TensorBoard: tensorboard --logdir {folder / 'logs'}" if search_callbacks else ""
    print(f"{PROG}: {len(found)} trials, search {time.perf_counter() - start:.0f} s this run; results in "
          f"{folder / 'results.csv'}, {folder / 'results.md'}, {folder / 'results.png'}{board}", flush=True)
    return found


if __name__ == "__main__":
    run_main(PROG, main)
