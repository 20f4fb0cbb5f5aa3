import keras
import numpy as np
import pytest

from edrnet_tf.model.layers import (Conv1D, Conv1DTranspose, FoldSegments, GatedMix, PositionalEncoding, UnfoldSegments,
                                    sinusoidal_positions)

from helpers import assert_serialization_round_trip, to_numpy

pytestmark = pytest.mark.core


def positions_reference(n, d):
    """Eq. 1 written out: p_t^(2k) = sin(t / 10^(8k/d)), p_t^(2k+1) = cos(t / 10^(8k/d))."""
    p = np.zeros((n, d))
    for t in range(n):
        for k in range((d + 1) // 2):
            omega = 1.0 / 10 ** (8 * k / d)
            p[t, 2 * k] = np.sin(omega * t)
            if 2 * k + 1 < d:
                p[t, 2 * k + 1] = np.cos(omega * t)
    return p


@pytest.mark.parametrize("n,d", [(10, 128), (10, 640), (25, 8), (4, 7)])
def test_sinusoidal_positions_match_eq_1(n, d):
    np.testing.assert_allclose(to_numpy(sinusoidal_positions(n, d)), positions_reference(n, d), atol=1e-5)


def test_known_positions_first_segments():
    table = to_numpy(sinusoidal_positions(2, 4))
    # t = 0: sin 0, cos 0, sin 0, cos 0; t = 1: sin 1, cos 1, sin(1/100), cos(1/100)
    np.testing.assert_allclose(table, [[0, 1, 0, 1], [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)]], atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_positional_encoding_adds_the_scaled_table_for_any_length(scale):
    layer = PositionalEncoding(scale=scale)
    for n in (3, 10, 31):
        x = np.random.default_rng(n).standard_normal((2, n, 6)).astype("float32")
        np.testing.assert_allclose(to_numpy(layer(x)), x + scale * positions_reference(n, 6)[None], atol=1e-5)
    assert assert_serialization_round_trip(layer).scale == scale


def test_fold_then_unfold_is_identity_and_keeps_segment_order():
    x = np.arange(2 * 3 * 2 * 2 * 1, dtype="float32").reshape(2, 3, 2, 2, 1)
    folded = FoldSegments()(x)
    np.testing.assert_array_equal(to_numpy(folded)[4], x[1, 1])
    pooled = keras.ops.mean(folded, axis=(1, 2))
    unfolded = to_numpy(UnfoldSegments()([pooled, x]))
    np.testing.assert_allclose(unfolded, x.mean(axis=(2, 3)))
    assert_serialization_round_trip(FoldSegments())
    assert_serialization_round_trip(UnfoldSegments())


def test_gated_mix_is_the_convex_combination_of_eq_5():
    rng = np.random.default_rng(0)
    g, a, v = (rng.random((2, 5, 3)).astype("float32") for _ in range(3))
    np.testing.assert_allclose(to_numpy(GatedMix()([g, a, v])), g * a + (1 - g) * v, rtol=1e-6)
    assert_serialization_round_trip(GatedMix())


def conv1d_reference(x, kernel, bias):
    """Valid, stride-1 Conv1D by its definition: y[t] = sum_i x[t + i] @ kernel[i] + bias."""
    k = kernel.shape[0]
    return np.stack([sum(x[:, t + i] @ kernel[i] for i in range(k)) for t in range(x.shape[1] - k + 1)], 1) + bias


def conv1d_transpose_reference(x, kernel, bias):
    """Valid, stride-1 Conv1DTranspose by its definition: input t adds x[t] @ kernel[i]^T to output t + i
    (kernel [k, filters, channels], Keras' layout)."""
    k, batch, length = kernel.shape[0], x.shape[0], x.shape[1]
    y = np.zeros((batch, length + k - 1, kernel.shape[1]))
    for t in range(length):
        for i in range(k):
            y[:, t + i] += x[:, t] @ kernel[i].T
    return y + bias


@pytest.mark.parametrize("k,length", [(2, 3), (3, 2), (3, 10), (5, 7)])
def test_window_conv1d_and_transpose_compute_the_convolutions_by_their_definition(k, length):
    x = np.random.default_rng(k * 10 + length).standard_normal((2, length, 6)).astype("float32")
    if length >= k:
        conv = Conv1D(4, k, padding="valid")
        y = to_numpy(conv(x))
        kernel, bias = (to_numpy(w) for w in conv.weights)
        np.testing.assert_allclose(y, conv1d_reference(x, kernel, bias), rtol=1e-5, atol=1e-5)
        assert_serialization_round_trip(conv)
    transpose = Conv1DTranspose(4, k, padding="valid")
    y = to_numpy(transpose(x))
    kernel, bias = (to_numpy(w) for w in transpose.weights)
    np.testing.assert_allclose(y, conv1d_transpose_reference(x, kernel, bias), rtol=1e-5, atol=1e-5)
    assert_serialization_round_trip(transpose)


def test_window_conv_falls_back_to_keras_for_same_padding():
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    same = Conv1D(4, 3, padding="same")
    y = to_numpy(same(x))
    reference = keras.layers.Conv1D(4, 3, padding="same")
    reference.build(x.shape)
    reference.set_weights(same.get_weights())
    np.testing.assert_allclose(y, to_numpy(reference(x)), rtol=1e-5, atol=1e-5)
