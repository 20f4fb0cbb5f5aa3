"""``DataSource``: the data of a run, whatever reads it; the base class of ``tfds_source.TfdsSource`` and
``release_source.ReleaseSource``. It holds the fields and what follows from a subclass's readers (the checks
before a run, the label counts); ``sources.resolve`` picks the subclass for ``--dataset``. A module of its
own, so the factory (``sources``) imports its subclasses and they import only this: no import cycle."""

import dataclasses
import pathlib

import numpy as np

from edrnet_tf import ave


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
