"""``python -m edrnet_tf.evaluate --model RUN_DIR``: recompute a run's test figures from its saved model.

Reads ``RUN_DIR/model.keras`` and, for the data, ``RUN_DIR/run.json`` (any data flag given here wins);
prints the table of ``metrics.json`` (gated/audio/visual heads, with and without B2ILC, original and
corrected labels, majority-class baseline) and writes the figures to ``--output`` if given, with the
``input_check`` of the test features against the model's training statistics (``serving.input_check``; one
WARNING line on standard error when they are off).

A ``run.json`` that is not what ``edrnet_tf.train`` writes exits with one line (status 1), and so does a
model whose number of classes is not the data's 29 (status 2), before any data is read. ``--output`` is
checked first (``files.check_output``: it replaces only an earlier figures JSON unless ``--overwrite``) and
written whole.
"""

import pathlib
import sys

from edrnet_tf import ave, files
from edrnet_tf.cli import OneLineParser, add_overwrite_flag, check_output, run_main
from edrnet_tf.data import sources
from edrnet_tf.evaluation import report
from edrnet_tf.serving import event_report, input_check
from edrnet_tf.training import flags, run_folder

PROG = "python -m edrnet_tf.evaluate"


def build_parser():
    parser = OneLineParser(prog=PROG, description="Recompute the test figures of a trained EDRNet run.")
    parser.add_argument("--model", type=pathlib.Path, required=True,
                        help="A run folder of edrnet_tf.train (model.keras + run.json), or a .keras file "
                             "(then the data flags say where the test split is; default: the synthetic demo).")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="Write the figures as JSON here.")
    add_overwrite_flag(parser)
    flags.add_data_flags(parser, of_model=True)
    event_report.add_flags(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_output(parser, args.report, "--report", files.EVENT_REPORT, args.overwrite)
    model_path, settings = flags.model_run_settings(parser, args)
    check_output(parser, args.output, "--output", files.FIGURES_JSON, args.overwrite)
    model = run_folder.load_trained_model(model_path)
    if model.config.num_classes != ave.NUM_CLASSES:
        flags.fail(parser, "--model", str(model_path), f"a model of the {ave.NUM_CLASSES} AVE classes (28 events + "
                   f"background) that tfds_ave holds, found num_classes={model.config.num_classes}")
    source = sources.of_settings(settings)
    print(f"Evaluating {model_path} on the test split of {source.description}", flush=True)
    label_sets, outputs = report.test_predictions(model, source, settings.batch_size, settings.test_labels)
    figures = report.report_of_predictions(model, source, label_sets, outputs, settings.test_labels)
    print(report.format_table(figures))
    figures["input_check"] = input_check.check(input_check.model_reference(model), source.statistics("test"))
    if line := input_check.warning_line(figures["input_check"], "the test features"):
        print(line, file=sys.stderr, flush=True)
    if args.output is not None:
        files.write_json(args.output, figures)
    if args.report is not None:
        write_report(args, model, settings, figures, label_sets, outputs["probs"])
    return figures


def write_report(args, model, settings, figures, label_sets, probs):
    """``--report``: the event report page of the test split's ``probs`` (the headline labels as the truth)."""
    note = figures["dataset"] + (" (SYNTHETIC data: these are not AVE figures)" if figures["synthetic"] else "")
    page = event_report.build_page(list(probs), [f"test video {i}" for i in range(len(probs))],
                                   f"EDRNet test report ({settings.test_labels} labels)",
                                   truth=list(label_sets[settings.test_labels]), limit=args.report_videos,
                                   background=model.config.background, witness_rate=model.config.witness_rate,
                                   note=note)
    event_report.write_page(args.report, page)


if __name__ == "__main__":
    run_main(PROG, main)
