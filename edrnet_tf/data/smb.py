"""SMB video fusion as tf.data graph ops: fused videos made on the fly, a fresh set every epoch.

Rao et al., AAAI 2022, Algorithm 1 (SMB intra-class video fusion) with the states of Table 1 and the
state machine of Fig. 4 as docs/design.md "SMB state machine" reads it (see ``smb_states``). The machine's valid state
sequences are enumerated once in Python; in the graph a fused video is drawn in three steps, all
TensorFlow ops: a state sequence of its class (``tf.random.stateless_categorical`` over the enumerated
sequences, weighted by the database's sequence rule: the step-wise uniform rule by default), one random
instance per state from the class's state database (Algorithm 1, line 8), and the segments' audio and
visual features gathered by (source row, source segment) from the training features held once in memory
as ``tf.Variable``s.
"""

import numpy as np
import tensorflow as tf

from edrnet_tf import ave
from edrnet_tf.data.smb_states import NUM_STATES, STATE_NAMES, StateDatabase, enumerate_sequences, sequence_tables

__all__ = ["STATE_NAMES", "StateDatabase", "enumerate_sequences", "fused_dataset", "hold_features",
           "smb_training_dataset"]

_SPEC_BATCH = 256  # fused videos whose indices are drawn by one vectorized sampling call
_CHUNK_BYTES = 1 << 26  # rows copied at a time into the held features
_TRAIN_KEYS = ("audio", "visual", "segment_labels", "video_label")


class _Sampler:
    """Graph tables of one StateDatabase and the vectorized draw of fused-video provenance."""

    def __init__(self, db):
        classes = db.fusable_classes()
        sequences = enumerate_sequences(db.n_segments)  # every class's sequences are among these
        index = {seq: k for k, seq in enumerate(sequences)}
        n = db.n_segments
        tables = sequence_tables(sequences, n)
        logits = np.full((len(classes), len(sequences)), -np.inf, np.float32)
        for i, c in enumerate(classes):
            with np.errstate(divide="ignore"):  # a sequence of probability 0 ("labels" rule) gets -inf
                logits[i, [index[seq] for seq in db.sequences(c)]] = np.log(db.sequence_probabilities(c))
        self.num_classes = len(classes)
        self.n_segments = n
        self.background = db.background
        self.classes = tf.constant(classes, tf.int64)
        self.logits = tf.constant(logits)
        self.states = tf.constant(tables["states"])
        self.seg_state = tf.constant(tables["seg_state"])
        self.seg_offset = tf.constant(tables["seg_offset"])
        self.seg_fg = tf.constant(tables["seg_fg"])
        self.offsets = tf.constant(db.offsets[classes].reshape(-1))
        self.counts = tf.constant(db.counts[classes].reshape(-1))
        self.rows = tf.constant(db.rows)
        self.starts = tf.constant(db.starts)

    def draw(self, class_index, seed):
        """Provenance and labels of ``len(class_index)`` fused videos (Algorithm 1, lines 5-9).

        Args:
            class_index: int64 [B], positions in ``self.classes``.
            seed: int64 [2], the stateless seed of this draw.
        Returns:
            dict of int64: source_rows, source_segments, segment_labels, states (-1 padded) [B, N];
            video_label [B].
        """
        seq_seed, inst_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        k = tf.random.stateless_categorical(tf.gather(self.logits, class_index), 1, seq_seed, dtype=tf.int64)[:, 0]
        states = tf.gather(self.states, k)
        real = states >= 0
        cell = class_index[:, None] * NUM_STATES + tf.maximum(states, 0)
        # One uniform instance per state of the sequence.
        u = tf.random.stateless_uniform(tf.shape(states), inst_seed, minval=None, maxval=None, dtype=tf.int64)
        pick = tf.gather(self.offsets, cell) + tf.math.floormod(u, tf.maximum(tf.gather(self.counts, cell), 1))
        pick = tf.where(real, pick, 0)
        seg_state = tf.gather(self.seg_state, k)
        video_label = tf.gather(self.classes, class_index)
        return {
            "source_rows": tf.gather(tf.gather(self.rows, pick), seg_state, batch_dims=1),
            "source_segments": tf.gather(tf.gather(self.starts, pick), seg_state, batch_dims=1)
            + tf.gather(self.seg_offset, k),
            "segment_labels": tf.where(tf.gather(self.seg_fg, k), video_label[:, None],
                                       tf.constant(self.background, tf.int64)),
            "video_label": video_label,
            "states": states,
        }

    def dataset(self, per_class, seed):
        """Unbatched provenance of fused videos: classes in turn, endless or ``per_class`` each."""
        count = tf.data.Dataset.counter() if per_class is None else tf.data.Dataset.range(per_class * self.num_classes)
        class_index = count.map(lambda i: i % self.num_classes).batch(_SPEC_BATCH)
        # Fresh seeds on every iteration (epoch), the same sequence of them for the same seed.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        return tf.data.Dataset.zip(class_index, seeds).map(self.draw).unbatch()


