"""``--dataset``: finds (or makes) the data a run reads, as a ``data_source.DataSource``.

Two kinds, one interface (``arrays``, ``statistics``, ``label_counts``, ``prepare``, ...):
``tfds_source.TfdsSource`` reads the built ``tfds_ave`` (TensorFlow), ``release_source.ReleaseSource`` the AVE
``.h5`` release folder itself (NumPy and h5py: where TensorFlow is not installed, docs/accelerators.md).
``synthetic`` generates the synthetic AVE-layout files into a cache folder and builds them with the same
``tfds_ave`` builder as the real files (or, without TensorFlow, reads them as released files). ``ave`` reads the
real AVE features built with ``tfds build tfds_ave``; when they are not built it says how, or builds them
from ``--manual-dir``.
"""

import pathlib

from edrnet_tf import installed
from edrnet_tf.data import synthetic


def describe(dataset, data_dir=None, synthetic_videos=None, synthetic_seed=0, manual_dir=None):
    """The one-line description of a run's data that reports and the first printed line carry."""
    if dataset == "synthetic":
        return (f"synthetic AVE-layout features ({synthetic_videos} videos, seed {synthetic_seed}; generated here, "
                "NOT the real AVE: every figure below is synthetic)")
    if not installed.tensorflow():
        return f"AVE features (release .h5 files in {manual_dir})"
    return f"AVE features (tfds_ave in {data_dir})"


def resolve(dataset, data_dir=None, manual_dir=None, cache_dir=None, synthetic_videos=None, synthetic_seed=0):
    """The ``DataSource`` of ``--dataset``: generates (and builds) the synthetic set if absent (``synthetic``),
    or checks the real AVE is built (``ave``, building it from ``manual_dir`` if given). Where TensorFlow is
    not installed, the release files are read directly (``ave`` then needs ``manual_dir``)."""
    if dataset not in ("synthetic", "ave"):
        raise ValueError(f"--dataset={dataset!r} is invalid: expected 'synthetic' or 'ave'")
    description = describe(dataset, data_dir, synthetic_videos, synthetic_seed, manual_dir)
    if not installed.tensorflow():
        from edrnet_tf.data.release_source import ReleaseSource

        if dataset == "synthetic":
            manual_dir = synthetic.ensure_files(cache_dir, videos=synthetic_videos, seed=synthetic_seed)
        elif manual_dir is None:
            raise ValueError(f"--manual-dir=None is invalid: expected the folder of the AVE .h5 files where "
                             f"{installed.NO_TENSORFLOW} (a built tfds_ave needs TensorFlow to read)")
        source = ReleaseSource(dataset, None, pathlib.Path(manual_dir), dataset == "synthetic", description)
    else:
        from edrnet_tf.data import builds
        from edrnet_tf.data.tfds_source import TfdsSource

        if dataset == "synthetic":
            manual_dir, data_dir = builds.ensure_synthetic(cache_dir, videos=synthetic_videos, seed=synthetic_seed)
        source = TfdsSource(dataset, pathlib.Path(data_dir), manual_dir and pathlib.Path(manual_dir),
                            dataset == "synthetic", description)
    source.ensure("supervised")
    return source


def of_settings(settings):
    """The ``DataSource`` of a ``TrainSettings`` (its dataset, folders and synthetic size and seed)."""
    return resolve(settings.dataset, settings.data_dir, settings.manual_dir, settings.cache_dir,
                   settings.synthetic_videos, settings.synthetic_seed)
