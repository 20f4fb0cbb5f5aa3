"""``python -m edrnet_tf.evaluate --model RUN_DIR``: recompute a run's test figures from its saved model.

Reads ``RUN_DIR/model.keras`` and, for the data, ``RUN_DIR/run.json`` (any data flag given here wins);
prints the table of ``metrics.json`` (gated/audio/visual heads, with and without B2ILC, original and
corrected labels, majority-class baseline) and writes the figures to ``--output`` if given.

A ``run.json`` that is not what ``edrnet_tf.train`` writes exits with one line (status 1), and so does a
model whose number of classes is not the data's 29 (status 2), before any data is read.
"""

import dataclasses
import json
import pathlib

from edrnet_tf import ave
from edrnet_tf.training import flags, run_folder, runner
from edrnet_tf.evaluation import report
from edrnet_tf.cli import OneLineParser, run_main

PROG = "python -m edrnet_tf.evaluate"
DATA_FLAGS = ("dataset", "data_dir", "manual_dir", "cache_dir", "synthetic_videos", "synthetic_seed",
              "test_labels", "batch_size")


def build_parser():
    parser = OneLineParser(prog=PROG, description="Recompute the test figures of a trained EDRNet run.")
    parser.add_argument("--model", type=pathlib.Path, required=True,
                        help="A run folder of edrnet_tf.train (model.keras + run.json), or a .keras file "
                             "(then the data flags say where the test split is; default: the synthetic demo).")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="Write the figures as JSON here.")
    flags.add_data_flags(parser)
    parser.set_defaults(**{name: None for name in DATA_FLAGS})
    return parser


def settings_for(parser, args):
    """The run's ``TrainSettings`` with the data flags given here applied."""
    run_dir = args.model if args.model.is_dir() else args.model.parent
    model_path = args.model / "model.keras" if args.model.is_dir() else args.model
    if not model_path.exists():
        flags.fail(parser, "--model", str(args.model), "a run folder holding model.keras, or a .keras file")
    if (run_dir / "run.json").exists():
        settings = load_run_settings(run_dir)
    else:
        settings = runner.TrainSettings(cache_dir=flags.default_cache_dir())
    given = {name: getattr(args, name) for name in DATA_FLAGS if getattr(args, name) is not None}
    if given.get("dataset") == "ave" and "data_dir" not in given and settings.dataset != "ave":
        given["data_dir"] = flags.default_tfds_dir()
    defaults = runner.DEMO_DEFAULTS[given.get("dataset", settings.dataset)]
    if given.get("dataset", settings.dataset) == "synthetic" and settings.synthetic_videos is None:
        given.setdefault("synthetic_videos", defaults["synthetic_videos"])
    return model_path, dataclasses.replace(settings, **given)


def load_run_settings(run_dir):
    """The ``TrainSettings`` of ``run_dir/run.json``; a file that is not the JSON ``edrnet_tf.train`` writes
    (not JSON, no ``config``/``settings`` object, an unknown or bad setting) raises one line naming it."""
    path = run_dir / "run.json"
    expected = f"--model={str(run_dir)!r} is invalid: expected {path.name} as edrnet_tf.train writes it"
    try:
        run = json.loads(path.read_text())
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{expected} (JSON), found {type(error).__name__}: {error}") from None
    missing = [key for key in ("config", "settings") if not isinstance(run, dict)
               or not isinstance(run.get(key), dict)]
    if missing:
        raise ValueError(f"{expected} (a JSON object with the objects {', '.join(map(repr, missing))}), found "
                         f"{sorted(run) if isinstance(run, dict) else type(run).__name__}")
    try:
        return runner.load_run(run_dir)[1]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{expected}, found {' '.join(str(error).split())}") from None


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    model_path, settings = settings_for(parser, args)
    model = run_folder.load_trained_model(model_path)
    if model.config.num_classes != ave.NUM_CLASSES:
        flags.fail(parser, "--model", str(model_path), f"a model of the {ave.NUM_CLASSES} AVE classes (28 events + "
                   f"background) that tfds_ave holds, found num_classes={model.config.num_classes}")
    source = settings.data_source()
    print(f"Evaluating {model_path} on the test split of {source.description}", flush=True)
    figures = report.test_report(model, source, settings.batch_size, headline=settings.test_labels)
    print(report.format_table(figures))
    if args.output is not None:
        args.output.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    run_main(PROG, main)
