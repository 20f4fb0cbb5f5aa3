"""AVE's visual features: VGG-19 pool5 maps of the frames of a segment, averaged -> [7, 7, 512].

``keras.applications.VGG19(include_top=False)`` ends at ``block5_pool``, the [7, 7, 512] map of a 224 x
224 frame; frames go through ``keras.applications.vgg19.preprocess_input`` (RGB -> BGR, ImageNet channel
means subtracted, the "caffe" mode the weights were trained with). AVE (Tian et al., ECCV 2018) averaged
the maps of 16 frames per one-second segment.
"""

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


def segment_maps(model, frames, batch_size=64):
    """[T, F, 224, 224, 3] uint8 RGB frames -> [T, 7, 7, 512] float32, the mean pool5 map of each segment.

    Frames are run ``batch_size`` at a time (rounded to whole segments) and averaged per batch, so memory
    stays at one batch of maps whatever the video length.
    """
    segments, per_segment = frames.shape[:2]
    step = max(1, batch_size // per_segment)
    out = np.empty((segments, *POOL5_SHAPE), np.float32)
    for start in range(0, segments, step):
        chunk = frames[start:start + step]
        images = keras.applications.vgg19.preprocess_input(chunk.reshape(-1, *chunk.shape[2:]).astype(np.float32))
        maps = keras.ops.convert_to_numpy(model.predict_on_batch(images))
        out[start:start + len(chunk)] = maps.reshape(len(chunk), per_segment, *POOL5_SHAPE).mean(axis=1)
    return out
