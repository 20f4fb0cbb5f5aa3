"""``python -m edrnet_tf.experiments table3|table4``: the paper's ablation tables over seeds (``evaluation.experiments``).

Before the first run, ``--output`` is checked: a folder (or a new path) where ``<table>.json``, ``<table>.md``
and ``baselines.json`` are absent or earlier outputs of this command (``files.check_output``); it never
replaces a file it did not write.
"""

import datetime
import pathlib
import sys

from edrnet_tf import cli, files
from edrnet_tf.data import sources
from edrnet_tf.evaluation import baselines
from edrnet_tf.evaluation.experiments import FORBIDDEN, RUN, TABLES, write_results

PROG = "python -m edrnet_tf.experiments"


def build_parser():
    parser = cli.OneLineParser(
        prog=PROG, allow_abbrev=False,
        description="Train and tabulate the EDRNet paper's ablations: table3 (components, SEL and WSEL) or table4 "
                    "(modal branches, SEL). Every other flag is a python -m edrnet_tf.train flag (dataset, model, "
                    "optimisation) and applies to every run; see its --help.")
    parser.add_argument("table", choices=TABLES, help="Which table to train and write.")
    parser.add_argument("--seeds", type=cli.positive_int, default=1,
                        help="Seeds per run: --seed, --seed + 1, ... (mean ± std over them). Default: %(default)s.")
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help="Folder for <table>.md, <table>.json and runs/ (reused when the same runs are asked "
                             "for again). Default: runs/experiments-<date-time>.")
    return parser


def parse_args(argv=None):
    """argv -> (table, seeds, output, EDRNetConfig, TrainSettings); the training flags go through
    ``flags.parse_train_args`` so they mean what they mean for ``python -m edrnet_tf.train``."""
    from edrnet_tf.training import flags

    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    for token in rest:
        name = token.split("=", 1)[0]
        if name in FORBIDDEN[args.table]:
            parser.error(f"{name} is invalid with {args.table}: expected it to be set by the table's rows")
    config, settings = flags.parse_train_args(rest, prog=PROG)
    seeds = list(range(settings.seed, settings.seed + args.seeds))
    output = args.output or pathlib.Path("runs") / f"experiments-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    check_output_folder(parser, output, args.table)
    return args.table, seeds, output, config, settings


def check_output_folder(parser, output, table):
    """Exits with one line unless ``output`` is a new path or a folder whose table and baselines files are
    absent or this command's own (the runs under ``runs/`` are checked run by run)."""
    if output.exists() and not output.is_dir():
        parser.error(f"--output={str(output)!r} is invalid: expected a folder for the tables and runs, found a "
                     "file there")
    if not output.is_dir():
        return
    for name, kind in ((f"{table}.json", files.TABLE_JSON), (f"{table}.md", files.TABLE_MARKDOWN),
                       ("baselines.json", files.BASELINES_JSON)):
        try:
            files.check_output(output / name, "--output", kind, overwrite_flag=None)
        except ValueError as error:
            parser.error(str(error))


def main(argv=None):
    table, seeds, output, config, settings = parse_args(argv)
    log = lambda message: print(f"[{table}] {message}", file=sys.stderr, flush=True)  # noqa: E731
    result = RUN[table](config, settings, seeds, output, log=log)
    log(f"baselines of the same data ({pathlib.Path(output) / 'baselines.json'})")
    result["baselines"] = baselines.cached_baselines(sources.of_settings(settings), pathlib.Path(output) / "baselines.json",
                                                     seed=settings.seed)
    print(write_results(result, output), end="")
    return result


if __name__ == "__main__":
    cli.run_main(PROG, main)
