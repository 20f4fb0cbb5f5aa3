"""A video file -> AVE-compatible features: [T, 128] VGGish audio and [T, 7, 7, 512] VGG-19 visual.

``FeatureExtractor`` holds both networks (built once) and turns one video into features;
``features_for_videos`` is the whole path for a list of files. By default the features are made as the
AVE release's were (``docs/extraction.md``): VGGish's ``fc2`` after its ReLU (the 2018 ``vggish_slim.py``
behind ``vggish/embedding``, which a public copy of the AVE authors' extraction script stores) and AVE's
frame picks with ``cv2.resize``'s bilinear interpolation; ``vggish_embedding`` and ``frame_rule`` choose
otherwise, and ``attributes`` records the choices for the ``.h5`` files.
"""

import numpy as np

from edrnet_tf.extraction import decode, pca, vggish, visual


class FeatureExtractor:
    """Extracts the features of one video at a time.

    Args:
        vggish_checkpoint: path of ``vggish_model.ckpt``, or ``None`` for a randomly initialised VGGish.
        vggish_pca: path of ``vggish_pca_params.npz``; required by, and only used with, ``"pca"``.
        vgg19_weights: ``"imagenet"``, a local weights file, or ``None`` for a random VGG-19.
        frames_per_segment: frames averaged per one-second segment (16 in AVE).
        batch_size: frames per VGG-19 batch (one-second audio examples per VGGish batch).
        vggish_embedding: ``"relu"`` (AVE's), ``"linear"`` or ``"pca"`` (``vggish.EMBEDDINGS``).
        frame_rule: ``"ave"`` (AVE's picks and resize) or ``"centre"`` (``decode.FRAME_RULES``).
    """

    def __init__(self, vggish_checkpoint=None, vggish_pca=None, vgg19_weights="imagenet", frames_per_segment=16,
                 batch_size=64, vggish_embedding="relu", frame_rule="ave"):
        if vggish_embedding not in vggish.EMBEDDINGS:
            raise ValueError(f"--vggish-embedding={vggish_embedding!r} is invalid: expected one of "
                             f"{', '.join(vggish.EMBEDDINGS)}")
        if frame_rule not in decode.FRAME_RULES:
            raise ValueError(f"--frame-rule={frame_rule!r} is invalid: expected one of {', '.join(decode.FRAME_RULES)}")
        if (vggish_embedding == "pca") != bool(vggish_pca):
            raise ValueError("--vggish-embedding pca needs --vggish-pca vggish_pca_params.npz" if vggish_pca is None
                             else f"--vggish-pca is only used by --vggish-embedding pca, not {vggish_embedding}")
        for flag, value in (("--frames-per-segment", frames_per_segment), ("--extract-batch-size", batch_size)):
            if value < 1:
                raise ValueError(f"{flag}={value} is invalid: expected a positive integer")
        self.pca_params = pca.load_pca_params(vggish_pca) if vggish_pca else None
        network = vggish.vggish_network(relu_embedding=vggish_embedding == "relu")
        if vggish_checkpoint:
            vggish.load_vggish_checkpoint(network, vggish_checkpoint)
        self.audio_model = vggish.vggish_audio_model(network)
        self.visual_model = visual.vgg19_pool5(vgg19_weights)
        self.frames_per_segment = frames_per_segment
        self.batch_size = batch_size
        self.vggish_embedding = vggish_embedding
        self.frame_rule = frame_rule

    @property
    def attributes(self):
        """The choices that shape the features, as the ``.h5`` files record them (``writer.ATTRIBUTES``)."""
        return {"vggish_embedding": self.vggish_embedding, "frame_rule": self.frame_rule,
                "frames_per_segment": self.frames_per_segment}

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
        frames = decode.iter_video_frames(path, len(waveform), self.frames_per_segment, visual.IMAGE_SIZE,
                                          self.frame_rule)
        maps = visual.segment_maps(self.visual_model, frames, self.frames_per_segment, self.batch_size)
        segments = decode.whole_segments(path, waveform, len(maps))
        return self.audio_features(waveform[:segments * decode.SAMPLE_RATE]), maps[:segments]


def features_for_videos(paths, extractor=None, **extractor_args):
    """``[(audio [T_i, 128], visual [T_i, 7, 7, 512]) for each path]`` with ``extractor`` (or a
    ``FeatureExtractor(**extractor_args)``); the first failing video raises its one-line error."""
    extractor = extractor or FeatureExtractor(**extractor_args)
    return [extractor(path) for path in paths]
