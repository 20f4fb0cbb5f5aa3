"""EDRNet's custom layers: positional encoding (Eq. 1), segment folding for the visual encoder, gate (Eq. 5)."""

from edrnet_tf.model.layers.gate import GatedMix
from edrnet_tf.model.layers.positional_encoding import PositionalEncoding, sinusoidal_positions
from edrnet_tf.model.layers.visual_encoder import FoldSegments, UnfoldSegments

__all__ = ["FoldSegments", "GatedMix", "PositionalEncoding", "UnfoldSegments", "sinusoidal_positions"]
