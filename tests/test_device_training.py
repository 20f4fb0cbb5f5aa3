"""Training at accelerator speed (issue 13): the TF-free data path (``data.arrays``), SMB provenance in NumPy
(``data.smb_sampler``) and the features resident on the device (``training.device_data``)."""

import collections
import os
import pathlib
import subprocess
import sys

import keras
import ml_dtypes
import numpy as np
import pytest
from scipy import stats

import test_smb
from edrnet_tf import EDRNet
from edrnet_tf.data import arrays, pipeline, smb
from edrnet_tf.data.smb_sampler import FusionSampler, epoch_rng
from edrnet_tf.data.smb_states import STATE_LENGTHS, StateDatabase
from edrnet_tf.model import losses
from edrnet_tf.training import device_data
from helpers import random_labels, tiny_config
from test_smb import make_split, take

TESTS = pathlib.Path(__file__).resolve().parent


def random_features(m, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, 10, 128)).astype(np.float32),
            rng.standard_normal((m, 10, 7, 7, 512)).astype(np.float32))


def numpy(x):
    return keras.ops.convert_to_numpy(x)


# ---- the TF-free data path ----------------------------------------------------------------------------------------

def test_configs_are_the_builder_configs():
    assert arrays.CONFIGS == pipeline.CONFIGS


@pytest.mark.parametrize("split, config", [("train", "supervised"), ("test", "corrected"),
                                           ("train", "weakly_supervised")])
def test_read_split_gives_the_built_split_in_row_order(synthetic_ave_dir, built_ave, split, config):
    got = arrays.read_split(synthetic_ave_dir, split, config, chunk=7)
    want = pipeline.split_arrays(built_ave, split, config)
    position = {int(r): i for i, r in enumerate(got["row"])}
    order = [position[int(r)] for r in want["row"]]
    assert sorted(got) == sorted(arrays.KEYS) and len(order) == len(got["row"])
    for key in arrays.KEYS:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(got[key][order], want[key], err_msg=key)
    positive = got["row"][got["row"] >= 0]
    assert (np.diff(positive) > 0).all()


@pytest.mark.parametrize("change, message", [
    (dict(split="val"), r"read_split\(split='val'\) is invalid"),
    (dict(config="weak"), r"read_split\(config='weak'\) is invalid"),
])
def test_read_split_refuses_bad_names_in_one_line(tmp_path, change, message):
    with pytest.raises(ValueError, match=message) as err:
        arrays.read_split(tmp_path, **{"split": "train", **change})
    assert "\n" not in str(err.value)


JAX_SCRIPT = """
import sys
import keras
import numpy as np
sys.path.insert(0, sys.argv[2])
from helpers import tiny_config
from edrnet_tf import EDRNet
from edrnet_tf.data import arrays
from edrnet_tf.model import losses
from edrnet_tf.training import device_data

split = arrays.read_split(sys.argv[1], "train")
config = tiny_config()
edrnet = EDRNet(config)
model = device_data.device_training_model(edrnet, device_data.ResidentFeatures.from_arrays(split["audio"],
                                                                                         split["visual"]))
loss, weights = losses.objective(config, "sel")
model.compile(optimizer="adam", loss=loss, loss_weights=weights)
batches = device_data.EpochBatches(split["segment_labels"], split["video_label"], 16, list(model.output),
                                   per_class=2, seed=0)
history = model.fit(batches, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
assert keras.backend.backend() == "jax"
assert np.isfinite(history.history["loss"][0]), history.history
assert "tensorflow" not in sys.modules, sorted(m for m in sys.modules if m.startswith("tensorflow"))
print("trained", len(split["row"]), batches.videos)
"""


@pytest.mark.large
def test_jax_reads_the_h5_folder_and_trains_on_resident_features_without_tensorflow(synthetic_ave_dir):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(synthetic_ave_dir), str(TESTS)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[:2] == ["trained", "96"]


# ---- SMB provenance in NumPy --------------------------------------------------------------------------------------

