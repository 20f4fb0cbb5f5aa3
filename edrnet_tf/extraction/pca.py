"""VGGish post-processing: the PCA (with whitening) and 8-bit quantisation of the AudioSet release.

Implements ``vggish_postprocess.Postprocessor`` (tensorflow/models, ``research/audioset/vggish/``):
``(embedding - pca_means) @ pca_eigen_vectors.T``, clipped to [-2, 2] and mapped to 0..255 with the
truncating ``uint8`` cast; returned as float32 so it fits the AVE ``.h5`` layout.
"""

import pathlib
import zipfile

import numpy as np

PCA_URL = "https://storage.googleapis.com/audioset/vggish_pca_params.npz"
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0


def load_pca_params(path, size=128):
    """``(means [size], eigen_vectors [size, size])`` from ``vggish_pca_params.npz``; a missing or
    foreign file raises one line naming it."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--vggish-pca={str(path)!r}: no file there (download {PCA_URL})")
    try:
        with np.load(path) as params:
            means = np.asarray(params["pca_means"], np.float64).reshape(-1)
            vectors = np.asarray(params["pca_eigen_vectors"], np.float64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"--vggish-pca={str(path)!r} is not a VGGish PCA file "
                         f"(expected pca_means and pca_eigen_vectors): {error}") from None
    if means.shape != (size,) or vectors.shape != (size, size):
        raise ValueError(f"--vggish-pca={str(path)!r} is not a VGGish PCA file: pca_means {list(means.shape)}, "
                         f"pca_eigen_vectors {list(vectors.shape)}, expected [{size}] and [{size}, {size}]")
    return means, vectors


def postprocess(embeddings, params):
    """[N, 128] raw embeddings -> [N, 128] float32 quantised values in 0..255 (integers)."""
    means, vectors = params
    projected = (np.asarray(embeddings, np.float64) - means) @ vectors.T
    clipped = np.clip(projected, QUANTIZE_MIN, QUANTIZE_MAX)
    scaled = (clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))
    return scaled.astype(np.uint8).astype(np.float32)
