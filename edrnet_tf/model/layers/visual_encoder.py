"""Folding the segment axis into the batch so one Conv2D + GAP encodes every segment's visual map."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="edrnet_tf")
class FoldSegments(keras.layers.Layer):
    """Merges the batch and segment axes: ``[B, N, ...] -> [B * N, ...]``.

    The visual encoder of the Event Decomposition Phase applies one 2D convolution and a global
    average pooling to every segment's VGG-19 map; folding the segments into the batch lets a plain
    ``Conv2D`` (named ``"visual_conv"`` in ``EDRNet``, whose output is the pre-pooling map the CAMs
    use) do that in one call, for any number of segments.

    Example:
    >>> FoldSegments()(keras.ops.zeros((2, 10, 7, 7, 512))).shape
    (20, 7, 7, 512)

    Reference: EDRNet (AAAI 2022), "Event Decomposition Phase" (the 2D conv + GAP giving f_t^V).
    """

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        b, n = input_shape[:2]
        folded = b * n if b is not None and n is not None else None
        return (folded, *input_shape[2:])


@keras.saving.register_keras_serializable(package="edrnet_tf")
class UnfoldSegments(keras.layers.Layer):
    """Splits the folded axis again: ``([B * N, ...], reference [B, N, ...]) -> [B, N, ...]``.

    The batch and segment sizes are read from ``reference`` (the unfolded input), so they may be
    dynamic.

    Example:
    >>> folded = keras.ops.zeros((20, 512))
    >>> UnfoldSegments()([folded, keras.ops.zeros((2, 10, 7, 7, 512))]).shape
    (2, 10, 512)
    """

    def call(self, inputs):
        folded, reference = inputs
        shape = ops.shape(reference)
        return ops.reshape(folded, (shape[0], shape[1], *folded.shape[1:]))

    def compute_output_shape(self, input_shape):
        folded, reference = input_shape
        return (reference[0], reference[1], *folded[1:])
