"""``python -m edrnet_tf.baselines``: majority, linear probes and the temporal conv on a built tfds_ave (``evaluation.baselines``).

``--output`` is checked before any data is read (``files.check_output``: an earlier baselines JSON is replaced,
anything else only with ``--overwrite``) and written whole."""

import pathlib

from edrnet_tf import cli, files
from edrnet_tf.config import DATASETS, TRAINING_DEFAULTS
from edrnet_tf.data import sources
from edrnet_tf.evaluation.baselines import compute_baselines, format_baselines, write_json

PROG = "python -m edrnet_tf.baselines"


def build_parser():
    parser = cli.OneLineParser(prog=PROG, allow_abbrev=False,
                               description="Majority, linear-probe and temporal-conv baselines of a built tfds_ave.")
    parser.add_argument("--dataset", choices=DATASETS, default="ave",
                        help="'ave': a built tfds_ave in --data-dir (real or not); 'synthetic': the synthetic set, "
                             "generated and built into --cache-dir on first use. Default: %(default)s.")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None,
                        help=f"TFDS data_dir holding the built tfds_ave. Default: $TFDS_DATA_DIR or "
                             f"{cli.default_tfds_dir()}.")
    parser.add_argument("--cache-dir", type=pathlib.Path, default=cli.default_cache_dir(),
                        help="Where --dataset synthetic keeps its files. Default: %(default)s.")
    parser.add_argument("--synthetic-videos", type=cli.positive_int, default=None,
                        help="Videos in the synthetic set. Default: "
                             f"{TRAINING_DEFAULTS['synthetic']['synthetic_videos']}.")
    parser.add_argument("--synthetic-seed", type=cli.non_negative_int, default=0,
                        help="Generator seed. Default: %(default)s.")
    parser.add_argument("--seed", type=cli.non_negative_int, default=0,
                        help="Seed of the temporal conv. Default: %(default)s.")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="Write the figures as JSON here.")
    cli.add_overwrite_flag(parser)
    return parser


def main(argv=None):
    from edrnet_tf.training import flags

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset == "ave" and args.synthetic_videos is not None:
        flags.fail(parser, "--synthetic-videos", args.synthetic_videos, "no --synthetic-videos with --dataset ave")
    cli.check_output(parser, args.output, "--output", files.BASELINES_JSON, args.overwrite)
    source = sources.resolve(
        args.dataset, args.data_dir or cli.default_tfds_dir(), cache_dir=args.cache_dir,
        synthetic_videos=args.synthetic_videos or TRAINING_DEFAULTS["synthetic"]["synthetic_videos"],
        synthetic_seed=args.synthetic_seed)
    result = compute_baselines(source, args.seed)
    print(format_baselines(result), end="")
    if args.output is not None:
        write_json(result, args.output)
    return result


if __name__ == "__main__":
    cli.run_main(PROG, main)
