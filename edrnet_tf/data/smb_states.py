"""SMB video fusion, the NumPy half: the 8 states of Table 1, the state machine, the state databases.

Rao et al., AAAI 2022, "State Machine Based Video Fusion": Table 1 (search & extraction patterns),
Fig. 4 (the state machine; read as in docs/design.md "SMB state machine", since the figure is not in our text) and
Algorithm 1 lines 1-3 (one database per state, built from the training videos of one class).
Everything here runs once, before training, in plain Python/NumPy; ``smb.py`` turns it into graph ops.
"""

import dataclasses
import functools

import numpy as np

from edrnet_tf import ave

# State ids, in Table 1 order. An instance of a state is ``STATE_LENGTHS[s]`` consecutive segments.
BG_1, BG_2, START_1, START_2, CONTINUE_1, CONTINUE_2, END_1, END_2 = range(8)
STATE_NAMES = ("BG_1", "BG_2", "START_1", "START_2", "CONTINUE_1", "CONTINUE_2", "END_1", "END_2")
NUM_STATES = len(STATE_NAMES)
# The labels of the extracted (bracketed) segments of each state, Table 1: False = BG, True = FG.
STATE_FOREGROUND = (
    (False,), (False, False), (True,), (False, True), (True,), (True, True), (True,), (True, False),
)
STATE_LENGTHS = tuple(len(f) for f in STATE_FOREGROUND)

# The state machine (docs/design.md "SMB state machine"). START_1 can only come first; END_1 has no successor, so it
# can only come last (it is extracted at t = N-1 only).
FIRST_STATES = (BG_1, BG_2, START_1, START_2)
NEXT_STATES = {
    BG_1: (BG_1, BG_2, START_2),
    BG_2: (BG_1, BG_2, START_2),
    END_2: (BG_1, BG_2, START_2),
    START_1: (CONTINUE_1, CONTINUE_2, END_2),
    START_2: (CONTINUE_1, CONTINUE_2, END_1, END_2),
    CONTINUE_1: (CONTINUE_1, CONTINUE_2, END_1, END_2),
    CONTINUE_2: (CONTINUE_1, CONTINUE_2, END_1, END_2),
    END_1: (),
}
FINAL_STATES = (BG_1, BG_2, END_1, END_2)
EVENT_STATES = (START_1, START_2, CONTINUE_1, CONTINUE_2, END_1, END_2)
# How a class's state sequences are weighted (sequence_probabilities): the machine's step-wise uniform rule, or
# label patterns as frequent as in the class's training videos (docs/smb.md).
SEQUENCE_RULES = ("machine", "labels")


def enumerate_sequences(n_segments=ave.N_SEGMENTS, states=None, include_background_only=False):
    """Every state sequence the machine admits for ``n_segments``, as tuples of state ids, sorted.

    A sequence starts in ``FIRST_STATES``, follows ``NEXT_STATES``, ends in ``FINAL_STATES``, covers
    exactly ``n_segments`` segments and (unless ``include_background_only``) holds at least one event
    state. ``states`` restricts the machine to a subset of states (those whose database is not empty).
    For N = 10: 679 sequences with an event (116 distinct label patterns) and 89 all-background ones.
    """
    if n_segments < 1:
        raise ValueError(f"SMB: n_segments must be >= 1, found {n_segments}")
    allowed = frozenset(range(NUM_STATES) if states is None else states)
    return _enumerate(int(n_segments), allowed, bool(include_background_only))


@functools.lru_cache(maxsize=None)
def _enumerate(n_segments, allowed, include_background_only):
    found = []

    def extend(prefix, covered, options):
        for s in options:
            if s not in allowed or covered + STATE_LENGTHS[s] > n_segments:
                continue
            seq, total = prefix + (s,), covered + STATE_LENGTHS[s]
            if total == n_segments:
                if s in FINAL_STATES and (include_background_only or any(t in EVENT_STATES for t in seq)):
                    found.append(seq)
            else:
                extend(seq, total, NEXT_STATES[s])

    extend((), 0, FIRST_STATES)
    return tuple(sorted(found))


