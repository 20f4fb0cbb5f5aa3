"""EDRNet's custom layers: positional encoding (Eq. 1), segment folding for the visual encoder, the temporal
(transposed) convolutions as matmuls (Eqs. 2-3), gate (Eq. 5)."""

from edrnet_tf.model.layers.gate import GatedMix
from edrnet_tf.model.layers.positional_encoding import PositionalEncoding, sinusoidal_positions
from edrnet_tf.model.layers.visual_encoder import FoldSegments, UnfoldSegments
from edrnet_tf.model.layers.window_conv import Conv1D, Conv1DTranspose

__all__ = ["FoldSegments", "GatedMix", "PositionalEncoding", "UnfoldSegments", "Conv1D", "Conv1DTranspose",
           "sinusoidal_positions"]
