"""``CamImages``: Fig. 8's CAM strips of a few fixed videos, written to TensorBoard while training."""

import keras
import numpy as np
import tensorflow as tf

from edrnet_tf import ave
from edrnet_tf.analysis import cam, cam_strip


class CamImages(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last one), writes the visual and audio-guided visual CAM strip
    (``edrnet_tf.cam``, paper Fig. 8) of each given video as a TensorBoard image ``cam/<name>``.

    Args:
        inputs: ``{"audio": [M, N, 128], "visual": [M, N, 7, 7, 512]}`` NumPy arrays of a few videos.
        labels: [M, N] int ground-truth segment labels (shown under the frames).
        log_dir: the TensorBoard folder.
        names: M image names (default ``video_0``, ...).
        every: epochs between images (0: only after training).
        cell_px: pixels per frame.
        class_names: the C class names (default: AVE's).

    Example:
    >>> model.fit(..., callbacks=[CamImages({"audio": a[:2], "visual": v[:2]}, labels[:2], "runs/x/logs/cam")])
    """

    def __init__(self, inputs, labels, log_dir, names=None, every=1, cell_px=64, class_names=None):
        super().__init__()
        self.inputs = {key: np.asarray(inputs[key], np.float32) for key in ("audio", "visual")}
        self.labels = np.asarray(labels)
        if self.labels.shape != self.inputs["audio"].shape[:2]:
            raise ValueError(f"CamImages: expected labels of shape {self.inputs['audio'].shape[:2]} (videos, "
                             f"segments), found {self.labels.shape}")
        self.names = list(names) if names is not None else [f"video_{i}" for i in range(len(self.labels))]
        self.log_dir = str(log_dir)
        self.every = every
        self.cell_px = cell_px
        self.class_names = list(class_names or ave.class_names())
        self.writer = None
        self.probe = None
        self.written = None
        self.last_epoch = None

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(self.log_dir)
        self.probe = cam.cam_probe(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch
        if self.every and epoch % self.every == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self.last_epoch is not None and self.written != self.last_epoch:
            self.write(self.last_epoch)
        self.writer.flush()

    def write(self, epoch):
        maps = cam.class_activation_maps(self.model, self.inputs, probe=self.probe)
        kinds = cam.cam_kinds(self.model)
        predictions = maps["probs"].argmax(-1)
        with self.writer.as_default(step=epoch):
            for i, name in enumerate(self.names):
                png = cam_strip.strip_png({kind: maps[kind][i] for kind in kinds}, self.model.config.kernel_size,
                                          self.labels[i], predictions[i], class_names=self.class_names,
                                          cell_px=self.cell_px, title=f"{name}, epoch {epoch + 1}")
                tf.summary.image(f"cam/{name}", tf.image.decode_png(png, channels=4)[None])
        self.writer.flush()
        self.written = epoch
