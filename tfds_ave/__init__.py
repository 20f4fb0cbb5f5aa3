"""TFDS builder of the AVE dataset; importing this package registers ``tfds_ave``."""

from tfds_ave.tfds_ave_dataset_builder import Builder

__all__ = ["Builder"]
