"""Shared session fixtures: a small synthetic AVE folder and its built ``tfds_ave`` data_dir.

The set is written and built once and cached across test sessions (and across parallel sessions,
under a file lock) in ``$EDRNET_TF_TEST_CACHE`` (default ``~/.cache/edrnet_tf/tests``), in a folder
keyed by a hash of the generator and builder sources, so a change to either rebuilds it.
"""

import hashlib
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE_VIDEOS = 120  # 96 train / 12 validation / 12 test videos, 5 background-only videos
FIXTURE_SEED = 0
_SOURCES = ("edrnet_tf/data/synthetic.py", "edrnet_tf/data/synthetic_signal.py",
            "tfds_ave/ave.py", "tfds_ave/ave_files.py", "tfds_ave/ave_labels.py",
            "tfds_ave/tfds_ave_dataset_builder.py")


def _cache_dir():
    base = os.environ.get("EDRNET_TF_TEST_CACHE", pathlib.Path.home() / ".cache" / "edrnet_tf" / "tests")
    digest = hashlib.sha1(b"".join((ROOT / s).read_bytes() for s in _SOURCES)).hexdigest()[:12]
    return pathlib.Path(base) / digest


@pytest.fixture(scope="session")
def _synthetic_built():
    from edrnet_tf.data import builds, pipeline

    return builds.ensure_synthetic(_cache_dir(), FIXTURE_VIDEOS, FIXTURE_SEED, configs=pipeline.CONFIGS)


@pytest.fixture(scope="session")
def synthetic_ave_dir(_synthetic_built):
    """A synthetic AVE manual-download folder of 120 videos (seed 0); treat it as read-only."""
    return _synthetic_built[0]


@pytest.fixture(scope="session")
def built_ave(_synthetic_built):
    """The tfds data_dir of ``synthetic_ave_dir`` built for all three configs; treat it as read-only."""
    return _synthetic_built[1]