def _check_per_class(per_class, allow_none):
    if per_class is None and allow_none:
        return None
    if isinstance(per_class, (bool, np.bool_)) or not isinstance(per_class, (int, np.integer)) or per_class < 0:
        expected = "None or an int >= 0" if allow_none else "an int >= 0"
        raise ValueError(f"SMB: per_class must be {expected} (fused videos per class), found {per_class!r}")
    return int(per_class)


def hold_features(features, name="features"):
    """The training features as one non-trainable CPU ``tf.Variable``, the copy every SMB gather reads.

    The copy is filled in chunks of about 64 MB, so holding it needs little more than the Variable
    itself on top of the input (a plain ``tf.Variable(array)`` briefly needs two more copies).
    A ``tf.Variable`` is returned as it is.
    """
    if isinstance(features, tf.Variable):
        return features
    shape = tuple(features.shape)
    step = max(1, _CHUNK_BYTES // max(1, 4 * int(np.prod(shape[1:], dtype=np.int64))))
    with tf.device("/CPU:0"):
        held = tf.Variable(tf.zeros(shape, tf.float32), trainable=False, name=f"smb_{name}")
        for i in range(0, shape[0], step):
            chunk = np.asarray(features[i:i + step], np.float32)
            held.scatter_update(tf.IndexedSlices(chunk, tf.range(i, i + len(chunk))))
    return held


def _hold(name, features, rows, n_segments):
    shape = tuple(features.shape)
    if len(shape) < 3 or shape[:2] != (rows, n_segments):
        raise ValueError(f"SMB: {name} must be [{rows}, {n_segments}, ...] (videos, segments, features), "
                         f"found shape {shape}")
    return hold_features(features, name)


def _gather_features(audio, visual):
    def gather(spec):
        index = tf.stack([spec["source_rows"], spec["source_segments"]], axis=-1)
        return {"audio": tf.gather_nd(audio, index), "visual": tf.gather_nd(visual, index), **spec}
    return gather


def _keep_alive(dataset, *variables):
    # The dataset's functions capture the Variables' handles; keep the Python objects (whose deletion
    # frees the resources) alive as long as the dataset or anything built on it.
    dataset._smb_variables = variables
    return dataset


def fused_dataset(db, audio, visual, per_class=None, seed=0):
    """SMB fused videos of every class with training videos, balanced over classes (Algorithm 1).

    Args:
        db: the ``StateDatabase`` of the training split whose rows ``audio`` and ``visual`` hold.
        audio, visual: float32 [M, N, ...] training features: NumPy (copied once by ``hold_features``)
            or a ``tf.Variable`` from ``hold_features`` to share features already held.
        per_class: None for an endless stream (the classes in turn), or S for exactly S per class.
        seed: the same seed gives the same videos; each new iteration (epoch) gives new ones.
    Returns:
        unbatched ``tf.data.Dataset`` of dicts: audio [N, ...], visual [N, ...] float32;
        segment_labels [N], video_label [], source_rows [N], source_segments [N] (the training row and
        segment each fused segment was copied from) and states [N] (state ids of ``STATE_NAMES``,
        padded with -1), all int64.
    """
    per_class = _check_per_class(per_class, allow_none=True)
    audio = _hold("audio", audio, db.num_rows, db.n_segments)
    visual = _hold("visual", visual, db.num_rows, db.n_segments)
    specs = _Sampler(db).dataset(per_class, seed)
    fused = specs.map(_gather_features(audio, visual), num_parallel_calls=tf.data.AUTOTUNE)
    return _keep_alive(fused, audio, visual)


def smb_training_dataset(train_arrays, per_class, seed=0, background=ave.BACKGROUND, sequence_rule="machine"):
    """The SMB-augmented training set: the original videos plus ``per_class`` fused videos per class.

    As in the paper (Implementation Details, S = 250), the fused videos come from the training split
    only; here a fresh set of them is drawn on every iteration (epoch). Originals and fused videos
    are gathered from the same in-memory features, and come out shuffled together (the order changes
    every epoch; only small indices are shuffled, so no feature buffer is needed for it).

    Args:
        train_arrays: dict of NumPy arrays as ``edrnet_tf.data.pipeline.split_arrays`` returns:
            audio [M, N, 128], visual [M, N, 7, 7, 512] float32, segment_labels [M, N], video_label [M].
            The features are copied once by ``hold_features`` (or given as its Variables); drop your
            own references to the NumPy features to keep one copy in memory.
        per_class: S, fused videos per class and epoch; 0 gives the originals only.
        seed: shuffling and fusion seed.
        sequence_rule: how state sequences are weighted, ``smb_states.SEQUENCE_RULES`` ("machine" or "labels").
    Returns:
        unbatched ``tf.data.Dataset`` of dicts {audio, visual, segment_labels, video_label} (int64 labels).
    """
    missing = [k for k in _TRAIN_KEYS if k not in train_arrays]
    if missing:
        raise ValueError(f"SMB: train_arrays lacks {missing}; expected the keys {list(_TRAIN_KEYS)}")
    per_class = _check_per_class(per_class, allow_none=False)
    labels = np.asarray(train_arrays["segment_labels"])
    videos = np.asarray(train_arrays["video_label"])
    db = StateDatabase.from_labels(labels, videos, background, sequence_rule)
    audio = _hold("audio", train_arrays["audio"], db.num_rows, db.n_segments)
    visual = _hold("visual", train_arrays["visual"], db.num_rows, db.n_segments)
    label_table = tf.constant(labels.astype(np.int64))
    video_table = tf.constant(videos.astype(np.int64))
    segments = tf.range(db.n_segments, dtype=tf.int64)

    def original(row):
        return {
            "source_rows": tf.fill([db.n_segments], row),
            "source_segments": segments,
            "segment_labels": tf.gather(label_table, row),
            "video_label": tf.gather(video_table, row),
        }

    specs = tf.data.Dataset.range(db.num_rows).map(original)
    total = db.num_rows
    if per_class:
        sampler = _Sampler(db)
        fused = sampler.dataset(per_class, seed).map(
            lambda spec: {k: spec[k] for k in ("source_rows", "source_segments", "segment_labels", "video_label")})
        specs = specs.concatenate(fused)
        total += per_class * sampler.num_classes
    specs = specs.shuffle(total, seed=seed, reshuffle_each_iteration=True)
    gather = _gather_features(audio, visual)
    examples = specs.map(lambda spec: {k: v for k, v in gather(spec).items() if k in _TRAIN_KEYS},
                         num_parallel_calls=tf.data.AUTOTUNE)
    return _keep_alive(examples, audio, visual)
