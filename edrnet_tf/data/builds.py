"""Building ``tfds_ave`` datasets: from a manual folder of AVE files (``build_dataset``), or from the
synthetic generator into a cache folder (``ensure_synthetic``), each build once and under a lock."""

import contextlib
import pathlib
import shutil

import tensorflow_datasets as tfds

from edrnet_tf import files
from edrnet_tf.data import synthetic
from edrnet_tf.data.pipeline import _builder
from tfds_ave import ave_files
from tfds_ave.tfds_ave_dataset_builder import MADE_FROM


def build_lock(data_dir):
    """The lock file every build into ``data_dir`` holds, so parallel runs and test sessions never build
    the same config at once (nor read a half-built one)."""
    return pathlib.Path(data_dir) / ".tfds_ave.lock"


def build_dataset(manual_dir, data_dir, config="supervised"):
    """Runs the ``tfds_ave`` builder (``tfds build tfds_ave --manual_dir``) and returns the builder.

    ``manual_dir`` is checked before anything is written. A config already built in ``data_dir`` is kept,
    and only when it was made from the files now in ``manual_dir``, or from that folder when it no longer
    exists (``Builder.check_made_from``: else one line). A build holds ``build_lock(data_dir)``; one that
    fails leaves ``data_dir`` as it found it.
    """
    builder = _builder(data_dir, config)
    if builder.is_prepared():
        builder.check_made_from(manual_dir)
        return builder
    ave_files.require(manual_dir, [ave_files.AUDIO, ave_files.VISUAL, ave_files.ANNOTATIONS], f"tfds_ave/{config}")
    new = [path for path in (pathlib.Path(data_dir), build_lock(data_dir)) if not path.exists()]
    try:
        with files.locked(build_lock(data_dir)):
            builder = _builder(data_dir, config)  # another process may have built it meanwhile
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    except BaseException:
        # The builder removed what TFDS wrote; the lock file, and the folder when this call made it, go too.
        for path in reversed(new):
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()
        raise
    return builder


def ensure_synthetic(cache_dir, videos, seed, configs=("supervised",)):
    """A synthetic AVE set of ``videos`` videos, written (``synthetic.ensure_files``) and built once under
    ``cache_dir``; returns ``(manual_dir, data_dir)``. A build of the cache made before builds recorded their
    files is built again (both are this project's own, in its cache folder)."""
    manual_dir = synthetic.ensure_files(cache_dir, videos, seed)
    data_dir = synthetic.cache_folder(cache_dir, videos, seed) / "tfds"
    for config in configs:
        _drop_unrecorded(data_dir, config)
        build_dataset(manual_dir, data_dir, config)
    return manual_dir, data_dir


def _drop_unrecorded(data_dir, config):
    """Removes a synthetic cache's build of ``config`` that holds no record of its files."""
    if not _builder(data_dir, config).is_prepared():
        return
    with files.locked(build_lock(data_dir)):
        builder = _builder(data_dir, config)
        if builder.is_prepared() and not dict(builder.info.metadata or {}).get(MADE_FROM):
            shutil.rmtree(builder.data_dir)
