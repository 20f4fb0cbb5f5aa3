"""From video files to AVE-compatible features: decoding (PyAV), VGGish audio embeddings (log-mel front
end, network, checkpoint loader, PCA post-processing), VGG-19 pool5 visual maps and the resumable
``.h5`` writer. ``python -m edrnet_tf.extract`` is the command line; ``docs/extraction.md`` the guide."""

from edrnet_tf.extraction.pipeline import FeatureExtractor, features_for_videos

__all__ = ["FeatureExtractor", "features_for_videos"]