def chi_square_p(first, second=None, expected=None):
    """p-value that two count dicts come from one distribution (or ``first`` from ``expected``'s
    probabilities); categories expected fewer than 5 times are pooled."""
    keys = sorted(set(first) | set(second or {}) | set(expected or {}))
    observed = np.array([[first.get(k, 0) for k in keys]] + ([[second.get(k, 0) for k in keys]] if second else []),
                        float)
    if expected is not None:
        want = np.array([expected.get(k, 0.0) for k in keys]) * observed.sum()
    else:
        want = observed.sum(0) * observed.sum(1)[:, None] / observed.sum()
    small = want.min(0) < 5 if want.ndim == 2 else want < 5
    if small.any():
        pool = lambda a: np.concatenate([a[..., ~small], a[..., small].sum(-1, keepdims=True)], -1)  # noqa: E731
        observed, want = pool(observed), pool(want)
    if observed.shape[-1] < 2:
        return 1.0
    if expected is not None:
        return stats.chisquare(observed[0], want).pvalue
    return stats.chi2_contingency(observed)[1]


def provenance_counts(fused):
    """Per class: the count of each state sequence; per (class, state): the count of each instance."""
    sequences, instances = collections.defaultdict(collections.Counter), collections.defaultdict(collections.Counter)
    for states, rows, segments, c in zip(fused["states"], fused["source_rows"], fused["source_segments"],
                                         fused["video_label"]):
        seq = tuple(int(s) for s in states if s >= 0)
        sequences[int(c)][seq] += 1
        t = 0
        for s in seq:
            instances[(int(c), s)][(int(rows[t]), int(segments[t]))] += 1
            t += STATE_LENGTHS[s]
    return sequences, instances


@pytest.mark.parametrize("rule", ["machine", "labels"])
def test_sampler_draws_the_distribution_of_smb_py(rule):
    seg, vid = make_split()
    audio, visual = test_smb.features(len(vid))
    db = StateDatabase.from_labels(seg, vid, sequence_rule=rule)
    per_class = 7000  # 21k fused videos from each
    theirs = provenance_counts(take(smb.fused_dataset(db, audio, visual, per_class=per_class, seed=5), batch=4096))
    ours = provenance_counts(FusionSampler(db).draw(per_class, epoch_rng(5, 0)))
    assert sorted(ours[0]) == sorted(theirs[0]) == [0, 1, 2] and sorted(ours[1]) == sorted(theirs[1])
    p_values = []
    for c in (0, 1, 2):
        assert sum(ours[0][c].values()) == per_class
        exact = dict(zip(db.sequences(c), db.sequence_probabilities(c)))
        assert set(ours[0][c]) <= {seq for seq, p in exact.items() if p > 0}
        p_values += [chi_square_p(ours[0][c], theirs[0][c]), chi_square_p(ours[0][c], expected=exact)]
    for (c, s), counts in ours[1].items():
        assert set(counts) == {(int(r), int(t)) for r, t, _ in db.instances(c, s)}  # every instance is drawn
        uniform = {key: 1.0 / len(counts) for key in counts}
        p_values += [chi_square_p(counts, theirs[1][(c, s)]), chi_square_p(counts, expected=uniform)]
    assert min(p_values) > 1e-4, sorted(p_values)[:5]


def test_sampler_videos_pass_the_smb_reference_checks():
    seg, vid = make_split()
    audio, visual = test_smb.features(len(vid))
    db = StateDatabase.from_labels(seg, vid)
    fused = FusionSampler(db).draw(300, epoch_rng(0, 0))
    fused["audio"] = audio[fused["source_rows"], fused["source_segments"]]
    fused["visual"] = visual[fused["source_rows"], fused["source_segments"]]
    split = (seg, vid, audio, visual, db, fused)
    test_smb.test_every_fused_video_obeys_the_machine_and_its_labels_follow_its_states(split)
    test_smb.test_all_eight_states_occur_and_classes_are_balanced(split)
    test_smb.test_first_states_are_drawn_with_the_machine_probabilities(split)
    assert fused["video_label"][:6].tolist() == [0, 1, 2, 0, 1, 2]  # the classes in turn, as smb.py
    np.testing.assert_array_equal(fused["segment_labels"], seg[fused["source_rows"], fused["source_segments"]])


