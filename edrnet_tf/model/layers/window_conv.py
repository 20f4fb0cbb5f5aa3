"""The temporal convolutions of EDRNet's decomposition (Eq. 2) and recomposition (Eq. 3) phases as matmuls.

``Conv1D`` and ``Conv1DTranspose`` here are ``keras.layers.Conv1D`` / ``Conv1DTranspose`` with the same weights,
names and function; for the valid, stride-1 case EDRNet uses they compute it as one matmul of the ``k``
shifted inputs (im2col in time), which XLA's CPU backend runs near its matmul rate. They keep Keras' class
names on purpose: a ``.keras`` file stores each layer's weights under a path made from its class name, so
models saved with the stock layers load into these (and the other way round).
"""

import keras
from keras import ops


def _windows(inputs, k):
    """The ``k`` shifted copies of ``inputs`` [B, T, C] side by side: [B, T - k + 1, k * C] (im2col in time)."""
    return ops.concatenate([inputs[:, i:i - (k - 1) if i < k - 1 else None] for i in range(k)], axis=-1)


def _is_plain(layer):
    return (layer.padding == "valid" and tuple(layer.strides) == (1,) and tuple(layer.dilation_rate) == (1,)
            and layer.data_format == "channels_last")


def _bias_activation(layer, outputs):
    if layer.use_bias:
        outputs = outputs + layer.bias
    return layer.activation(outputs) if layer.activation is not None else outputs


@keras.saving.register_keras_serializable(package="edrnet_tf")
class Conv1D(keras.layers.Conv1D):
    """``Conv1D`` (valid, stride 1) computed as one matmul of the ``k`` shifted inputs with the reshaped kernel.

    The same function, weights and names as ``keras.layers.Conv1D`` (only the float summation order differs).
    Why: XLA's CPU backend runs the convolutions whose input is 2 steps long with a padding of 2 (the
    input gradient of the last decomposition layer, the first recomposition layer) ~40x below its matmul
    rate, ~0.16 s each per batch of 64 (docs/benchmarks.md, "Where the training step's time goes").
    Other paddings, strides or dilations fall back to ``Conv1D``.
    """

    def call(self, inputs):
        if not _is_plain(self):
            return super().call(inputs)
        k, channels = self.kernel_size[0], inputs.shape[-1]
        kernel = ops.reshape(self.kernel, (k * channels, self.filters))
        return _bias_activation(self, ops.matmul(_windows(inputs, k), kernel))


@keras.saving.register_keras_serializable(package="edrnet_tf")
class Conv1DTranspose(keras.layers.Conv1DTranspose):
    """``Conv1DTranspose`` (valid, stride 1) as one matmul: the input zero-padded by ``k - 1`` steps on each
    side, its ``k`` shifted copies side by side, times the flipped, transposed kernel; the same function,
    weights and names as ``keras.layers.Conv1DTranspose`` (see ``Conv1D`` for why).
    """

    def call(self, inputs):
        if not _is_plain(self):
            return super().call(inputs)
        k, channels = self.kernel_size[0], inputs.shape[-1]
        padded = ops.pad(inputs, ((0, 0), (k - 1, k - 1), (0, 0)))
        # kernel [k, filters, channels]: output t gets input t - i through kernel[i]^T
        kernel = ops.reshape(ops.flip(ops.transpose(self.kernel, (0, 2, 1)), axis=0), (k * channels, self.filters))
        return _bias_activation(self, ops.matmul(_windows(padded, k), kernel))
