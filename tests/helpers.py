"""Shared test helpers (in the spirit of keras-hub's ``TestCase``): tiny configs, random inputs,
serialization round trips, ``.keras`` save/load and backend-agnostic gradients and tracing."""

import keras
import numpy as np

from edrnet_tf import EDRNetConfig, ave

TINY = dict(width=16, visual_width=8)


def tiny_config(**changes):
    """The default EDRNetConfig shrunk to width 16, visual_width 8 (fast on 2 cores)."""
    return EDRNetConfig(**{**TINY, **changes})


def random_inputs(batch=2, n_segments=ave.N_SEGMENTS, seed=0):
    """``{"audio": [B, N, 128], "visual": [B, N, 7, 7, 512]}`` float32 standard normal."""
    rng = np.random.default_rng(seed)
    return {"audio": rng.standard_normal((batch, n_segments, ave.AUDIO_DIM)).astype("float32"),
            "visual": rng.standard_normal((batch, n_segments, *ave.VISUAL_SHAPE)).astype("float32")}


def random_labels(batch=2, n_segments=ave.N_SEGMENTS, seed=0, p_background=0.4, num_events=ave.NUM_EVENTS):
    """[B, N] int labels: background with probability ``p_background``, else a random event."""
    rng = np.random.default_rng(seed)
    events = rng.integers(0, num_events, size=(batch, n_segments))
    return np.where(rng.random((batch, n_segments)) < p_background, ave.BACKGROUND, events).astype("int32")


def to_numpy(tree):
    """A structure of backend tensors as NumPy arrays."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, tree)


def assert_allclose_tree(actual, expected, atol=1e-6, rtol=1e-6):
    actual, expected = to_numpy(actual), to_numpy(expected)
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected)
        for key in expected:
            np.testing.assert_allclose(actual[key], expected[key], atol=atol, rtol=rtol, err_msg=key)
    else:
        np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol)


def config_round_trip(obj):
    """``obj`` rebuilt from ``keras.saving.serialize_keras_object`` (registered-name lookup included)."""
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))


def assert_serialization_round_trip(obj):
    """The re-created object has the same config (after a JSON-style serialize/deserialize)."""
    restored = config_round_trip(obj)
    assert type(restored) is type(obj)
    assert restored.get_config() == obj.get_config()
    return restored


def assert_saved_model_round_trip(model, inputs, tmp_path):
    """Saving ``model`` to ``.keras`` and loading it back gives identical outputs."""
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert_allclose_tree(restored(inputs, training=False), model(inputs, training=False), atol=0, rtol=0)
    return restored


def gradient(fn, x):
    """d sum(fn(x)) / dx on the current backend, as NumPy."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: keras.ops.sum(fn(v)))(x))
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(fn(v))
        return tape.gradient(y, v).numpy()
    if backend == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        fn(v).sum().backward()
        return v.grad.numpy()
    raise NotImplementedError(f"gradient() has no rule for backend {backend!r}")


def traced(fn, rank=2, dtype="int32"):
    """``fn`` of one tensor, compiled the way a serving graph traces it: a tf.function whose input
    has every dimension unknown (TF), or jax.jit (JAX)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, input_signature=[tf.TensorSpec([None] * rank, dtype)])
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn
