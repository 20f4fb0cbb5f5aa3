"""The gated audio-visual mix of the recomposed branches (paper Eq. 5)."""

import keras


@keras.saving.register_keras_serializable(package="edrnet_tf")
class GatedMix(keras.layers.Layer):
    """``R_AV = G * R_A + (1 - G) * R_V`` (Eq. 5), a convex combination per feature and segment.

    The gate ``G`` itself is the sigmoid ``Conv1D`` of Eq. 4 over ``[R_A, R_V]``, built in ``EDRNet``
    as a plain layer named ``"gate"``.

    Example:
    >>> g = keras.ops.full((1, 2, 3), 0.25)
    >>> GatedMix()([g, keras.ops.ones((1, 2, 3)), keras.ops.zeros((1, 2, 3))])[0, 0, 0]
    0.25

    Reference: EDRNet (AAAI 2022), Eq. 5.
    """

    def call(self, inputs):
        gate, audio, visual = inputs
        return gate * audio + (1.0 - gate) * visual

    def compute_output_shape(self, input_shape):
        return input_shape[1]
