"""``--dataset``: finds (or makes) the data a run reads, as a ``DataSource``.

Two kinds, one interface (``arrays``, ``statistics``, ``label_counts``, ``prepare``, ...):
``tfds_source.TfdsSource`` reads the built ``tfds_ave`` (TensorFlow), ``release_source.ReleaseSource`` the AVE
``.h5`` release folder itself (NumPy and h5py: where TensorFlow is not installed, docs/accelerators.md).
``synthetic`` generates the synthetic AVE-layout files into a cache folder and builds them with the same
``tfds_ave`` builder as the real files (or, without TensorFlow, reads them as released files). ``ave`` reads the
real AVE features built with ``tfds build tfds_ave``; when they are not built it says how, or builds them
from ``--manual-dir``.
"""

import dataclasses
import pathlib

import numpy as np

from edrnet_tf import ave, installed
from edrnet_tf.data import synthetic


@dataclasses.dataclass(frozen=True)
class DataSource:
    """The data of a run: its ``name`` ("synthetic" or "ave"), the built TFDS ``data_dir`` (None when the
    release files are read directly), the ``manual_dir`` of the release files (if known), whether it is
    ``synthetic`` and a one-line ``description`` for reports. Subclasses say how a split is read."""

    name: str
    data_dir: pathlib.Path = None
    manual_dir: pathlib.Path = None
    synthetic: bool = False
    description: str = ""

    @property
    def where(self):
        """The folder the data is read from, for messages."""
        return self.data_dir if self.data_dir is not None else self.manual_dir

    def prepare(self, config, task="sel", test_labels="original"):
        """Makes ready and checks every config a run of ``task`` reads, before it trains: ``supervised``,
        ``weakly_supervised`` (wsel), and ``corrected`` whenever it exists (``right_labels.h5``) or
        ``test_labels`` asks for it; then ``check_model(config)``. Raises one line on the first problem."""
        corrected = self.has_corrected()
        if test_labels == "corrected" and not corrected:
            raise ValueError(f"--test-labels='corrected' is invalid: expected corrected test labels (right_labels.h5 "
                             f"in {self.manual_dir or '--manual-dir'}, or tfds_ave/corrected built in "
                             f"{self.data_dir}), found none; pass --test-labels original")
        needed = ("supervised",) + (("weakly_supervised",) if task == "wsel" else ()) + (
            ("corrected",) if corrected else ())
        for name in needed:
            self.ensure(name)
        self.check_model(config)
        if corrected:
            self.check_corrected_rows()

    def check_model(self, config):
        """Raises when the model's N or classes (``EDRNetConfig``) differ from the data's."""
        segments, classes = self.layout()
        if config.n_segments != segments:
            raise ValueError(f"--n-segments={config.n_segments} is invalid: expected the {segments} segments per "
                             f"video of the data in {self.where}")
        if config.num_classes != len(classes):
            raise ValueError(f"--num-classes={config.num_classes} is invalid: expected the {len(classes)} classes "
                             f"of the data in {self.where} ({len(classes) - 1} events + background)")
        if classes[config.background] != "Background":
            raise ValueError(f"--background={config.background} is invalid: expected the index of the data's "
                             f"background class, {classes.index('Background')}")

    def label_counts(self, split="train", num_classes=ave.NUM_CLASSES):
        """Segment-label counts of a split of the supervised config."""
        labels = self.arrays(split, labels_only=True)["segment_labels"]
        return np.bincount(np.asarray(labels).reshape(-1), minlength=num_classes).astype(np.int64)


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
