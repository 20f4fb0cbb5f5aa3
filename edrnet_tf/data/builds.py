"""Building ``tfds_ave`` datasets: from a manual folder of AVE files (``build_dataset``), or from the
synthetic generator into a cache folder (``ensure_synthetic``), each build once and under a lock."""

import pathlib
import shutil

import tensorflow_datasets as tfds

from edrnet_tf import files
from edrnet_tf.data import synthetic
from edrnet_tf.data.pipeline import _builder


def build_lock(data_dir):
    """The lock file every build into ``data_dir`` holds, so parallel runs and test sessions never build
    the same config at once (nor read a half-built one)."""
    return pathlib.Path(data_dir) / ".tfds_ave.lock"


def build_dataset(manual_dir, data_dir, config="supervised"):
    """Runs the ``tfds_ave`` builder (``tfds build tfds_ave --manual_dir``) and returns the builder.

    Nothing is rebuilt when ``data_dir`` already holds the config; a build holds ``build_lock(data_dir)``.
    """
    builder = _builder(data_dir, config)
    if not builder.is_prepared():
        with files.locked(build_lock(data_dir)):
            builder = _builder(data_dir, config)  # another process may have built it meanwhile
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def ensure_synthetic(cache_dir, videos, seed, configs=("supervised",)):
    """A synthetic AVE set of ``videos`` videos, written and built once under ``cache_dir``.

    Returns ``(manual_dir, data_dir)``. The folder name holds the generator version, the size and the
    seed; the files are written to a temporary folder and renamed when complete, so an interrupted
    run never leaves a partial set behind.
    """
    root = pathlib.Path(cache_dir) / f"synthetic-v{synthetic.GENERATOR_VERSION}-n{videos}-s{seed}"
    manual_dir, data_dir = root / "manual", root / "tfds"
    with files.locked(root.with_suffix(".lock")):
        if not manual_dir.exists():
            partial = root / "manual.partial"
            shutil.rmtree(partial, ignore_errors=True)
            synthetic.write_synthetic_ave(partial, videos=videos, seed=seed)
            partial.rename(manual_dir)
        for config in configs:
            build_dataset(manual_dir, data_dir, config)
    return manual_dir, data_dir
