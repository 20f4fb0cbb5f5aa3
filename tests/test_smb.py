"""SMB video fusion (paper Table 1, Algorithm 1; docs/design.md#smb-state-machine-fig-4), checked against references written here."""

import gc
import itertools

import numpy as np
import pytest
import tensorflow as tf

from edrnet_tf.data import smb
from edrnet_tf.data.smb_states import sequence_probabilities

B = 28  # background label
N = 10
# Table 1, written out again: state -> (segment labels of the extracted instance, search context before/after).
TABLE1 = {
    "BG_1": ("B", "", ""), "BG_2": ("BB", "", ""), "START_1": ("F", "^", ""), "START_2": ("BF", "", ""),
    "CONTINUE_1": ("F", "F", "F"), "CONTINUE_2": ("FF", "F", "F"), "END_1": ("F", "", "$"), "END_2": ("FB", "", ""),
}
# docs/design.md#smb-state-machine-fig-4, written out again.
FIRST = {"BG_1", "BG_2", "START_1", "START_2"}
AFTER = {
    "BG_1": {"BG_1", "BG_2", "START_2"}, "BG_2": {"BG_1", "BG_2", "START_2"}, "END_2": {"BG_1", "BG_2", "START_2"},
    "START_1": {"CONTINUE_1", "CONTINUE_2", "END_2"},
    "START_2": {"CONTINUE_1", "CONTINUE_2", "END_1", "END_2"},
    "CONTINUE_1": {"CONTINUE_1", "CONTINUE_2", "END_1", "END_2"},
    "CONTINUE_2": {"CONTINUE_1", "CONTINUE_2", "END_1", "END_2"},
    "END_1": set(),
}
LAST = {"BG_1", "BG_2", "END_1", "END_2"}


def obeys_machine(names, n=N):
    """docs/design.md#smb-state-machine-fig-4: first/next/last states, exactly n segments, at least one event."""
    if not names or names[0] not in FIRST or names[-1] not in LAST:
        return False
    if any(b not in AFTER[a] for a, b in zip(names, names[1:])):
        return False
    if sum(len(TABLE1[s][0]) for s in names) != n:
        return False
    return "F" in "".join(TABLE1[s][0] for s in names)


def matches_table1(row_labels, cls, start, name):
    """Whether the state's full search pattern (Table 1) is found at ``start`` of a source video."""
    text = "".join("F" if l == cls else "B" if l == B else "?" for l in row_labels)
    core, before, after = TABLE1[name]
    if before == "^" and start != 0 or after == "$" and start + len(core) != len(text):
        return False
    lo = start - (len(before) if before not in ("^",) else 0)
    hi = start + len(core) + (len(after) if after not in ("$",) else 0)
    want = (before if before != "^" else "") + core + (after if after != "$" else "")
    return lo >= 0 and hi <= len(text) and text[lo:hi] == want


def make_split(classes=(0, 1, 2), extra=6, seed=0):
    """Labels of a tiny training split: per class, videos whose spans give every state, plus random spans."""
    rng = np.random.default_rng(seed)
    spans = []
    for c in classes:
        spans += [(c, 0, 10), (c, 0, 4), (c, 4, 10), (c, 3, 7)]
        for _ in range(extra):
            a = int(rng.integers(0, 9))
            spans.append((c, a, int(rng.integers(a + 2, 11))))
    seg = np.full((len(spans), N), B, np.int64)
    for m, (c, a, b) in enumerate(spans):
        seg[m, a:b] = c
    vid = np.array([c for c, _, _ in spans], np.int64)
    return seg, vid


def features(m, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, N, 3)).astype(np.float32), rng.standard_normal((m, N, 2, 2)).astype(np.float32)


def take(ds, batch=512):
    out = {}
    for b in ds.batch(batch).as_numpy_iterator():
        for k, v in b.items():
            out.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def split():
    seg, vid = make_split()
    audio, visual = features(len(vid))
    db = smb.StateDatabase.from_labels(seg, vid)
    fused = take(smb.fused_dataset(db, audio, visual, per_class=300, seed=7))
    return seg, vid, audio, visual, db, fused


# ---- the state machine ----------------------------------------------------------------------------------------

def count_by_transfer_matrix(n):
    """All sequences (with or without an event) the machine admits, by DP over (segments covered, last state)."""
    names = list(AFTER)
    ways = {}  # (covered, last) -> count
    for s in FIRST:
        ways[(len(TABLE1[s][0]), s)] = ways.get((len(TABLE1[s][0]), s), 0) + 1
    total = 0
    for covered in range(1, n + 1):
        for s in names:
            w = ways.get((covered, s), 0)
            if not w:
                continue
            if covered == n and s in LAST:
                total += w
            for t in AFTER[s]:
                key = (covered + len(TABLE1[t][0]), t)
                ways[key] = ways.get(key, 0) + w
    return total


