"""AVE's visual features: VGG-19 pool5 maps of the frames of a segment, averaged -> [7, 7, 512].

``keras.applications.VGG19(include_top=False)`` ends at ``block5_pool``, the [7, 7, 512] map of a 224 x
224 frame; frames go through ``keras.applications.vgg19.preprocess_input`` (RGB -> BGR, ImageNet channel
means subtracted, the "caffe" mode the weights were trained with). AVE (Tian et al., ECCV 2018) averaged
the maps of 16 frames per one-second segment.
"""

import itertools
import pathlib

import keras
import numpy as np

IMAGE_SIZE = 224
POOL5_SHAPE = (7, 7, 512)


def vgg19_pool5(weights="imagenet"):
    """The VGG-19 convolutional base: ``"imagenet"`` (Keras' download, cached in ``~/.keras/models``), a
    local ``.h5``/``.weights.h5`` file of it, or ``None`` (random, for tests and timing). A failed
    download or a foreign file raises one line saying what is missing."""
    if weights not in (None, "imagenet"):
        path = pathlib.Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"--vgg19-weights={str(weights)!r}: no weights file there")
        model = keras.applications.VGG19(include_top=False, weights=None, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        try:
            model.load_weights(path)
        except Exception as error:  # Keras raises ValueError, OSError or h5py errors for foreign files
            raise ValueError(f"--vgg19-weights={str(weights)!r} does not hold VGG-19 (include_top=False) "
                             f"weights: {str(error).strip().splitlines()[0] if str(error).strip() else error!r}"
                             ) from None
        return model
    try:
        return keras.applications.VGG19(include_top=False, weights=weights, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    except Exception as error:  # no network: urllib/HTTP errors surface as Exception from get_file
        raise ValueError("--vgg19-weights=imagenet: could not download Keras' VGG-19 ImageNet weights "
                         f"({type(error).__name__}); pass a local weights file with --vgg19-weights") from None


def segment_maps(model, frames, frames_per_segment=16, batch_size=64):
    """[T, 7, 7, 512] float32: the mean pool5 map of each whole segment of ``frames_per_segment`` frames.

    ``frames`` is any iterable of [224, 224, 3] uint8 RGB frames (a generator decoding the video, or an
    array); they go through ``model`` ``batch_size`` at a time (rounded to whole segments) and are averaged
    per batch, so memory holds one batch whatever the video length. A last incomplete segment is dropped.
    """
    per_batch = max(1, batch_size // frames_per_segment) * frames_per_segment
    maps, batch = [], []
    for frame in itertools.chain(frames, [None]):
        if frame is not None:
            batch.append(frame)
        if len(batch) == per_batch or (frame is None and len(batch) >= frames_per_segment):
            whole = len(batch) // frames_per_segment * frames_per_segment
            images = keras.applications.vgg19.preprocess_input(np.stack(batch[:whole]).astype(np.float32))
            pooled = keras.ops.convert_to_numpy(model.predict_on_batch(images))
            maps.append(pooled.reshape(-1, frames_per_segment, *POOL5_SHAPE).mean(axis=1))
            batch = []
    return np.concatenate(maps) if maps else np.zeros((0, *POOL5_SHAPE), np.float32)
