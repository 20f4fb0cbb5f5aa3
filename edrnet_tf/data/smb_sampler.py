"""SMB fused-video provenance drawn in NumPy: the distribution of ``smb.py`` without TensorFlow.

Rao et al., AAAI 2022, Algorithm 1 (lines 5-9) with the states of Table 1 and the machine of Fig. 4 as
``smb_states`` (docs/design.md "SMB state machine") reads them, drawn exactly as ``smb._Sampler.draw`` does:
for a fused video of class c, one state sequence among ``StateDatabase.sequences(c)`` with the probabilities
of ``StateDatabase.sequence_probabilities(c)`` (the step-wise uniform rule, or label patterns as in the
training videos), then one uniform instance of each state from the class's state database, its segments
named by (source row, source segment). Only indices come out: the features
are gathered where they are held (``training.device_data``), so nothing here touches a feature array.
The random draws differ from ``smb.py``'s (NumPy, not TensorFlow's stateless ops); the distribution is
the same (tests/test_device_training.py compares the two).
"""

import numpy as np

from edrnet_tf.data.smb_states import sequence_tables

KEYS = ("source_rows", "source_segments", "segment_labels", "video_label", "states")


def epoch_rng(seed, epoch, stream=0):
    """The ``numpy.random.Generator`` of one (seed, epoch): the same pair gives the same draws, each epoch
    fresh ones; ``stream`` separates independent uses within an epoch (fusion, shuffling)."""
    return np.random.default_rng([int(seed), int(epoch), int(stream)])


class FusionSampler:
    """Per-class tables of one ``StateDatabase`` and the vectorized draw of fused-video provenance.

    Args:
        db: the ``smb_states.StateDatabase`` of the training split.

    Example:
        >>> sampler = FusionSampler(StateDatabase.from_labels(segment_labels, video_labels))
        >>> fused = sampler.draw(per_class=250, rng=epoch_rng(seed=0, epoch=3))
        >>> fused["source_rows"].shape  # [250 * len(sampler.classes), 10]
    """

    def __init__(self, db):
        self.db = db
        self.classes = np.asarray(db.fusable_classes(), np.int64)  # raises for a class that cannot be fused
        self.n_segments = db.n_segments
        # Per class: its sequences as [K, N] tables (state, state position j, offset in the instance,
        # foreground) and their probabilities.
        self._tables = [self._class_table(int(c)) for c in self.classes]

    def _class_table(self, c):
        return {"probabilities": self.db.sequence_probabilities(c), **sequence_tables(self.db.sequences(c),
                                                                                     self.n_segments)}

    @property
    def num_classes(self):
        return len(self.classes)

    def draw(self, per_class, rng):
        """Provenance and labels of ``per_class`` fused videos of every fusable class, the classes in turn.

        Args:
            per_class: S >= 0, fused videos per class.
            rng: a ``numpy.random.Generator`` (``epoch_rng(seed, epoch)``).
        Returns:
            dict of int64: source_rows, source_segments, segment_labels, states (-1 padded) [V, N] and
            video_label [V], V = S * num_classes; video v is of class ``classes[v % num_classes]``.
        """
        if isinstance(per_class, (bool, np.bool_)) or not isinstance(per_class, (int, np.integer)) or per_class < 0:
            raise ValueError(f"SMB: per_class must be an int >= 0 (fused videos per class), found {per_class!r}")
        n, count = self.n_segments, self.num_classes
        out = {key: np.empty((per_class * count, n), np.int64) for key in KEYS if key != "video_label"}
        out["video_label"] = np.repeat(self.classes[None], per_class, 0).reshape(-1)
        for i, (c, table) in enumerate(zip(self.classes, self._tables)):
            at = slice(i, None, count)
            k = rng.choice(len(table["probabilities"]), size=per_class, p=table["probabilities"])
            states = table["states"][k]
            real = states >= 0
            # One uniform instance per state of the sequence (Algorithm 1, line 8).
            cell = np.maximum(states, 0)
            counts = np.where(real, self.db.counts[c][cell], 1)
            pick = np.where(real, self.db.offsets[c][cell] + rng.integers(0, counts), 0)
            seg_state = table["seg_state"][k]
            out["source_rows"][at] = np.take_along_axis(self.db.rows[pick], seg_state, 1)
            out["source_segments"][at] = np.take_along_axis(self.db.starts[pick], seg_state, 1) + table["seg_offset"][k]
            out["segment_labels"][at] = np.where(table["seg_fg"][k], c, self.db.background)
            out["states"][at] = states
        return out