def test_state_machine_admits_679_event_sequences_116_label_patterns_and_89_background_only_for_n10():
    names = smb.STATE_NAMES
    seqs = smb.enumerate_sequences(10)
    assert len(seqs) == 679
    assert all(obeys_machine([names[s] for s in seq]) for seq in seqs)
    with_bg = smb.enumerate_sequences(10, include_background_only=True)
    assert len(with_bg) - len(seqs) == 89
    assert count_by_transfer_matrix(10) == 679 + 89
    # Label patterns: >= 1 F, every F run >= 2 long, every B run between two events >= 2 long.
    patterns = {"".join(TABLE1[names[s]][0] for s in seq) for seq in seqs}
    expected = set()
    for bits in itertools.product("BF", repeat=10):
        text = "".join(bits)
        runs = [(k, len(list(g))) for k, g in itertools.groupby(text)]
        inner_b = [l for i, (k, l) in enumerate(runs) if k == "B" and 0 < i < len(runs) - 1]
        if "F" in text and all(l >= 2 for k, l in runs if k == "F") and all(l >= 2 for l in inner_b):
            expected.add(text)
    assert len(expected) == 116
    assert patterns == expected
    assert not any("FBF" in p for p in patterns)  # no single background segment between two events


def test_sequence_probabilities_follow_the_stepwise_uniform_rule():
    names = smb.STATE_NAMES
    allowed = {0, 1, 3, 4, 7}  # BG_1, BG_2, START_2, CONTINUE_1, END_2 only
    seqs = smb.enumerate_sequences(8, allowed)

    def completable(prefix):
        return any(s[:len(prefix)] == prefix for s in seqs)

    probs = sequence_probabilities(seqs)
    assert probs.sum() == pytest.approx(1.0)
    for seq, p in zip(seqs, probs):
        expected = 1.0
        for i in range(len(seq)):
            last = names[seq[i - 1]] if i else None
            options = [s for s in allowed if (names[s] in FIRST if i == 0 else names[s] in AFTER[last])]
            expected /= sum(completable(seq[:i] + (s,)) for s in options)
        assert p == pytest.approx(expected)


def label_text(seq):
    """The B/F text of a state sequence, from TABLE1 above."""
    return "".join(TABLE1[smb.STATE_NAMES[s]][0] for s in seq)


def text_of(labels, c):
    """The B/F text of one video's segment labels, for its class c."""
    return "".join("F" if l == c else "B" for l in labels)


def class_patterns(seg, vid, c):
    """{B/F text: training videos} of class c."""
    texts = [text_of(row, c) for row in seg[vid == c]]
    return {t: texts.count(t) for t in set(texts)}


def test_labels_rule_gives_each_label_pattern_its_share_of_the_training_videos_split_by_the_machine():
    seg, vid = make_split(extra=12, seed=3)
    machine = smb.StateDatabase.from_labels(seg, vid)
    labels = smb.StateDatabase.from_labels(seg, vid, sequence_rule="labels")
    for c in (0, 1, 2):
        seqs = labels.sequences(c)
        probs, stepwise = labels.sequence_probabilities(c), machine.sequence_probabilities(c)
        np.testing.assert_array_equal(stepwise, sequence_probabilities(seqs))
        texts = [label_text(q) for q in seqs]
        real = class_patterns(seg, vid, c)
        made = {t: n for t, n in real.items() if t in texts}
        assert sum(made.values()) >= 0.9 * sum(real.values())  # the machine makes (nearly) every real pattern
        assert probs.sum() == pytest.approx(1.0)
        for text in set(texts):
            mine = [k for k, t in enumerate(texts) if t == text]
            assert probs[mine].sum() == pytest.approx(made.get(text, 0) / sum(made.values()))
            if made.get(text):  # within a pattern, the step-wise rule's proportions
                np.testing.assert_allclose(probs[mine] / probs[mine].sum(), stepwise[mine] / stepwise[mine].sum())


