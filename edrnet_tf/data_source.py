"""``--dataset``: finds (or makes) the built ``tfds_ave`` data a run reads.

``synthetic`` generates the synthetic AVE-layout files into a cache folder and builds them with the same
``tfds_ave`` builder as the real files (``edrnet_tf.data.pipeline.ensure_synthetic``). ``ave`` reads the
real AVE features built with ``tfds build tfds_ave``; when they are not built it says how, or builds them
from ``--manual-dir``.
"""

import dataclasses
import pathlib

import tensorflow_datasets as tfds

from edrnet_tf.data import pipeline


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
        return tfds.builder(f"tfds_ave/{config}", data_dir=str(self.data_dir)).is_prepared()

    def ensure(self, config):
        """Builds ``config`` from ``manual_dir`` when it is not built yet; raises when it cannot."""
        if self.is_built(config):
            return
        if self.manual_dir is None:
            raise FileNotFoundError(
                f"tfds_ave/{config} is not built in {self.data_dir}: build it with `tfds build tfds_ave "
                f"--config {config} --manual_dir <folder with the AVE .h5 files> --data_dir {self.data_dir}` "
                f"(from the repo root), or pass --manual-dir <that folder>")
        pipeline.build_dataset(self.manual_dir, self.data_dir, config=config)

    def has_corrected(self):
        """Whether C-AVE test labels exist: built, or buildable from a manual folder holding right_labels.h5."""
        if self.is_built("corrected"):
            return True
        return self.manual_dir is not None and (pathlib.Path(self.manual_dir) / "right_labels.h5").exists()


def describe_synthetic(videos, seed):
    return (f"synthetic AVE-layout features ({videos} videos, seed {seed}; generated here, NOT the real AVE: "
            "every figure below is synthetic)")


def resolve(dataset, data_dir=None, manual_dir=None, cache_dir=None, synthetic_videos=None, synthetic_seed=0):
    """The ``DataSource`` of ``--dataset``: generates and builds the synthetic set if absent (``synthetic``),
    or checks the real AVE is built (``ave``, building it from ``manual_dir`` if given)."""
    if dataset == "synthetic":
        manual, built = pipeline.ensure_synthetic(cache_dir, videos=synthetic_videos, seed=synthetic_seed)
        source = DataSource("synthetic", pathlib.Path(built), pathlib.Path(manual), True,
                            describe_synthetic(synthetic_videos, synthetic_seed))
    elif dataset == "ave":
        source = DataSource("ave", pathlib.Path(data_dir), manual_dir and pathlib.Path(manual_dir), False,
                            f"AVE features (tfds_ave in {data_dir})")
    else:
        raise ValueError(f"--dataset={dataset!r} is invalid: expected 'synthetic' or 'ave'")
    source.ensure("supervised")
    return source
