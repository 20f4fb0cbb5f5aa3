import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from edrnet_tf import EDRNet
from edrnet_tf.model import losses

from helpers import (assert_allclose_tree, assert_saved_model_round_trip, assert_serialization_round_trip,
                     random_inputs, random_labels, tiny_config, to_numpy)

pytestmark = pytest.mark.core


# --- an independent NumPy forward pass of Eqs. 1-6, reading the model's weights by layer name ---

def np_positions(n, d):
    p = np.zeros((n, d))
    for t in range(n):
        for i in range(d):
            w = 1.0 / 10000 ** (2 * (i // 2) / d)
            p[t, i] = np.sin(w * t) if i % 2 == 0 else np.cos(w * t)
    return p


def np_conv1d_valid(x, kernel, bias):  # x [B, n, c], kernel [k, c, f]
    k = kernel.shape[0]
    return sum(np.einsum("bnc,cf->bnf", x[:, j:x.shape[1] - k + 1 + j], kernel[j]) for j in range(k)) + bias


def np_conv1d_same(x, kernel, bias):
    k = kernel.shape[0]
    left = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
    return np_conv1d_valid(padded, kernel, bias)


def np_conv1d_transpose_valid(x, kernel, bias):  # kernel [k, f, c]: out[t + j] += x[t] W_j^T
    k = kernel.shape[0]
    b, n, _ = x.shape
    out = np.zeros((b, n + k - 1, kernel.shape[1]))
    for j in range(k):
        out[:, j:j + n] += np.einsum("bnc,fc->bnf", x, kernel[j])
    return out + bias


def np_conv2d_same(x, kernel, bias):  # x [M, h, w, c], kernel [kh, kw, c, f]
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    return sum(np.einsum("mhwc,cf->mhwf", padded[:, i:i + h, j:j + w], kernel[i, j])
               for i in range(kh) for j in range(kw)) + bias


def relu(x):
    return np.maximum(x, 0)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def edrnet_reference(model, inputs):
    cfg = model.config
    w = {layer.name: [np.asarray(v, dtype="float64") for v in layer.get_weights()] for layer in model.layers}
    audio = inputs["audio"].astype("float64")
    vis = inputs["visual"].astype("float64")
    if cfg.normalize_inputs:  # per-channel standardisation by the stored training statistics
        standardize = lambda x, name: (x - w[name][0]) / np.sqrt(w[name][1])  # noqa: E731
        audio = standardize(audio, "audio_normalization") if "audio_normalization" in w else audio
        vis = standardize(vis, "visual_normalization") if "visual_normalization" in w else vis
    b, n = audio.shape[:2]
    initial = {"A": audio}
    if {"V", "AV"} & set(cfg.branches):  # an audio-only model has no visual encoder
        maps = relu(np_conv2d_same(vis.reshape(b * n, *vis.shape[2:]), *w["visual_conv"]))
        initial["V"] = maps.mean(axis=(1, 2)).reshape(b, n, -1)
        initial["AV"] = np.concatenate([audio, initial["V"]], -1)
    dec = {}
    for br in cfg.branches:
        x = initial[br] + cfg.position_scale * np_positions(n, initial[br].shape[-1])
        dec[br] = []
        for l in range(1, cfg.num_layers + 1):
            x = relu(np_conv1d_valid(x, *w[f"decompose_{br}_{l}"]))
            dec[br].append(x)
    rec = {}
    for br in [x for x in ("A", "V") if x in cfg.branches]:
        x = 0
        for j in range(1, cfg.num_layers + 1):
            x = x + dec[br][-j] + (dec["AV"][-j] if "AV" in cfg.branches else 0)
            x = np_conv1d_transpose_valid(x, *w[f"recompose_{br}_{j}"])
        rec[br] = x
    if len(rec) == 2:
        gate = 1 / (1 + np.exp(-np_conv1d_same(np.concatenate([rec["A"], rec["V"]], -1), *w["gate"])))
        features = gate * rec["A"] + (1 - gate) * rec["V"]
    else:
        features = next(iter(rec.values()))
    head = lambda f: softmax(f @ w["head"][0] + w["head"][1])  # noqa: E731
    out = {"probs": head(features), "features": features}
    if "A" in rec:
        out["probs_audio"] = head(rec["A"])
    if "V" in rec:
        out["probs_visual"] = head(rec["V"])
    return out


def random_statistics(seed=0):
    """Input statistics far from the identity: means ~N(0, 1), variances in [0.25, 4]."""
    from edrnet_tf.data.statistics import InputStatistics

    rng = np.random.default_rng(seed)
    moments = [(rng.normal(0, 1, c).astype("float32"), rng.uniform(0.25, 4, c).astype("float32"))
               for c in (128, 512)]
    return InputStatistics(*moments[0], *moments[1], videos=1)


def randomize_weights(model, seed=0):
    """Random trainable weights, and random input statistics when the model normalises its inputs."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_weights:
        v.assign(rng.normal(0, 0.2, v.shape).astype("float32"))
    if model.config.normalize_inputs:
        model.set_input_statistics(random_statistics(seed))


BRANCH_SETS = [("A", "V", "AV"), ("A", "V"), ("A", "AV"), ("V", "AV"), ("A",), ("V",)]


@pytest.mark.parametrize("normalize,position_scale", [(True, 0.1), (False, 1.0)], ids=["normalized", "raw"])
@pytest.mark.parametrize("branches", BRANCH_SETS, ids="+".join)
def test_forward_matches_numpy_reference_of_eqs_1_to_6(branches, normalize, position_scale):
    model = EDRNet(tiny_config(branches=branches, normalize_inputs=normalize, position_scale=position_scale))
    randomize_weights(model)
    inputs = random_inputs(batch=2)
    expected = edrnet_reference(model, inputs)
    assert_allclose_tree(model(inputs, training=False), expected, atol=2e-5, rtol=2e-4)


@pytest.mark.parametrize("branches,outputs", [
    (("A", "V", "AV"), ["features", "probs", "probs_audio", "probs_visual"]),
    (("A", "V"), ["features", "probs", "probs_audio", "probs_visual"]),
    (("A", "AV"), ["features", "probs", "probs_audio"]),
    (("V",), ["features", "probs", "probs_visual"]),
], ids=lambda v: "+".join(v) if isinstance(v[0], str) and len(v[0]) <= 2 else None)
def test_outputs_present_follow_the_active_branches(branches, outputs):
    model = EDRNet(tiny_config(branches=branches))
    out = model(random_inputs(batch=2))
    assert sorted(out) == outputs
    assert out["probs"].shape == (2, 10, 29) and out["features"].shape == (2, 10, 16)
    np.testing.assert_allclose(to_numpy(out["probs"]).sum(-1), 1.0, rtol=1e-5)
    assert ("gate" in [layer.name for layer in model.layers]) == ({"A", "V"} <= set(branches))
    has_av = any(layer.name.startswith("decompose_AV") for layer in model.layers)
    assert has_av == ("AV" in branches)


@pytest.mark.parametrize("k,layers", [(3, 4), (2, 9), (4, 3), (5, 2), (3, 1)])
def test_temporal_lengths_shrink_by_k_minus_1_and_recompose_back(k, layers):
    model = EDRNet(tiny_config(kernel_size=k, num_layers=layers))
    names = [f"decompose_V_{l}" for l in range(1, layers + 1)] + [f"recompose_V_{j}" for j in range(1, layers + 1)]
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    lengths = [o.shape[1] for o in probe(random_inputs(batch=1))]
    down = [10 - l * (k - 1) for l in range(1, layers + 1)]
    assert lengths == down + down[::-1][1:] + [10]
    if (k, layers) == (3, 4):
        assert lengths == [8, 6, 4, 2, 4, 6, 8, 10]


def test_same_model_accepts_any_number_of_segments_from_the_minimum():
    config = tiny_config()
    model = EDRNet(config)
    for n in (config.min_segments, 10, 25):
        out = model(random_inputs(batch=2, n_segments=n))
        assert out["probs"].shape == (2, n, 29)
    # The first 9 segments' window of a 25-segment input is not the model on those 9 segments
    # (the temporal receptive field is the whole window): windowing happens outside the model.


def test_named_layers_the_cam_code_relies_on():
    model = EDRNet(tiny_config())
    assert isinstance(model.get_layer("visual_conv"), keras.layers.Conv2D)
    assert model.get_layer("visual_conv").output.shape[1:] == (7, 7, 8)
    for name in ("decompose_V_1", "decompose_AV_1"):
        assert isinstance(model.get_layer(name), keras.layers.Conv1D)


def test_config_is_kept_and_get_config_round_trips():
    config = tiny_config(kernel_size=2, num_layers=3, branches=("V", "AV"), dropout=0.1)
    model = EDRNet(config)
    assert model.config == config
    assert model.get_config()["config"] == config.to_dict()
    restored = EDRNet.from_config(model.get_config())
    assert restored.config == config
    assert restored.count_params() == model.count_params()
    assert_serialization_round_trip(model)


def test_keras_file_save_load_gives_identical_outputs(tmp_path):
    model = EDRNet(tiny_config())
    randomize_weights(model, seed=3)
    restored = assert_saved_model_round_trip(model, random_inputs(batch=2, seed=1), tmp_path)
    assert restored.config == model.config


@pytest.mark.parametrize("changes,field", [
    (dict(num_layers=5), "num_layers"), (dict(kernel_size=1), "kernel_size"), (dict(width=0), "width"),
    (dict(branches=()), "branches"), (dict(branches=("AV",)), "branches"), (dict(dropout=1.0), "dropout"),
])
def test_invalid_configs_raise_value_error_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"EDRNetConfig\.{field}=.*expected"):
        EDRNet({**tiny_config().to_dict(), **changes})


def test_non_config_argument_is_rejected():
    with pytest.raises(ValueError, match="EDRNetConfig"):
        EDRNet(config=3)


@pytest.mark.parametrize("task", ["sel", "wsel"])
def test_compile_with_objective_trains_one_epoch_with_loss_free_extra_outputs(task):
    config = tiny_config()
    model = EDRNet(config)
    loss, loss_weights = losses.objective(config, task)
    model.compile(optimizer="adam", loss=loss, loss_weights=loss_weights, jit_compile=True)
    x = random_inputs(batch=16, seed=4)
    labels = random_labels(batch=16, seed=4)
    y = {"probs": labels, "features": labels} if task == "sel" else {"probs": labels[:, 0]}
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    if task == "sel":
        assert set(history) >= {"probs_loss", "features_loss"}
        logged = history["loss"][0]
        assert logged == pytest.approx(history["probs_loss"][0] + 0.1 * history["features_loss"][0], rel=0.05)


CROSS_BACKEND_SCRIPT = """
import os, sys, numpy as np, keras
from edrnet_tf import EDRNet, EDRNetConfig
import json
config = EDRNetConfig.from_dict(json.loads(sys.argv[1]))
model = EDRNet(config)
model.load_weights(sys.argv[2])
inputs = dict(np.load(sys.argv[3]))
out = model(inputs, training=False)
np.savez(sys.argv[4], **{k: keras.ops.convert_to_numpy(v) for k, v in out.items()})
"""


def test_same_weights_give_same_outputs_on_tensorflow_and_jax(tmp_path):
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    model = EDRNet(tiny_config())  # its own (Glorot) initialisation: features of order 1
    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    inputs = random_inputs(batch=2, n_segments=12, seed=2)
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", CROSS_BACKEND_SCRIPT, json.dumps(model.config.to_dict()), str(weights),
                    str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")], check=True, env=env,
                   capture_output=True)
    theirs = dict(np.load(tmp_path / "out.npz"))
    assert_allclose_tree(model(inputs, training=False), theirs, atol=1e-5, rtol=1e-5)


def test_a_model_saved_with_the_stock_keras_conv_layers_loads_into_the_matmul_ones(tmp_path, monkeypatch):
    from edrnet_tf.model import edrnet

    monkeypatch.setattr(edrnet, "Conv1D", keras.layers.Conv1D)
    monkeypatch.setattr(edrnet, "Conv1DTranspose", keras.layers.Conv1DTranspose)
    stock = EDRNet(tiny_config())
    assert type(stock.get_layer("decompose_A_1")) is keras.layers.Conv1D
    inputs = random_inputs(batch=2)
    expected = stock(inputs, training=False)
    stock.save(tmp_path / "stock.keras")
    monkeypatch.undo()
    loaded = keras.saving.load_model(tmp_path / "stock.keras")
    assert type(loaded.get_layer("decompose_A_1")).__module__ == "edrnet_tf.model.layers.window_conv"
    assert_allclose_tree(loaded(inputs, training=False), expected, atol=1e-5)
