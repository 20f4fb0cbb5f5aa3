"""edrnet-tf: EDRNet (Rao et al., AAAI 2022) for audio-visual event localization in Keras 3.

Importing the package registers every custom layer and loss, so ``keras.saving.load_model`` of a
saved ``.keras`` EDRNet works right after ``import edrnet_tf``.
"""

from edrnet_tf.config import EDRNetConfig, max_layers, min_segments

__all__ = ["EDRNetConfig", "max_layers", "min_segments"]
