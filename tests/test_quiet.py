"""Quiet CLIs: the known third-party start-up noise is hidden from ``python -m edrnet_tf.<tool>``, ``--verbose``
(or ``EDRNET_TF_VERBOSE=1``) brings it back, and importing ``edrnet_tf`` as a library changes no logging."""

import os
import subprocess
import sys
import textwrap

import pytest

from edrnet_tf import quiet


def _tool(tmp_path, *args, env=None):
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", quiet.VERBOSE_ENV)}
    return subprocess.run([sys.executable, "-m", "edrnet_tf.train", *args], cwd=tmp_path, capture_output=True,
                          text=True, env={**environment, **(env or {})})


def test_tool_start_up_has_none_of_the_known_lines_and_verbose_brings_them_back(tmp_path):
    quiet_run = _tool(tmp_path, "--help")
    assert quiet_run.returncode == 0, quiet_run.stderr[-2000:]
    assert "--verbose" in quiet_run.stdout
    assert [line for line in quiet_run.stderr.splitlines() if any(n in line for n in quiet.C_NOISE)] == []
    verbose_run = _tool(tmp_path, "--verbose", "--help")
    assert verbose_run.returncode == 0, verbose_run.stderr[-2000:]
    if not any(n in verbose_run.stderr for n in quiet.C_NOISE):
        pytest.skip("this TensorFlow build writes none of the known start-up lines")


def test_tfds_deprecation_and_beam_apitools_warnings_are_dropped_other_lines_kept(tmp_path):
    script = textwrap.dedent("""
        import logging, sys
        import numpy as np
        from edrnet_tf import quiet
        if sys.argv[1:] == ["quiet"]:
            quiet.quiet([])
        import tensorflow_datasets as tfds
        from absl import logging as absl_logging
        for _ in range(3):
            tfds.features.Tensor(shape=(), dtype=np.float32).dtype
        logging.warning("apitools not found, and bigquery client libraries are not available")
        absl_logging.warning("kept absl line")
        logging.warning("kept root line")
    """)
    runs = {mode: subprocess.run([sys.executable, "-c", script, mode], cwd=tmp_path, capture_output=True,
                                 text=True) for mode in ("library", "quiet")}
    for run in runs.values():
        assert run.returncode == 0, run.stderr[-2000:]
        assert "kept absl line" in run.stderr and "kept root line" in run.stderr
    assert "dtype` is deprecated" in runs["library"].stderr and "apitools not found" in runs["library"].stderr
    assert "is deprecated" not in runs["quiet"].stderr and "apitools" not in runs["quiet"].stderr


def test_verbose_is_the_flag_or_a_non_zero_environment_variable(monkeypatch):
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    assert not quiet.verbose_requested(["--epochs", "2"])
    assert quiet.verbose_requested(["--epochs", "2", "--verbose"])
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv(quiet.VERBOSE_ENV, value)
        assert quiet.verbose_requested([]) is expected


def test_importing_the_library_touches_no_logging():
    assert not quiet.launched_as_tool()  # pytest's argv[0] is its script, not "-m"
    assert not any(isinstance(f, quiet.DropNoise) for f in __import__("logging").getLogger().filters)
