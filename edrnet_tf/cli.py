"""What every ``python -m edrnet_tf.<tool>`` shares: one-line errors that name the flag or file."""

import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a single line (no usage block), exit status 2; every tool's
    parser has ``--verbose`` (read at start-up by ``edrnet_tf.quiet``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_verbose_flag(self)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_verbose_flag(parser):
    parser.add_argument("--verbose", action="store_true",
                        help="Show the third-party log lines hidden by default (TensorFlow C++ INFO, TFDS deprecation "
                             "warnings); EDRNET_TF_VERBOSE=1 does the same.")


def run_main(prog, main, argv=None):
    """Runs ``main(argv)``; a ``ValueError`` or ``FileNotFoundError`` (bad input: a missing or corrupt file,
    an unusable value) exits with status 1 and its one-line message instead of a traceback."""
    try:
        return main(argv)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"{prog}: error: {error}")
