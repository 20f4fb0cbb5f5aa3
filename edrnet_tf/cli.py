"""What every ``python -m edrnet_tf.<tool>`` shares: one-line errors that name the flag or file, the argument
types and the default data folders."""

import argparse
import math
import os
import pathlib
import sys

from edrnet_tf import files


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


def add_overwrite_flag(parser):
    parser.add_argument("--overwrite", action="store_true",
                        help="Replace a file (or folder) at the output path that edrnet_tf did not write. Without "
                             "it, only an earlier output of this tool, or an empty one, is replaced.")


def check_output(parser, path, flag, kind, overwrite=False):
    """Exits with one line (status 2) naming ``flag`` unless ``kind`` can be written at ``path`` (None: no
    output): ``files.check_output``, before any work starts."""
    if path is None:
        return
    try:
        files.check_output(path, flag, kind, overwrite)
    except ValueError as error:
        parser.error(str(error))


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "edrnet_tf"


def default_tfds_dir():
    return pathlib.Path(os.environ.get("TFDS_DATA_DIR") or pathlib.Path.home() / "tensorflow_datasets")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {text!r}")
    return value


def finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def folder_path(text):
    """A folder path whose existing part holds no regular file (a folder may be created there)."""
    path = pathlib.Path(text)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise argparse.ArgumentTypeError(f"expected a folder path, found the regular file {str(part)!r} "
                                             f"{'there' if part == path else 'in the way'}")
    return path


def positive_float(text):
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, found {text!r}")
    return value
