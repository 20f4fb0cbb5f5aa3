"""``python -m edrnet_tf.compare RUN_A RUN_B``: per-class accuracy deltas between two runs (``evaluation.compare``).

``--json`` and ``--markdown`` are checked before the runs are read (``files.check_output``: an earlier
comparison is replaced, anything else only with ``--overwrite``) and written whole."""

import json
import pathlib

from edrnet_tf import cli, files
from edrnet_tf.evaluation.compare import SORTS, compare, markdown
from edrnet_tf.files import write_text

PROG = "python -m edrnet_tf.compare"


def build_parser():
    parser = cli.OneLineParser(prog=PROG, description="Per-class test accuracy deltas (B - A) between two runs of "
                                                      "python -m edrnet_tf.train, as Markdown (stdout) and JSON.")
    parser.add_argument("run_a", metavar="RUN_A", type=pathlib.Path, help="Run folder (or metrics.json) A.")
    parser.add_argument("run_b", metavar="RUN_B", type=pathlib.Path, help="Run folder (or metrics.json) B.")
    parser.add_argument("--classes", type=lambda s: [c.strip() for c in s.split(";") if c.strip()], default=None,
                        help="Only these classes, ';'-separated as named in metrics.json (AVE names hold commas), "
                             "e.g. 'Bus;Truck;Motorcycle;Female speech, woman speaking'. Default: all.")
    parser.add_argument("--sort", choices=SORTS, default="class",
                        help="Row order: class index, largest gain first, or largest change first. "
                             "Default: %(default)s.")
    parser.add_argument("--b2ilc-a", action="store_true",
                        help="Per-class accuracy of RUN_A with B2ILC applied (default: without).")
    parser.add_argument("--b2ilc-b", action="store_true",
                        help="Per-class accuracy of RUN_B with B2ILC applied; RUN_A = RUN_B with only --b2ilc-b "
                             "gives what B2ILC changes per class.")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="Also write the comparison as JSON here.")
    parser.add_argument("--markdown", type=pathlib.Path, default=None, help="Also write the Markdown here.")
    cli.add_overwrite_flag(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.check_output(parser, args.json, "--json", files.COMPARISON_JSON, args.overwrite)
    cli.check_output(parser, args.markdown, "--markdown", files.COMPARISON_MARKDOWN, args.overwrite)
    result = compare(args.run_a, args.run_b, classes=args.classes, sort=args.sort,
                     b2ilc_a=args.b2ilc_a, b2ilc_b=args.b2ilc_b)
    text = markdown(result)
    if args.json:
        write_text(args.json, json.dumps(result, indent=2) + "\n")
    if args.markdown:
        write_text(args.markdown, text)
    print(text, end="")
    return result


if __name__ == "__main__":
    cli.run_main(PROG, main)