def test_labels_rule_fused_videos_have_the_label_patterns_of_the_training_videos():
    seg, vid = make_split(extra=12, seed=3)
    audio, visual = features(len(vid))
    db = smb.StateDatabase.from_labels(seg, vid, sequence_rule="labels")
    fused = take(smb.fused_dataset(db, audio, visual, per_class=2000, seed=1), batch=4096)
    for c in (0, 1, 2):
        real = class_patterns(seg, vid, c)
        got = [text_of(row, c) for row in fused["segment_labels"][fused["video_label"] == c]]
        assert set(got) <= set(real)
        made = {t: n for t, n in real.items() if t in set(label_text(q) for q in db.sequences(c))}
        for text, n in made.items():  # each pattern's share within 4 standard errors
            share, want = got.count(text) / len(got), n / sum(made.values())
            assert abs(share - want) <= 4 * np.sqrt(want * (1 - want) / len(got)) + 1e-9, (c, text)


def test_training_set_with_the_labels_rule_fuses_only_training_label_patterns():
    seg, vid = make_split(extra=0)  # per class the patterns 0-10, 0-4, 4-10 and 3-7 s
    audio, visual = features(len(vid))
    arrays = {"audio": audio, "visual": visual, "segment_labels": seg, "video_label": vid}

    def texts(rule):
        out = take(smb.smb_training_dataset(arrays, 200, seed=2, sequence_rule=rule))
        return {text_of(row, c) for row, c in zip(out["segment_labels"], out["video_label"])}

    real = {text_of(row, c) for row, c in zip(seg, vid)}
    assert texts("labels") == real and len(texts("machine")) > len(real)


def test_an_unknown_sequence_rule_is_refused_in_one_line():
    seg, vid = make_split(classes=(0,), extra=0)
    with pytest.raises(ValueError, match=r"^SMB: sequence_rule must be one of machine, labels, found 'data'$"):
        smb.StateDatabase.from_labels(seg, vid, sequence_rule="data")


# ---- state databases (Table 1) ----------------------------------------------------------------------------------

def test_state_database_holds_every_table1_instance_as_indices(split):
    seg, vid, _, _, db, _ = split
    names = smb.STATE_NAMES
    for c in range(3):
        for s, name in enumerate(names):
            got = {(int(r), int(t)) for r, t, length in db.instances(c, s)}
            assert all(length == len(TABLE1[name][0]) for _, _, length in db.instances(c, s))
            want = {(m, t) for m in np.flatnonzero(vid == c) for t in range(N) if matches_table1(seg[m], c, t, name)}
            assert got == want and got, (c, name)
    assert not db.instances(5, 0).size  # a class without training videos has empty databases


# ---- fused videos -----------------------------------------------------------------------------------------------

def test_every_fused_video_obeys_the_machine_and_its_labels_follow_its_states(split):
    seg, vid, _, _, _, fused = split
    names = smb.STATE_NAMES
    for states, labels, rows, segs, c in zip(fused["states"], fused["segment_labels"], fused["source_rows"],
                                             fused["source_segments"], fused["video_label"]):
        seq = [names[s] for s in states if s >= 0]
        assert (states[len(seq):] == -1).all()
        assert obeys_machine(seq)
        pattern = "".join(TABLE1[s][0] for s in seq)
        assert "".join("F" if l == c else "B" if l == B else "?" for l in labels) == pattern
        t = 0
        for name in seq:  # each state is one instance: consecutive segments of one source, matching Table 1
            length = len(TABLE1[name][0])
            assert len(set(rows[t:t + length])) == 1
            assert list(segs[t:t + length]) == list(range(segs[t], segs[t] + length))
            assert matches_table1(seg[rows[t]], c, segs[t], name), (name, rows[t], segs[t])
            t += length
        assert (vid[rows] == c).all()  # all sources are training videos of the same class


def test_fused_segments_equal_the_source_segments_named_by_their_provenance(split):
    _, _, audio, visual, _, fused = split
    np.testing.assert_array_equal(fused["audio"], audio[fused["source_rows"], fused["source_segments"]])
    np.testing.assert_array_equal(fused["visual"], visual[fused["source_rows"], fused["source_segments"]])


def test_all_eight_states_occur_and_classes_are_balanced(split):
    *_, fused = split
    assert set(np.unique(fused["states"])) == set(range(-1, 8))
    assert np.bincount(fused["video_label"]).tolist() == [300, 300, 300]


def test_first_states_are_drawn_with_the_machine_probabilities(split):
    *_, db, fused = split
    seqs = db.sequences(0)
    p_first = {}
    for seq, p in zip(seqs, sequence_probabilities(seqs)):
        p_first[seq[0]] = p_first.get(seq[0], 0.0) + p
    assert p_first == {s: pytest.approx(0.25) for s in range(4)}  # the four first states are all completable
    first = fused["states"][:, 0]
    freq = np.bincount(first, minlength=8)[:4] / len(first)
    np.testing.assert_allclose(freq, 0.25, atol=0.05)


