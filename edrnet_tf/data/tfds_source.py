"""``TfdsSource``: a run's data read from the built ``tfds_ave`` (TensorFlow Datasets), built on demand from
the manual folder it came from (``data.builds``)."""

import dataclasses
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from edrnet_tf.data import builds, pipeline, statistics
from edrnet_tf.data.data_source import DataSource

STREAM_BATCH = 64  # videos read at a time by split_statistics


def split_statistics(data_dir, split="train", config="supervised"):
    """``InputStatistics`` of one built ``tfds_ave`` split, read ``STREAM_BATCH`` videos at a time."""
    ds = pipeline.load_split(data_dir, split, config).map(lambda e: {"audio": e["audio"], "visual": e["visual"]})
    return statistics.stream_statistics(ds.batch(STREAM_BATCH).as_numpy_iterator())


@dataclasses.dataclass(frozen=True)
class TfdsSource(DataSource):
    """A built ``tfds_ave`` in ``data_dir`` (``DataSource`` holds the fields)."""

    def is_built(self, config):
        return pipeline.is_built(self.data_dir, config)

    def ensure(self, config):
        """Builds ``config`` from ``manual_dir`` when it is not built yet, and refuses one built from other files
        than those in ``manual_dir`` (``builds.build_dataset``); raises when it cannot."""
        if self.manual_dir is not None:
            builds.build_dataset(self.manual_dir, self.data_dir, config=config)
        elif not self.is_built(config):
            raise FileNotFoundError(pipeline.not_built(self.data_dir, config, ", or pass --manual-dir <that folder>"))

    def has_corrected(self):
        """Whether C-AVE test labels exist: built, or buildable from a manual folder holding right_labels.h5."""
        if self.is_built("corrected"):
            return True
        return self.manual_dir is not None and (pathlib.Path(self.manual_dir) / "right_labels.h5").exists()

    def layout(self):
        """``(segments per video, class names)`` of the built data."""
        features = tfds.builder("tfds_ave/supervised", data_dir=str(self.data_dir)).info.features
        return features["audio"].shape[0], features["video_label"].names

    def check_corrected_rows(self):
        test_rows = self.rows("test", "supervised")
        if self.rows("test", "corrected") != test_rows:
            raise ValueError(f"tfds_ave/corrected in {self.data_dir}: expected the {len(test_rows)} test rows of "
                             "tfds_ave/supervised, found other rows")

    def rows(self, split, config):
        """The sorted ``row`` indices of a built split."""
        found = pipeline.load_split(self.data_dir, split, config).map(lambda example: example["row"])
        return sorted(int(row) for batch in found.batch(1024).as_numpy_iterator() for row in batch)

    def arrays(self, split, config="supervised", labels_only=False):
        """One split in memory (``pipeline.split_arrays``: features, labels and rows, in the stored order);
        ``labels_only``: its ``segment_labels``, ``video_label`` and ``row``, without holding the features."""
        if labels_only:
            keys = ("segment_labels", "video_label", "row")
            found = pipeline.load_split(self.data_dir, split, config).map(lambda e: {k: e[k] for k in keys})
            batches = list(found.batch(256).as_numpy_iterator())
            return {k: np.concatenate([batch[k] for batch in batches]).astype(np.int64) for k in keys}
        return pipeline.split_arrays(self.data_dir, split, config)

    def statistics(self, split="train", config="supervised"):
        return split_statistics(self.data_dir, split, config)