def sequence_probabilities(sequences, pattern_counts=None):
    """The probability of each of ``sequences`` under a sequence rule (docs/design.md "SMB state machine").

    ``"machine"`` (``pattern_counts`` None): the step-wise uniform rule. At each step the machine picks
    uniformly among the states that continue the current prefix into some sequence of ``sequences`` (the
    valid, completable ones), so a sequence's probability is the product over its steps of 1 / (number of
    such choices).

    ``"labels"`` (``pattern_counts``, {foreground pattern: training videos}): the fused videos' label
    patterns follow the training videos'. Each pattern the sequences can make gets its share of the videos
    whose pattern it is (patterns the machine cannot make are left out), split over the sequences that make
    it in proportion to the step-wise rule.

    Returns float64 [len(sequences)], sum 1.
    """
    choices = {}
    for seq in sequences:
        for i in range(len(seq)):
            choices.setdefault(seq[:i], set()).add(seq[i])
    probs = np.array([np.prod([1.0 / len(choices[seq[:i]]) for i in range(len(seq))]) for seq in sequences])
    if pattern_counts is None:
        return probs
    patterns = [label_pattern(seq) for seq in sequences]
    within = {}
    for pattern, p in zip(patterns, probs):
        within[pattern] = within.get(pattern, 0.0) + p
    made = sum(pattern_counts.get(pattern, 0) for pattern in within)
    if not made:
        raise ValueError("SMB: none of the training videos' label patterns can be made by the state machine")
    return np.array([pattern_counts.get(pattern, 0) / made * p / within[pattern]
                     for pattern, p in zip(patterns, probs)])


def label_pattern(sequence):
    """The foreground/background pattern (tuple of bool, one per segment) of a state ``sequence``."""
    return tuple(fg for s in sequence for fg in STATE_FOREGROUND[s])


def sequence_tables(sequences, n_segments):
    """The segment-wise tables of state ``sequences``, each [K, n_segments]: ``states`` (the sequence, -1
    padded), ``seg_state`` (which state of the sequence holds segment t), ``seg_offset`` (t's position inside
    that state's instance) and ``seg_fg`` (whether t is foreground)."""
    states = np.full((len(sequences), n_segments), -1, np.int64)
    seg_state = np.zeros((len(sequences), n_segments), np.int64)
    seg_offset = np.zeros((len(sequences), n_segments), np.int64)
    seg_fg = np.zeros((len(sequences), n_segments), bool)
    for k, seq in enumerate(sequences):
        states[k, :len(seq)] = seq
        t = 0
        for j, s in enumerate(seq):
            for o in range(STATE_LENGTHS[s]):
                seg_state[k, t], seg_offset[k, t], seg_fg[k, t] = j, o, STATE_FOREGROUND[s][o]
                t += 1
    return {"states": states, "seg_state": seg_state, "seg_offset": seg_offset, "seg_fg": seg_fg}


def _pattern_counts(foreground):
    """{pattern: rows} of a [M, N] bool array."""
    patterns, counts = np.unique(foreground, axis=0, return_counts=True)
    return {tuple(bool(x) for x in pattern): int(count) for pattern, count in zip(patterns, counts)}


def _class_name(c, background):
    names = ave.event_names() if background == ave.BACKGROUND else ()
    return f"class {c} ({names[c]})" if c < len(names) else f"class {c}"


