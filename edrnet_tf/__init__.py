"""edrnet-tf: EDRNet (Rao et al., AAAI 2022) for audio-visual event localization in Keras 3.

Importing the package registers every custom layer, loss and metric, so ``keras.saving.load_model``
of a saved ``.keras`` EDRNet works right after ``import edrnet_tf``.
"""

from edrnet_tf import quiet

with quiet.startup():  # `python -m edrnet_tf.<tool>`: the known third-party noise hidden unless --verbose
    from edrnet_tf.config import EDRNetConfig, max_layers, min_segments
    from edrnet_tf.model import EDRNet, layers, losses, metrics
    from edrnet_tf.model.b2ilc import b2ilc

__all__ = ["EDRNet", "EDRNetConfig", "b2ilc", "layers", "losses", "max_layers", "metrics", "min_segments"]
