"""Start-up quiet for every ``python -m edrnet_tf.<tool>``: hides the known third-party noise.

Hidden: TensorFlow's C++ INFO lines (``TF_CPP_MIN_LOG_LEVEL=1``, so its warnings and errors still show; the
oneDNN and CUDA-stub lines that TensorFlow writes before absl's log is initialised ignore that variable, so the
import's stderr is read back without those known lines), TFDS' repeated "``FeatureConnector.dtype`` is deprecated"
absl warning and Apache Beam's "apitools not found". ``--verbose`` on any tool, or ``EDRNET_TF_VERBOSE=1``, keeps
everything. ``edrnet_tf/__init__`` runs ``startup()`` around its Keras import; it acts only under ``python -m
edrnet_tf.<tool>``: importing ``edrnet_tf`` as a library changes no logging.
"""

import contextlib
import logging
import os
import sys
import tempfile

VERBOSE_ENV = "EDRNET_TF_VERBOSE"
VERBOSE_FLAG = "--verbose"
NOISE = (
    ".dtype` is deprecated. Please change your code to use NumPy",  # tensorflow_datasets.core.features.feature
    "apitools not found",  # apache_beam.io.gcp.internal.clients.bigquery
)
# Lines TensorFlow's C++ start-up writes straight to stderr whatever TF_CPP_MIN_LOG_LEVEL says.
C_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on.",
    "Could not find cuda drivers on your machine",
    "cpu_feature_guard.cc:",
    "To enable the following instructions:",
)


def verbose_requested(argv=None):
    """``--verbose`` among the arguments or ``EDRNET_TF_VERBOSE`` set to anything but empty or 0."""
    argv = sys.argv[1:] if argv is None else argv
    return VERBOSE_FLAG in argv or os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


class DropNoise(logging.Filter):
    """Drops the log records whose message holds one of ``NOISE``."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a malformed record is not ours to judge: let it through)
            return True
        return not any(noise in message for noise in NOISE)


def quiet(argv=None):
    """Hides the known noise unless verbose is requested; returns whether it did. Call before TensorFlow loads."""
    if verbose_requested(argv):
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    from absl import logging as absl_logging  # noqa: PLC0415  (absl's own logger, before anyone else asks for it)

    for logger in (absl_logging.get_absl_logger(), logging.getLogger()):
        if not any(isinstance(f, DropNoise) for f in logger.filters):
            logger.addFilter(DropNoise())
    return True


def launched_as_tool():
    """``python -m edrnet_tf.<tool>``: ``sys.argv[0]`` is ``-m`` while Python imports the tool's packages."""
    return sys.argv[:1] == ["-m"]


def startup():
    """The context ``edrnet_tf/__init__`` imports Keras (and TensorFlow) in: under ``python -m`` without verbose,
    quiets the logs and drops the known C++ start-up lines from stderr; otherwise does nothing."""
    if not (launched_as_tool() and quiet()):
        return contextlib.nullcontext()
    return stderr_without(C_NOISE)


@contextlib.contextmanager
def stderr_without(noise, fd=2):
    """Captures file descriptor ``fd`` (C++ writes there directly) and writes back every line without ``noise``."""
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not any(n in line for n in noise)))
            sys.stderr.flush()