@dataclasses.dataclass(frozen=True)
class StateDatabase:
    """Per class and per state, the state instances of the training videos (Algorithm 1, lines 1-3).

    An instance is an index triple (source row, first segment, length = ``STATE_LENGTHS[state]``) into
    the training arrays, never a copy of features. The instances of (class c, state s) are
    ``rows[o:o+n]``, ``starts[o:o+n]`` with ``o = offsets[c, s]``, ``n = counts[c, s]``.

    Attributes:
        rows, starts: int64 [T], all instances, grouped by (class, state).
        offsets, counts: int64 [num_classes, 8].
        video_labels: int64 [M], the class of each training row.
        num_videos: int64 [num_classes], training videos per event class.
        n_segments: N.
        background: the background label (also the number of event classes).
        patterns: per event class, {foreground pattern (tuple of bool): training videos with it}.
        sequence_rule: one of ``SEQUENCE_RULES``, how ``sequence_probabilities(c)`` weights the sequences.
    """

    rows: np.ndarray
    starts: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray
    video_labels: np.ndarray
    num_videos: np.ndarray
    n_segments: int
    background: int
    patterns: tuple
    sequence_rule: str = "machine"

    @classmethod
    def from_labels(cls, segment_labels, video_labels, background=ave.BACKGROUND, sequence_rule="machine"):
        """Finds every state instance of Table 1 in the labelled training videos.

        A segment is FG when its label is the video's class and BG when it is ``background``; a state
        instance is extracted wherever the state's complete search pattern matches:
        BG_1 [B]; BG_2 [B,B]; START_1 [F] at t=0; START_2 [B,F]; CONTINUE_1 F,[F],F;
        CONTINUE_2 F,[F,F],F; END_1 [F] at t=N-1; END_2 [F,B].

        Videos labelled ``background`` (the background-only videos of the weakly supervised set) hold
        no event class and give no instances.

        Args:
            segment_labels: int [M, N], labels in [0, background].
            video_labels: int [M], labels in [0, background].
            sequence_rule: "machine" (the step-wise uniform rule) or "labels" (label patterns as in the
                training videos); see ``sequence_probabilities``.
        """
        if sequence_rule not in SEQUENCE_RULES:
            raise ValueError(f"SMB: sequence_rule must be one of {', '.join(SEQUENCE_RULES)}, found {sequence_rule!r}")
        seg = np.asarray(segment_labels)
        vid = np.asarray(video_labels)
        if seg.ndim != 2 or seg.shape[1] < 1:
            raise ValueError(f"SMB: segment_labels must be [videos, segments], found shape {seg.shape}")
        if vid.shape != (seg.shape[0],):
            raise ValueError(f"SMB: video_labels must be [{seg.shape[0]}] (one per video), found shape {vid.shape}")
        if not (np.issubdtype(seg.dtype, np.integer) and np.issubdtype(vid.dtype, np.integer)):
            raise ValueError(f"SMB: labels must be integers, found {seg.dtype} and {vid.dtype}")
        if seg.size and (seg.min() < 0 or seg.max() > background):
            raise ValueError(f"SMB: segment labels must lie in [0, {background}], found {seg.min()}..{seg.max()}")
        if vid.size and (vid.min() < 0 or vid.max() > background):
            bad = int(np.flatnonzero((vid < 0) | (vid > background))[0])
            raise ValueError(f"SMB: video_labels must lie in [0, {background}], row {bad} has {vid[bad]}")
        n = seg.shape[1]
        fg = seg == vid[:, None]
        bg = seg == background
        # hits[s][m, t]: state s has an instance starting at segment t of row m.
        hits = [np.zeros_like(fg) for _ in range(NUM_STATES)]
        hits[BG_1][:] = bg
        hits[BG_2][:, :-1] = bg[:, :-1] & bg[:, 1:]
        hits[START_1][:, 0] = fg[:, 0]
        hits[START_2][:, :-1] = bg[:, :-1] & fg[:, 1:]
        hits[CONTINUE_1][:, 1:-1] = fg[:, :-2] & fg[:, 1:-1] & fg[:, 2:]
        hits[CONTINUE_2][:, 1:-2] = fg[:, :-3] & fg[:, 1:-2] & fg[:, 2:-1] & fg[:, 3:]
        hits[END_1][:, n - 1] = fg[:, n - 1]
        hits[END_2][:, :-1] = fg[:, :-1] & bg[:, 1:]
        rows, starts = [], []
        counts = np.zeros((background, NUM_STATES), np.int64)
        for c in range(background):
            in_class = (vid == c)[:, None]
            for s in range(NUM_STATES):
                r, t = np.nonzero(hits[s] & in_class)
                rows.append(r)
                starts.append(t)
                counts[c, s] = r.size
        offsets = np.concatenate([[0], np.cumsum(counts.ravel())[:-1]]).reshape(counts.shape)
        return cls(
            rows=np.concatenate(rows).astype(np.int64),
            starts=np.concatenate(starts).astype(np.int64),
            offsets=offsets.astype(np.int64),
            counts=counts,
            video_labels=vid.astype(np.int64),
            num_videos=np.bincount(vid[vid < background], minlength=background).astype(np.int64),
            n_segments=n,
            background=background,
            patterns=tuple(_pattern_counts(fg[vid == c]) for c in range(background)),
            sequence_rule=sequence_rule,
        )

    @property
    def num_rows(self):
        return self.video_labels.shape[0]

    def instances(self, c, state):
        """The instances of ``state`` for class ``c``: int64 [K, 3] of (source row, first segment, length)."""
        o, k = self.offsets[c, state], self.counts[c, state]
        return np.stack([self.rows[o:o + k], self.starts[o:o + k], np.full(k, STATE_LENGTHS[state])], axis=1)

    def available_states(self, c):
        """The states whose database for class ``c`` is not empty."""
        return tuple(s for s in range(NUM_STATES) if self.counts[c, s] > 0)

    def sequences(self, c):
        """The state sequences the machine can produce for class ``c`` (its non-empty states only)."""
        return enumerate_sequences(self.n_segments, self.available_states(c))

    def sequence_probabilities(self, c):
        """The probabilities of ``sequences(c)`` under ``sequence_rule`` (module function of that name)."""
        counts = self.patterns[c] if self.sequence_rule == "labels" else None
        return sequence_probabilities(self.sequences(c), counts)

    def fusable_classes(self):
        """The classes with training videos; raises if one of them cannot complete any sequence."""
        classes = [int(c) for c in np.flatnonzero(self.num_videos)]
        if not classes:
            raise ValueError("SMB: no training video holds an event, so there is nothing to fuse")
        for c in classes:
            if not self.sequences(c):
                have = ", ".join(STATE_NAMES[s] for s in self.available_states(c)) or "none"
                raise ValueError(
                    f"SMB: {_class_name(c, self.background)} has {self.num_videos[c]} training videos but no "
                    f"complete {self.n_segments}-segment state sequence can be built from its states (found: {have})")
        return classes
