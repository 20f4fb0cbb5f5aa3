"""TFDS builder of the AVE dataset, and the AVE facts it owns (``tfds_ave.ave``, ``tfds_ave.ave_files``).

Importing the package registers the ``tfds_ave`` builder with TFDS without importing TFDS itself: at once
when ``tensorflow_datasets`` is already imported, otherwise right after it is (``tfds_ave.registration``).
So ``import tfds_ave`` before or after ``import tensorflow_datasets`` makes ``tfds.load("tfds_ave")`` work,
and ``from tfds_ave import ave`` loads neither TensorFlow nor TFDS. ``tfds_ave.Builder`` imports the builder
on first use.
"""

import importlib

from tfds_ave import registration

BUILDER_MODULE = "tfds_ave.tfds_ave_dataset_builder"

registration.import_after("tensorflow_datasets", BUILDER_MODULE)


def __getattr__(name):
    if name == "Builder":
        return importlib.import_module(BUILDER_MODULE).Builder
    raise AttributeError(f"module 'tfds_ave' has no attribute {name!r}")


__all__ = ["Builder"]
