"""``--dataset``: finds (or makes) the built ``tfds_ave`` data a run reads.

``synthetic`` generates the synthetic AVE-layout files into a cache folder and builds them with the same
``tfds_ave`` builder as the real files (``data.builds.ensure_synthetic``). ``ave`` reads the
real AVE features built with ``tfds build tfds_ave``; when they are not built it says how, or builds them
from ``--manual-dir``.
"""

import dataclasses
import pathlib

import tensorflow_datasets as tfds

from edrnet_tf.data import builds, pipeline


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A built ``tfds_ave``: its TFDS ``data_dir``, the manual folder it was built from (if known), a
    one-line ``description`` for reports, and whether it is ``synthetic``."""

    name: str
    data_dir: pathlib.Path
    manual_dir: pathlib.Path = None
    synthetic: bool = False
    description: str = ""

    def is_built(self, config):
        return pipeline.is_built(self.data_dir, config)

    def ensure(self, config):
        """Builds ``config`` from ``manual_dir`` when it is not built yet; raises when it cannot."""
        if self.is_built(config):
            return
        if self.manual_dir is None:
            raise FileNotFoundError(pipeline.not_built(self.data_dir, config, ", or pass --manual-dir <that folder>"))
        builds.build_dataset(self.manual_dir, self.data_dir, config=config)

    def has_corrected(self):
        """Whether C-AVE test labels exist: built, or buildable from a manual folder holding right_labels.h5."""
        if self.is_built("corrected"):
            return True
        return self.manual_dir is not None and (pathlib.Path(self.manual_dir) / "right_labels.h5").exists()

    def prepare(self, config, task="sel", test_labels="original"):
        """Builds and checks every config a run of ``task`` reads, before it trains: ``supervised``,
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
            test_rows = self.rows("test", "supervised")
            if self.rows("test", "corrected") != test_rows:
                raise ValueError(f"tfds_ave/corrected in {self.data_dir}: expected the {len(test_rows)} test rows of "
                                 "tfds_ave/supervised, found other rows")

    def check_model(self, config):
        """Raises when the model's N or classes (``EDRNetConfig``) differ from the built data's."""
        features = tfds.builder("tfds_ave/supervised", data_dir=str(self.data_dir)).info.features
        segments, classes = features["audio"].shape[0], features["video_label"].names
        if config.n_segments != segments:
            raise ValueError(f"--n-segments={config.n_segments} is invalid: expected the {segments} segments per "
                             f"video of the data in {self.data_dir}")
        if config.num_classes != len(classes):
            raise ValueError(f"--num-classes={config.num_classes} is invalid: expected the {len(classes)} classes "
                             f"of the data in {self.data_dir} ({len(classes) - 1} events + background)")
        if classes[config.background] != "Background":
            raise ValueError(f"--background={config.background} is invalid: expected the index of the data's "
                             f"background class, {classes.index('Background')}")

    def rows(self, split, config):
        """The sorted ``row`` indices of a built split."""
        found = pipeline.load_split(self.data_dir, split, config).map(lambda example: example["row"])
        return sorted(int(row) for batch in found.batch(1024).as_numpy_iterator() for row in batch)


def describe(dataset, data_dir=None, synthetic_videos=None, synthetic_seed=0):
    """The one-line description of a run's data that reports and the first printed line carry."""
    if dataset == "synthetic":
        return (f"synthetic AVE-layout features ({synthetic_videos} videos, seed {synthetic_seed}; generated here, "
                "NOT the real AVE: every figure below is synthetic)")
    return f"AVE features (tfds_ave in {data_dir})"


def resolve(dataset, data_dir=None, manual_dir=None, cache_dir=None, synthetic_videos=None, synthetic_seed=0):
    """The ``DataSource`` of ``--dataset``: generates and builds the synthetic set if absent (``synthetic``),
    or checks the real AVE is built (``ave``, building it from ``manual_dir`` if given)."""
    if dataset == "synthetic":
        manual, built = builds.ensure_synthetic(cache_dir, videos=synthetic_videos, seed=synthetic_seed)
        source = DataSource("synthetic", pathlib.Path(built), pathlib.Path(manual), True,
                            describe(dataset, built, synthetic_videos, synthetic_seed))
    elif dataset == "ave":
        source = DataSource("ave", pathlib.Path(data_dir), manual_dir and pathlib.Path(manual_dir), False,
                            describe(dataset, data_dir))
    else:
        raise ValueError(f"--dataset={dataset!r} is invalid: expected 'synthetic' or 'ave'")
    source.ensure("supervised")
    return source


def of_settings(settings):
    """The ``DataSource`` of a ``TrainSettings`` (its dataset, folders and synthetic size and seed)."""
    return resolve(settings.dataset, settings.data_dir, settings.manual_dir, settings.cache_dir,
                   settings.synthetic_videos, settings.synthetic_seed)