def test_endless_stream_takes_the_classes_in_turn():
    seg, vid = make_split(classes=(4, 9), extra=1)
    audio, visual = features(len(vid))
    db = smb.StateDatabase.from_labels(seg, vid)
    labels = take(smb.fused_dataset(db, audio, visual, seed=0).take(600))["video_label"]
    assert labels.tolist() == [4, 9] * 300


def test_same_seed_gives_the_same_videos_and_each_epoch_a_fresh_set(split):
    seg, vid, audio, visual, db, _ = split
    first = smb.fused_dataset(db, audio, visual, per_class=20, seed=3)
    gc.collect()  # the held features outlive every reference but the dataset's
    a, again = take(first), take(first)
    b = take(smb.fused_dataset(db, audio, visual, per_class=20, seed=3))
    other = take(smb.fused_dataset(db, audio, visual, per_class=20, seed=4))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["source_rows"], again["source_rows"])
    assert not np.array_equal(a["source_rows"], other["source_rows"])


def test_class_lacking_some_states_still_yields_valid_videos():
    # Class 2's events are all internal 2-segment runs: only BG_1, BG_2, START_2 and END_2 exist.
    seg, vid = make_split(classes=(0,), extra=2)
    inner = np.full((3, N), B, np.int64)
    for m, a in enumerate((2, 4, 6)):
        inner[m, a:a + 2] = 2
    seg, vid = np.concatenate([seg, inner]), np.concatenate([vid, [2, 2, 2]])
    audio, visual = features(len(vid))
    db = smb.StateDatabase.from_labels(seg, vid)
    assert db.available_states(2) == (0, 1, 3, 7)
    out = take(smb.fused_dataset(db, audio, visual, per_class=100, seed=0))
    mine = out["video_label"] == 2
    assert mine.sum() == 100
    names = smb.STATE_NAMES
    for states, rows, segs in zip(out["states"][mine], out["source_rows"][mine], out["source_segments"][mine]):
        seq = [names[s] for s in states if s >= 0]
        assert obeys_machine(seq) and set(seq) <= {"BG_1", "BG_2", "START_2", "END_2"}
        assert (vid[rows] == 2).all()
    np.testing.assert_array_equal(out["audio"], audio[out["source_rows"], out["source_segments"]])


def test_class_with_no_usable_instance_gives_a_one_line_error_naming_it():
    seg, vid = make_split(classes=(0,), extra=0)
    seg = np.concatenate([seg, np.full((2, N), B)])  # class 5: only background segments
    vid = np.concatenate([vid, [5, 5]])
    audio, visual = features(len(vid))
    db = smb.StateDatabase.from_labels(seg, vid)
    with pytest.raises(ValueError, match=r"class 5 \(Female speech, woman speaking\) has 2 training videos") as err:
        smb.fused_dataset(db, audio, visual, per_class=2)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"class 5 \(Female speech, woman speaking\) has 2 training videos"):
        smb.smb_training_dataset({"audio": audio, "visual": visual, "segment_labels": seg, "video_label": vid}, 2)


@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "audio": a["audio"][:-1]}, r"audio must be \[\d+, 10, \.\.\.\].*found shape"),
    (lambda a: {**a, "visual": a["visual"][:, :9]}, r"visual must be \[\d+, 10, \.\.\.\].*found shape"),
    (lambda a: {**a, "segment_labels": a["segment_labels"][:, 0]}, r"segment_labels must be \[videos, segments\]"),
    (lambda a: {**a, "video_label": a["video_label"][:-1]}, r"video_labels must be \[\d+\]"),
    (lambda a: {**a, "video_label": a["video_label"] + 29}, r"video_labels must lie in \[0, 28\], row 0 has 29"),
    (lambda a: {k: v for k, v in a.items() if k != "visual"}, r"lacks \['visual'\]"),
])
def test_wrong_inputs_give_one_line_errors(change, message):
    seg, vid = make_split(classes=(0,), extra=0)
    audio, visual = features(len(vid))
    arrays = {"audio": audio, "visual": visual, "segment_labels": seg, "video_label": vid}
    with pytest.raises(ValueError, match=message) as err:
        smb.smb_training_dataset(change(arrays), 2)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("per_class", [-1, 2.5, "250", True])
def test_bad_per_class_is_refused(per_class):
    seg, vid = make_split(classes=(0,), extra=0)
    audio, visual = features(len(vid))
    with pytest.raises(ValueError, match="per_class must be"):
        smb.smb_training_dataset({"audio": audio, "visual": visual, "segment_labels": seg, "video_label": vid},
                                 per_class)


# ---- the training set ---------------------------------------------------------------------------------------------

