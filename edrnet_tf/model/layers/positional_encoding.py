"""Sinusoidal positional encoding added to each branch's input (paper Eq. 1)."""

import keras
from keras import ops


def sinusoidal_positions(n_segments, depth, dtype="float32"):
    """The [N, d_b] table of Eq. 1 for segments t = 0 .. N-1.

    ``p_t^i = sin(omega_k t)`` for ``i = 2k`` and ``cos(omega_k t)`` for ``i = 2k + 1`` with
    ``omega_k = 1 / 10000^(2k / d_b)`` (the paper's ``10^(8k/d_b)``), ``i`` counted from 0.
    ``n_segments`` may be a symbolic scalar, so the table follows the input's length.
    """
    t = ops.cast(ops.arange(n_segments), "float32")[:, None]
    i = ops.arange(depth)
    k = ops.cast(i // 2, "float32")
    omega = ops.power(10000.0, -2.0 * k / float(depth))
    angle = t * omega[None, :]
    table = ops.where(ops.equal(i % 2, 0)[None, :], ops.sin(angle), ops.cos(angle))
    return ops.cast(table, dtype)


@keras.saving.register_keras_serializable(package="edrnet_tf")
class PositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal position of each segment, times ``scale``, to a branch's features (Eq. 1).

    Parameter-free; the table is computed from the input's (possibly dynamic) length, so one
    model serves any number of segments. ``scale=1`` is Eq. 1 as written; a smaller scale keeps the
    positions from drowning features whose variation across videos is small (docs/design.md).

    Args:
        scale: multiplier of the sinusoidal table (EDRNetConfig.position_scale).
        **kwargs: standard layer arguments (``name``, ``dtype``).

    Example:
    >>> x = keras.ops.zeros((2, 10, 128))
    >>> PositionalEncoding()(x).shape
    (2, 10, 128)

    Reference: Rao et al., "Decompose the Sounds and Pixels, Recompose the Events" (EDRNet,
    AAAI 2022), Eq. 1, following Vaswani et al. (2017).
    """

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        shape = ops.shape(inputs)
        table = sinusoidal_positions(shape[1], inputs.shape[-1], dtype=inputs.dtype)
        return inputs + self.scale * table[None, :, :]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}

    def compute_output_shape(self, input_shape):
        return input_shape
