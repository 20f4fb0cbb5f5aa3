"""A video file -> AVE-compatible features: [T, 128] VGGish audio and [T, 7, 7, 512] VGG-19 visual.

``FeatureExtractor`` holds both networks (built once) and turns one video into features;
``features_for_videos`` is the whole path for a list of files. The audio features are VGGish's raw
128-d embeddings (the ``vggish/embedding`` output), which is what a public copy of the AVE authors'
extraction script stores; with ``vggish_pca`` they are PCA-whitened and quantised to 0..255 like the
AudioSet release instead (``docs/extraction.md``).
"""

import numpy as np

from edrnet_tf.extraction import decode, pca, vggish, visual


class FeatureExtractor:
    """Extracts the features of one video at a time.

    Args:
        vggish_checkpoint: path of ``vggish_model.ckpt``, or ``None`` for a randomly initialised VGGish.
        vggish_pca: path of ``vggish_pca_params.npz`` to post-process the embeddings, or ``None``.
        vgg19_weights: ``"imagenet"``, a local weights file, or ``None`` for a random VGG-19.
        frames_per_segment: frames averaged per one-second segment (16 in AVE).
        batch_size: frames per VGG-19 batch (one-second audio examples per VGGish batch).
    """

    def __init__(self, vggish_checkpoint=None, vggish_pca=None, vgg19_weights="imagenet", frames_per_segment=16,
                 batch_size=64):
        self.pca_params = pca.load_pca_params(vggish_pca) if vggish_pca else None
        network = vggish.vggish_network()
        if vggish_checkpoint:
            vggish.load_vggish_checkpoint(network, vggish_checkpoint)
        self.audio_model = vggish.vggish_audio_model(network)
        self.visual_model = visual.vgg19_pool5(vgg19_weights)
        self.frames_per_segment = frames_per_segment
        self.batch_size = batch_size

    def audio_features(self, waveform):
        """[T * 16000] 16 kHz mono samples -> [T, 128] float32."""
        seconds = waveform.reshape(-1, decode.SAMPLE_RATE)
        embeddings = np.concatenate([
            np.asarray(self.audio_model.predict_on_batch(seconds[i:i + self.batch_size]))
            for i in range(0, len(seconds), self.batch_size)])
        if self.pca_params is not None:
            return pca.postprocess(embeddings, self.pca_params)
        return embeddings.astype(np.float32)

    def __call__(self, path):
        """``(audio [T, 128], visual [T, 7, 7, 512])`` of the video file ``path`` (T = its whole seconds);
        frames are decoded and run batch by batch, never all held in memory."""
        waveform = decode.decode_audio(path)
        frames = decode.iter_frames(path, self.frames_per_segment, visual.IMAGE_SIZE,
                                    max_segments=len(waveform) // decode.SAMPLE_RATE)
        maps = visual.segment_maps(self.visual_model, frames, self.frames_per_segment, self.batch_size)
        segments = decode.whole_segments(path, waveform, len(maps))
        return self.audio_features(waveform[:segments * decode.SAMPLE_RATE]), maps[:segments]


def features_for_videos(paths, extractor=None, **extractor_args):
    """``[(audio [T_i, 128], visual [T_i, 7, 7, 512]) for each path]`` with ``extractor`` (or a
    ``FeatureExtractor(**extractor_args)``); the first failing video raises its one-line error."""
    extractor = extractor or FeatureExtractor(**extractor_args)
    return [extractor(path) for path in paths]
