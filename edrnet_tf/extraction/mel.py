"""VGGish's log-mel front end: one second of 16 kHz audio -> one [96, 64] log-mel example.

Implements ``mel_features.log_mel_spectrogram`` and ``vggish_input.waveform_to_examples`` of the
AudioSet release (tensorflow/models, ``research/audioset/vggish/``) with the constants of
``vggish_params.py``: 25 ms frames (400 samples) with a 10 ms hop (160 samples), a periodic Hann window,
STFT magnitudes of a 512-point FFT, 64 HTK-mel bands from 125 to 7500 Hz (the DC bin gets no weight)
and ``log(mel + 0.01)``. One second gives 98 frames; the example is its first 96 (0.96 s), so examples
line up with the one-second segments of AVE.
"""

import keras
import numpy as np

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512  # the next power of two above the window
NUM_BANDS = 64
LOWER_HZ = 125.0
UPPER_HZ = 7500.0
LOG_OFFSET = 0.01
NUM_FRAMES = 96  # frames per example (0.96 s)


def hertz_to_mel(hertz):
    """The HTK mel scale: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(hertz, np.float64) / 700.0)


def mel_matrix(num_bands=NUM_BANDS, num_bins=FFT_LENGTH // 2 + 1, sample_rate=SAMPLE_RATE,
               lower_hz=LOWER_HZ, upper_hz=UPPER_HZ):
    """[num_bins, num_bands] triangular weights, linear in mel, that post-multiply STFT magnitudes.

    Band ``i`` rises from edge ``i`` to its centre ``i + 1`` and falls to edge ``i + 2`` of
    ``num_bands + 2`` edges evenly spaced in mel between ``lower_hz`` and ``upper_hz``; bin 0 (DC) gets
    no weight, as in ``mel_features.spectrogram_to_mel_matrix``.
    """
    bins_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_bins))[:, None]
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_bands + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (centre - lower)
    falling = (upper - bins_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights.astype(np.float32)


def periodic_hann(length=WINDOW_SAMPLES):
    """``0.5 - 0.5 cos(2 pi n / N)``: a full cosine period over N points (not NumPy's symmetric Hann)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float32)


@keras.saving.register_keras_serializable(package="edrnet_tf")
class LogMelExamples(keras.layers.Layer):
    """[B, 16000] one-second waveforms (16 kHz, in [-1, 1]) -> [B, 96, 64] VGGish log-mel examples.

    Written in ``keras.ops`` (frames gathered by index, ``rfft``, a constant mel matrix), so it runs on
    every backend and inside the jit-compiled VGGish model.

    Example:
    >>> LogMelExamples()(np.zeros((2, 16000), "float32")).shape
    (2, 96, 64)

    Reference: AudioSet VGGish, ``mel_features.py`` / ``vggish_input.py`` (tensorflow/models).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        starts = np.arange(NUM_FRAMES) * HOP_SAMPLES
        self._frame_index = (starts[:, None] + np.arange(WINDOW_SAMPLES)[None, :]).astype("int32")
        self._window = periodic_hann()
        self._mel = mel_matrix()

    def call(self, waveforms):
        frames = keras.ops.take(waveforms, self._frame_index, axis=-1)  # [B, 96, 400]
        real, imag = keras.ops.rfft(frames * self._window, fft_length=FFT_LENGTH)
        magnitude = keras.ops.sqrt(real * real + imag * imag)  # [B, 96, 257]
        return keras.ops.log(keras.ops.matmul(magnitude, self._mel) + LOG_OFFSET)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], NUM_FRAMES, NUM_BANDS)
