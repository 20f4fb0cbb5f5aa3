"""``ReleaseSource``: a run's data read straight from the AVE ``.h5`` release folder (``data.arrays``, NumPy and
h5py), where TensorFlow is not installed (a built ``tfds_ave`` needs TensorFlow to read). It holds the same
videos with the same labels as the built dataset, in ascending row order."""

import dataclasses
import pathlib

from edrnet_tf import ave
from edrnet_tf.data import arrays, statistics
from edrnet_tf.data.data_source import DataSource
from tfds_ave import ave_files as files

CONFIG_FILES = {"supervised": (), "corrected": (files.RIGHT_LABELS,),
                "weakly_supervised": (files.NOISY_AUDIO, files.NOISY_VISUAL, files.NOISY_LABELS)}


@dataclasses.dataclass(frozen=True)
class ReleaseSource(DataSource):
    """The release files in ``manual_dir`` (``DataSource`` holds the fields; ``data_dir`` is None)."""

    def ensure(self, config):
        """Raises one line naming the missing files ``config`` reads."""
        names = (files.AUDIO, files.VISUAL, files.ANNOTATIONS) + CONFIG_FILES[config]
        files.require(pathlib.Path(self.manual_dir), names, f"tfds_ave/{config}")

    def has_corrected(self):
        return (pathlib.Path(self.manual_dir) / files.RIGHT_LABELS).exists()

    def layout(self):
        """``(segments per video, class names)`` of the AVE layout (the files are checked when read)."""
        return ave.N_SEGMENTS, ave.class_names()

    def check_corrected_rows(self):
        """Nothing to check: both label sets index the same test rows (``Annotations.txt``'s split)."""

    def arrays(self, split, config="supervised", labels_only=False):
        """One split in memory (``arrays.read_split``: in ascending row order); ``labels_only``: its labels and
        rows, no features read."""
        return (arrays.split_labels if labels_only else arrays.read_split)(self.manual_dir, split, config)

    def statistics(self, split="train", config="supervised"):
        return statistics.stream_statistics(arrays.iter_split_features(self.manual_dir, split, config))
