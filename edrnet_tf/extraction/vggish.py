"""VGGish (Hershey et al., ICASSP 2017) in Keras 3 and its loader from the official TF-slim checkpoint.

The network is ``vggish_slim.define_vggish_slim`` of the AudioSet release (tensorflow/models,
``research/audioset/vggish/``): on a [96, 64, 1] log-mel patch, 3x3 SAME ReLU convolutions of 64, 128,
2x256 and 2x512 channels, each block followed by a 2x2 max-pool (stride 2), then flatten, two ReLU
fully connected layers of 4096 and the 128-d embedding ``fc2``. Keras' NHWC convolution kernels
[3, 3, in, out], dense kernels [in, out] and row-major flatten are laid out as TF-slim's, so the
checkpoint tensors are copied as they are.

``fc2`` ends in a ReLU in the ``vggish_slim.py`` of 2017-2020 (it inherits ``activation_fn=tf.nn.relu``
from the ``arg_scope``), the code the AVE features (2018) were made with; tensorflow/models PR #9080
(2020-08-10) made ``vggish/embedding`` the pre-activation ``fc2`` (``activation_fn=None``), which the
AudioSet PCA parameters expect. ``EMBEDDINGS`` names the three outputs ``--vggish-embedding`` offers.
"""

import glob

import keras
import numpy as np

from edrnet_tf.extraction.mel import NUM_BANDS, NUM_FRAMES, SAMPLE_RATE, LogMelExamples

EMBEDDING_SIZE = 128
# "relu": fc2 after its ReLU (vggish_slim.py until 2020, the AVE release); "linear": pre-activation fc2
# (vggish/embedding since 2020); "pca": linear + the AudioSet PCA and 8-bit quantisation (pca.py).
EMBEDDINGS = ("relu", "linear", "pca")
CHECKPOINT_URL = "https://storage.googleapis.com/audioset/vggish_model.ckpt"

# Keras layer name -> TF-slim variable scope in vggish_model.ckpt (slim.repeat names conv3/conv3_1 ...).
SLIM_SCOPES = {
    "conv1": "vggish/conv1", "conv2": "vggish/conv2",
    "conv3_1": "vggish/conv3/conv3_1", "conv3_2": "vggish/conv3/conv3_2",
    "conv4_1": "vggish/conv4/conv4_1", "conv4_2": "vggish/conv4/conv4_2",
    "fc1_1": "vggish/fc1/fc1_1", "fc1_2": "vggish/fc1/fc1_2", "fc2": "vggish/fc2",
}


def vggish_network(relu_embedding=True, name="vggish"):
    """[B, 96, 64] log-mel examples -> [B, 128] VGGish embeddings (randomly initialised): ``fc2`` after its
    ReLU as in 2018 (``relu_embedding``), else the pre-activation ``fc2`` of today's ``vggish/embedding``."""
    examples = keras.Input((NUM_FRAMES, NUM_BANDS), name="log_mel")
    x = keras.layers.Reshape((NUM_FRAMES, NUM_BANDS, 1))(examples)
    for block, (channels, repeats) in enumerate([(64, 1), (128, 1), (256, 2), (512, 2)], start=1):
        for i in range(1, repeats + 1):
            conv_name = f"conv{block}" if repeats == 1 else f"conv{block}_{i}"
            x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=conv_name)(x)
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"pool{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc1_1")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc1_2")(x)
    embedding = keras.layers.Dense(EMBEDDING_SIZE, activation="relu" if relu_embedding else None, name="fc2")(x)
    return keras.Model(examples, embedding, name=name)


def vggish_audio_model(network=None, name="vggish_audio"):
    """[B, 16000] one-second 16 kHz waveforms -> [B, 128] embeddings: ``LogMelExamples`` + network."""
    network = network or vggish_network()
    waveforms = keras.Input((SAMPLE_RATE,), name="waveform")
    return keras.Model(waveforms, network(LogMelExamples(name="log_mel")(waveforms)), name=name)


def load_vggish_checkpoint(network, path):
    """Copies the weights of the official ``vggish_model.ckpt`` (or any checkpoint with its TF-slim names
    ``vggish/conv1/weights``, ``.../biases`` ...) into ``vggish_network()``; returns the network.

    Read with ``tf.train.load_checkpoint`` (no TF1 graph). A missing, unreadable or foreign checkpoint
    raises a one-line ``ValueError``/``FileNotFoundError`` naming the file.
    """
    import tensorflow as tf

    if not glob.glob(glob.escape(str(path)) + "*"):  # a V1 file, or a V2 prefix of .index/.data files
        raise FileNotFoundError(f"--vggish-checkpoint={str(path)!r}: no checkpoint there (download {CHECKPOINT_URL})")
    try:
        reader = tf.train.load_checkpoint(str(path))
    except (tf.errors.OpError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"--vggish-checkpoint={str(path)!r} is not a readable TF checkpoint: {message}") from None
    shapes = reader.get_variable_to_shape_map()
    for layer_name, scope in SLIM_SCOPES.items():
        layer = network.get_layer(layer_name)
        values = []
        for variable, part in zip(layer.weights, ("weights", "biases")):
            key = f"{scope}/{part}"
            if key not in shapes:
                raise ValueError(f"--vggish-checkpoint={str(path)!r} is not a VGGish checkpoint: "
                                 f"it has no variable {key!r}")
            if tuple(shapes[key]) != tuple(variable.shape):
                raise ValueError(f"--vggish-checkpoint={str(path)!r} is not a VGGish checkpoint: {key!r} has "
                                 f"shape {list(shapes[key])}, expected {list(variable.shape)}")
            values.append(np.asarray(reader.get_tensor(key), np.float32))
        layer.set_weights(values)
    return network