def test_training_set_is_the_originals_plus_s_fresh_fused_videos_per_class_with_pipeline_specs():
    seg, vid = make_split(classes=(0, 1), extra=0)
    m = len(vid)
    rng = np.random.default_rng(1)
    arrays = {"audio": rng.standard_normal((m, N, 128)).astype(np.float32),
              "visual": rng.standard_normal((m, N, 7, 7, 512)).astype(np.float32),
              "segment_labels": seg, "video_label": vid, "row": np.arange(m)}
    ds = smb.smb_training_dataset(arrays, per_class=5, seed=0)
    assert ds.element_spec == {
        "audio": tf.TensorSpec([N, 128], tf.float32), "visual": tf.TensorSpec([N, 7, 7, 512], tf.float32),
        "segment_labels": tf.TensorSpec([N], tf.int64), "video_label": tf.TensorSpec([], tf.int64)}
    epochs = [take(ds, batch=64) for _ in range(2)]
    flat = arrays["audio"].reshape(m * N, 128)
    for out in epochs:
        assert len(out["video_label"]) == m + 2 * 5
        # Each video is identified by its audio: an original is one row's audio, unchanged.
        original = [next((r for r in range(m) if np.array_equal(a, arrays["audio"][r])), None) for a in out["audio"]]
        assert sorted(r for r in original if r is not None) == list(range(m))
        fused = [i for i, r in enumerate(original) if r is None]
        assert np.bincount(out["video_label"][fused]).tolist() == [5, 5]
        for i in fused:  # every fused segment is some training segment of the same class, with matching label
            src = [np.flatnonzero((flat == a).all(axis=1))[0] for a in out["audio"][i]]
            rows, segs = np.divmod(src, N)
            assert (vid[rows] == out["video_label"][i]).all()
            np.testing.assert_array_equal(out["visual"][i], arrays["visual"][rows, segs])
            np.testing.assert_array_equal(out["segment_labels"][i], seg[rows, segs])
        for r in original:
            if r is not None:
                i = original.index(r)
                np.testing.assert_array_equal(out["segment_labels"][i], seg[r])
                assert out["video_label"][i] == vid[r]
    assert not np.array_equal(epochs[0]["audio"], epochs[1]["audio"])  # new order and new fused videos


def test_background_only_videos_stay_originals_and_are_never_fused():
    seg, vid = make_split(classes=(0,), extra=1)
    seg, vid = np.concatenate([seg, np.full((2, N), B)]), np.concatenate([vid, [B, B]])
    audio, visual = features(len(vid))
    db = smb.StateDatabase.from_labels(seg, vid)
    assert db.num_videos.sum() == len(vid) - 2 and not set(db.rows) & {len(vid) - 2, len(vid) - 1}
    out = take(smb.smb_training_dataset({"audio": audio, "visual": visual, "segment_labels": seg,
                                         "video_label": vid}, per_class=4, seed=0))
    assert len(out["video_label"]) == len(vid) + 4
    assert (out["video_label"] == B).sum() == 2
    assert np.bincount(out["video_label"])[0] == len(vid) - 2 + 4


def test_per_class_zero_gives_the_originals_only():
    seg, vid = make_split(classes=(0, 1), extra=1)
    audio, visual = features(len(vid))
    out = take(smb.smb_training_dataset({"audio": audio, "visual": visual, "segment_labels": seg,
                                         "video_label": vid}, per_class=0, seed=0))
    order = np.argsort(out["audio"][:, 0, 0])
    expected = np.argsort(audio[:, 0, 0])
    np.testing.assert_array_equal(out["audio"][order], audio[expected])
    np.testing.assert_array_equal(out["visual"][order], visual[expected])
    np.testing.assert_array_equal(out["segment_labels"][order], seg[expected])
    np.testing.assert_array_equal(out["video_label"][order], vid[expected])


def test_hold_features_copies_in_chunks_once_and_held_variables_are_shared(monkeypatch):
    monkeypatch.setattr(smb, "_CHUNK_BYTES", 100)  # several chunks, the last one short
    seg, vid = make_split(classes=(0,), extra=1)
    audio, visual = features(len(vid))
    held = smb.hold_features(visual)
    assert isinstance(held, tf.Variable) and not held.trainable
    np.testing.assert_array_equal(held.numpy(), visual)
    assert smb.hold_features(held) is held
    db = smb.StateDatabase.from_labels(seg, vid)
    out = take(smb.fused_dataset(db, smb.hold_features(audio), held, per_class=10, seed=0))
    np.testing.assert_array_equal(out["visual"], visual[out["source_rows"], out["source_segments"]])