@pytest.mark.parametrize("per_class", [-1, 2.5, True])
def test_sampler_refuses_a_bad_per_class_in_one_line(per_class):
    seg, vid = make_split(classes=(0,), extra=0)
    with pytest.raises(ValueError, match="per_class must be an int >= 0") as err:
        FusionSampler(StateDatabase.from_labels(seg, vid)).draw(per_class, epoch_rng(0, 0))
    assert "\n" not in str(err.value)


def test_same_seed_gives_the_same_fused_videos_and_each_epoch_fresh_ones():
    seg, vid = make_split()
    a, b = (device_data.EpochBatches(seg, vid, 32, ["probs"], per_class=20, seed=3) for _ in range(2))
    other = device_data.EpochBatches(seg, vid, 32, ["probs"], per_class=20, seed=4)
    for key, value in a.plan(0).items():
        np.testing.assert_array_equal(value, b.plan(0)[key])
        np.testing.assert_array_equal(a.plan(1)[key], b.plan(1)[key])
    assert not np.array_equal(a.plan(0)["rows"], a.plan(1)["rows"])
    assert not np.array_equal(a.plan(0)["rows"], other.plan(0)["rows"])
    assert a.videos == len(vid) + 3 * 20 and len(a) == -(-a.videos // 32)
    for epoch in (0, 1):  # what fit sees: each on_epoch_begin moves to the next epoch's plan
        a.on_epoch_begin()
        x = np.concatenate([a[i][0]["rows"] for i in range(len(a))])
        np.testing.assert_array_equal(x, a.plan(epoch)["rows"])
        a.on_epoch_end()
    labels = np.concatenate([a[i][1]["probs"] for i in range(len(a))])
    np.testing.assert_array_equal(labels, seg[a.plan(1)["rows"], a.plan(1)["segments"]])
    assert np.bincount(a.plan(0)["video_label"]).tolist() == np.bincount(vid, minlength=3).__add__(20).tolist()
    resumed = device_data.EpochBatches(seg, vid, 32, ["probs"], per_class=20, seed=3, initial_epoch=1)
    resumed.on_epoch_begin()
    np.testing.assert_array_equal(resumed[0][0]["rows"], a.plan(1)["rows"][:32])


# ---- features resident on the device ------------------------------------------------------------------------------

def test_resident_gather_gives_the_features_of_the_host_paths():
    seg, vid = make_split()
    audio, visual = random_features(len(vid))
    fused = take(smb.fused_dataset(StateDatabase.from_labels(seg, vid), audio, visual, per_class=4, seed=0))
    resident = device_data.ResidentFeatures.from_arrays(audio, visual)
    got = resident({"rows": fused["source_rows"], "segments": fused["source_segments"]})
    np.testing.assert_array_equal(numpy(got["audio"]), fused["audio"])  # the tf.data SMB gather
    np.testing.assert_array_equal(numpy(got["visual"]), fused["visual"])
    on_device = device_data.EpochBatches(seg, vid, 16, ["probs", "features"], per_class=4, seed=1)
    on_host = device_data.EpochBatches(seg, vid, 16, ["probs", "features"], per_class=4, seed=1,
                                       features=(audio, visual))
    half = device_data.ResidentFeatures.from_arrays(audio, visual, feature_dtype="bfloat16")
    for i in range(len(on_device)):
        (x, y), (x_host, y_host) = on_device[i], on_host[i]
        assert x["rows"].dtype == np.int32 and sorted(y) == ["features", "probs"]
        for key, value in resident(x).items():
            np.testing.assert_array_equal(numpy(value), x_host[key])
        np.testing.assert_array_equal(numpy(half(x)["visual"]),
                                      x_host["visual"].astype(ml_dtypes.bfloat16).astype(np.float32))
        for key in y:
            np.testing.assert_array_equal(y[key], y_host[key])


def test_resident_features_config_round_trip():
    layer = device_data.ResidentFeatures(5, feature_dtype="bfloat16", name="held")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is device_data.ResidentFeatures and restored.get_config() == layer.get_config()
    assert restored.visual.shape == (5, 10, 7, 7, 512) and restored.visual.dtype == "bfloat16"
    assert not restored.trainable_weights


@pytest.mark.parametrize("make, message", [
    (lambda a, v: device_data.ResidentFeatures(3, feature_dtype="float16"), r"feature_dtype='float16'\) is invalid"),
    (lambda a, v: device_data.ResidentFeatures.from_arrays(a, v[:, :9]), r"visual must be \(3, 10, 7, 7, 512\)"),
    (lambda a, v: device_data.EpochBatches(np.zeros((3, 10), int), np.zeros(3, int), 0, ["probs"]),
     "batch_size must be an int >= 1"),
    (lambda a, v: device_data.EpochBatches(np.zeros((3, 10), int), np.zeros(3, int), 2, ["probs"], task="x"),
     r"task='x'\) is invalid"),
    (lambda a, v: device_data.EpochBatches(np.zeros((3, 10), int), np.zeros(3, int), 2, ["probs"], per_class=2,
                                           task="wsel"), "sel only"),
])
def test_bad_inputs_give_one_line_errors(make, message):
    audio, visual = random_features(3)
    with pytest.raises(ValueError, match=message) as err:
        make(audio, visual)
    assert "\n" not in str(err.value)


def compiled(model, config):
    loss, weights = losses.objective(config, "sel")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, loss_weights=weights)
    return model


class StopAfterOneEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        assert isinstance(self.model, EDRNet)
        self.model.stop_training = True


@pytest.mark.large
def test_device_and_host_placement_train_alike_and_only_edrnet_is_saved(tmp_path):
    m, config = 24, tiny_config()
    audio, visual = random_features(m, seed=3)
    seg = random_labels(m, seed=4)
    vid = np.full(m, 7)
    args = (seg, vid, 8)
    keras.utils.set_random_seed(0)
    host = compiled(EDRNet(config), config)
    keras.utils.set_random_seed(0)
    edrnet = EDRNet(config)
    device = compiled(device_data.device_training_model(edrnet, device_data.ResidentFeatures.from_arrays(
        audio, visual)), config)
    checkpoint = device_data.OnInnerModel(keras.callbacks.ModelCheckpoint(tmp_path / "model.keras"), edrnet)
    on_device = device.fit(device_data.EpochBatches(*args, list(device.output), seed=1), epochs=3, shuffle=False,
                           verbose=0, callbacks=[checkpoint])
    on_host = host.fit(device_data.EpochBatches(*args, list(host.output), seed=1, features=(audio, visual)),
                       epochs=3, shuffle=False, verbose=0)
    for key in ("loss", "probs_loss", "features_loss"):
        np.testing.assert_allclose(on_device.history[key], on_host.history[key], rtol=1e-4, err_msg=key)
    for ours, theirs in zip(edrnet.get_weights(), host.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert type(saved) is EDRNet
    for ours, theirs in zip(saved.get_weights(), edrnet.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    stopped = device.fit(device_data.EpochBatches(*args, list(device.output), seed=1), epochs=3, shuffle=False,
                         verbose=0, callbacks=[device_data.OnInnerModel(StopAfterOneEpoch(), edrnet)])
    assert len(stopped.history["loss"]) == 1


@pytest.mark.large
def test_edrnet_trains_under_mixed_bfloat16_with_float32_head_and_losses():
    config = tiny_config()
    audio, visual = random_features(16, seed=5)
    seg, vid = random_labels(16, seed=6), np.full(16, 7)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        edrnet = EDRNet(config)
        resident = device_data.ResidentFeatures.from_arrays(audio, visual, feature_dtype="bfloat16")
        model = compiled(device_data.device_training_model(edrnet, resident), config)
        history = model.fit(device_data.EpochBatches(seg, vid, 8, list(model.output)), epochs=2, shuffle=False,
                            verbose=0)
        out = model(device_data.EpochBatches(seg, vid, 8, list(model.output))[0][0])
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert np.isfinite(history.history["loss"]).all()
    assert edrnet.get_layer("visual_conv").compute_dtype == "bfloat16"
    assert keras.backend.standardize_dtype(out["probs"].dtype) == "float32"  # the float32 head
    assert keras.backend.standardize_dtype(out["features"].dtype) == "bfloat16"
    lss = losses.LandShoreSeaLoss()(seg[:8], out["features"])  # Keras casts a loss's inputs to its float32 dtype
    assert keras.backend.standardize_dtype(lss.dtype) == "float32"
