"""``python -m edrnet_tf.train``: train EDRNet (SEL or WSEL), report its test accuracy, export it.

Thin over ``flags.parse_train_args`` (argv -> EDRNetConfig + TrainSettings) and ``runner.train``.
``python -m edrnet_tf.train --help`` explains every flag; ``--dataset synthetic`` (the default) is the
CPU demo on generated data, ``--dataset ave`` the real AVE features.
"""

from edrnet_tf.cli import run_main
from edrnet_tf.data import sources
from edrnet_tf.training import flags, runner

PROG = "python -m edrnet_tf.train"


def main(argv=None):
    config, settings = flags.parse_train_args(argv)
    data = sources.describe(settings.dataset, settings.data_dir, settings.synthetic_videos, settings.synthetic_seed)
    print(f"EDRNet {settings.task.upper()} training on {data}; run folder {settings.output}", flush=True)
    return runner.train(config, settings)


if __name__ == "__main__":
    run_main(PROG, main)
