"""Training with the split's features resident on the device: only indices are fed (issue 13).

A tf.data pipeline copies ~1 MB of float32 features per video from host memory every step; on an
accelerator that bounds training by 10-20x, while the whole AVE training split (3.4 GB float32, 1.7 GB
bfloat16) fits in any accelerator's memory. Here the features are held once as non-trainable weights of
``ResidentFeatures``; a batch is a pair of int32 index arrays (source row, source segment) per segment,
gathered inside the compiled step: an original video is its row repeated with segments 0..N-1, an SMB
fused video (Algorithm 1 of Rao et al., AAAI 2022) the provenance ``data.smb_sampler`` draws. The EDRNet
stays the model that is saved: ``device_training_model`` wraps it, ``OnInnerModel`` points the callbacks
that save or predict at it. Backend-agnostic (``keras.ops`` in the layer); nothing here imports TensorFlow.

Example:
    >>> arrays = read_split(manual_dir, "train")  # data.arrays, or pipeline.split_arrays
    >>> resident = ResidentFeatures.from_arrays(arrays["audio"], arrays["visual"], feature_dtype="bfloat16")
    >>> edrnet = EDRNet(config)
    >>> model = device_training_model(edrnet, resident)
    >>> model.compile(...)  # the objective of model.losses.objective, keyed by EDRNet's output names
    >>> batches = EpochBatches(arrays["segment_labels"], arrays["video_label"], 64, list(model.output),
    ...                        per_class=250, seed=0)
    >>> model.fit(batches, epochs=30, shuffle=False,  # EpochBatches shuffles
    ...           callbacks=[OnInnerModel(keras.callbacks.ModelCheckpoint("model.keras"), edrnet)])
"""

import math

import keras
import numpy as np
from keras import ops

from edrnet_tf import ave
from edrnet_tf.data.smb_sampler import FusionSampler, epoch_rng
from edrnet_tf.data.smb_states import StateDatabase
from edrnet_tf.model.losses import objective_targets

INDEX_KEYS = ("rows", "segments")
FEATURE_DTYPES = ("float32", "bfloat16")
TASKS = ("sel", "wsel")


@keras.saving.register_keras_serializable(package="edrnet_tf")
class ResidentFeatures(keras.layers.Layer):
    """A split's audio and visual features held as non-trainable weights, gathered by segment indices.

    Inputs: ``{"rows": [B, N] int, "segments": [B, N] int}``, the source row and segment of every segment.
    Outputs: ``{"audio": [B, N, 128], "visual": [B, N, 7, 7, 512]}`` in the layer's compute dtype.

    Args:
        num_rows: M, the videos held.
        n_segments: N, the segments of each held video.
        feature_dtype: the dtype the features are held in: "float32", or "bfloat16" for half the memory
            (rounds each feature to 8 significant bits).
    """

    def __init__(self, num_rows, n_segments=ave.N_SEGMENTS, feature_dtype="float32", **kwargs):
        super().__init__(**kwargs)
        if feature_dtype not in FEATURE_DTYPES:
            raise ValueError(f"ResidentFeatures(feature_dtype={feature_dtype!r}) is invalid: expected one of "
                             f"{FEATURE_DTYPES}")
        self.num_rows = int(num_rows)
        self.n_segments = int(n_segments)
        self.feature_dtype = feature_dtype
        held = dict(initializer="zeros", dtype=feature_dtype, trainable=False)
        self.audio = self.add_weight(shape=(self.num_rows, self.n_segments, ave.AUDIO_DIM), name="audio", **held)
        self.visual = self.add_weight(shape=(self.num_rows, self.n_segments, *ave.VISUAL_SHAPE), name="visual",
                                      **held)
        self.built = True

    @classmethod
    def from_arrays(cls, audio, visual, feature_dtype="float32", **kwargs):
        """The layer holding ``audio`` [M, N, 128] and ``visual`` [M, N, 7, 7, 512] (NumPy)."""
        layer = cls(len(audio), np.shape(audio)[1], feature_dtype=feature_dtype, **kwargs)
        layer.set_features(audio, visual)
        return layer

    def set_features(self, audio, visual):
        """Copies ``audio`` [M, N, 128] and ``visual`` [M, N, 7, 7, 512] into the held weights."""
        for name, array, variable in (("audio", audio, self.audio), ("visual", visual, self.visual)):
            if tuple(np.shape(array)) != tuple(variable.shape):
                raise ValueError(f"ResidentFeatures: {name} must be {tuple(variable.shape)}, found shape "
                                 f"{tuple(np.shape(array))}")
            variable.assign(np.asarray(array, np.float32 if self.feature_dtype == "float32" else _bfloat16()))

    def call(self, inputs):
        flat = ops.cast(inputs["rows"], "int32") * self.n_segments + ops.cast(inputs["segments"], "int32")
        return {
            "audio": ops.cast(ops.take(ops.reshape(self.audio, (-1, ave.AUDIO_DIM)), flat, axis=0),
                              self.compute_dtype),
            "visual": ops.cast(ops.take(ops.reshape(self.visual, (-1, *ave.VISUAL_SHAPE)), flat, axis=0),
                               self.compute_dtype),
        }

    def compute_output_spec(self, inputs):
        shape = tuple(inputs["rows"].shape)
        return {"audio": keras.KerasTensor(shape + (ave.AUDIO_DIM,), self.compute_dtype),
                "visual": keras.KerasTensor(shape + ave.VISUAL_SHAPE, self.compute_dtype)}

    def get_config(self):
        return {**super().get_config(), "num_rows": self.num_rows, "n_segments": self.n_segments,
                "feature_dtype": self.feature_dtype}


def _bfloat16():
    import ml_dtypes  # noqa: PLC0415  (NumPy's bfloat16; installed with JAX and with TensorFlow)

    return ml_dtypes.bfloat16


def device_training_model(edrnet, resident):
    """The model ``fit`` trains: ``{"rows", "segments"}`` -> ``resident`` -> ``edrnet``, with EDRNet's outputs.

    It shares ``edrnet``'s layers and weights, so training it trains ``edrnet``; save ``edrnet`` (not this
    model, which also holds the features): wrap the callbacks that save or predict in ``OnInnerModel``.
    """
    inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in INDEX_KEYS}
    return keras.Model(inputs, edrnet(resident(inputs)), name=f"{edrnet.name}_on_resident_features")


class OnInnerModel(keras.callbacks.Callback):
    """Runs ``callback`` on ``inner`` (the EDRNet) while ``fit`` trains ``device_training_model``'s model.

    For the callbacks that save or predict (``ModelCheckpoint``, ``callbacks.SegmentValidation``): they see
    EDRNet, which takes features, and save it alone. A stop they request (``EarlyStopping``) stops the
    training model. Leave the callbacks that use the optimizer (``ReduceLROnPlateau``, ``BackupAndRestore``)
    on the training model: ``inner`` is not compiled.
    """

    def __init__(self, callback, inner):
        super().__init__()
        self.callback = callback
        self.inner = inner

    def set_params(self, params):
        self.callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(self.inner)

    def on_train_begin(self, logs=None):
        self.inner.stop_training = False
        self.callback.on_train_begin(logs)


def _forwarding(hook):
    def forward(self, *args, **kwargs):
        getattr(self.callback, hook)(*args, **kwargs)
        if getattr(self.inner, "stop_training", False):
            self.model.stop_training = True
    forward.__name__ = hook
    return forward


for _hook in ("on_epoch_begin", "on_epoch_end", "on_train_end", "on_train_batch_begin", "on_train_batch_end",
              "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_begin",
              "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(OnInnerModel, _hook, _forwarding(_hook))


class EpochBatches(keras.utils.PyDataset):
    """The training epochs as index batches: the originals plus ``per_class`` SMB fused videos per class.

    Every epoch draws fresh fused videos (``smb_sampler.FusionSampler``, the distribution of ``data.smb``)
    and a fresh order of originals and fused videos together, both from ``epoch_rng(seed, epoch)``: the same
    seed gives the same epochs. Each batch is ``(x, y)``: x is ``{"rows", "segments"}`` int32 [B, N] for
    ``device_training_model``, or, with ``features``, the same videos gathered on the host
    (``{"audio", "visual"}`` float32, EDRNet's inputs); y is ``losses.objective_targets``: sel gives every
    output named in ``output_names`` the segment labels, wsel gives ``probs`` the video labels.
    Pass ``shuffle=False`` to ``fit`` (Keras would otherwise reorder the batches unseeded).

    Args:
        segment_labels: int [M, N], the labels of the held rows.
        video_label: int [M].
        batch_size: videos per batch; the last batch of an epoch may be smaller.
        output_names: the outputs of the trained model (``list(model.output)``).
        per_class: S, fused videos per fusable class and epoch (sel only); 0 gives the originals only.
        seed: fusion and shuffling seed.
        task: "sel" or "wsel".
        features: None (indices), or ``(audio, visual)`` NumPy arrays of the M rows (host gathering).
        initial_epoch: the epoch the first ``fit`` epoch is (to resume a run where it stopped).
        background: the background label.
        sequence_rule: how SMB weights the state sequences, ``smb_states.SEQUENCE_RULES``.
        share: ``(index, count)``: when ``count`` processes train one model (``distribution.share``), this
            process's rows ``[index*B/count, (index+1)*B/count)`` of every full batch (a short last batch is
            dropped).
    """

    def __init__(self, segment_labels, video_label, batch_size, output_names, per_class=0, seed=0, task="sel",
                 features=None, initial_epoch=0, background=ave.BACKGROUND, sequence_rule="machine", share=(0, 1)):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"EpochBatches(task={task!r}) is invalid: expected one of {TASKS}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"EpochBatches: batch_size must be an int >= 1, found {batch_size!r}")
        if per_class and task == "wsel":
            raise ValueError("EpochBatches: SMB fusion (per_class > 0) needs segment labels: sel only, found wsel")
        self.segment_labels = np.asarray(segment_labels, np.int64)
        self.video_label = np.asarray(video_label, np.int64)
        self.sampler = FusionSampler(StateDatabase.from_labels(self.segment_labels, self.video_label, background,
                                                               sequence_rule)) if per_class else None
        self.batch_size = int(batch_size)
        self.output_names = list(output_names)
        self.per_class = per_class
        self.seed = seed
        self.task = task
        self.features = features
        self.initial_epoch = initial_epoch
        self.share = tuple(share)
        self.epoch = initial_epoch - 1  # on_epoch_begin moves to the first epoch
        self._plan = None

    @property
    def videos(self):
        """Videos per epoch: the originals plus S per fusable class."""
        return len(self.video_label) + (self.per_class * self.sampler.num_classes if self.sampler else 0)

    def __len__(self):
        if self.share[1] > 1:
            return self.videos // self.batch_size
        return math.ceil(self.videos / self.batch_size)

    def on_epoch_begin(self):
        self.epoch += 1
        self._plan = None

    def plan(self, epoch):
        """The videos of ``epoch`` in their order: dict of rows, segments, segment_labels [V, N], video_label [V]."""
        m, n = len(self.video_label), self.segment_labels.shape[1]
        videos = {"rows": np.repeat(np.arange(m)[:, None], n, 1), "segments": np.tile(np.arange(n), (m, 1)),
                  "segment_labels": self.segment_labels, "video_label": self.video_label}
        if self.sampler:
            fused = self.sampler.draw(self.per_class, epoch_rng(self.seed, epoch, stream=0))
            fused["rows"], fused["segments"] = fused["source_rows"], fused["source_segments"]
            videos = {key: np.concatenate([value, fused[key]]) for key, value in videos.items()}
        order = epoch_rng(self.seed, epoch, stream=1).permutation(self.videos)
        return {key: value[order] for key, value in videos.items()}

    def __getitem__(self, index):
        if self._plan is None:  # Keras may read batches before the first epoch begins (TF's signature)
            self._plan = self.plan(max(self.epoch, self.initial_epoch))
        part, count = self.share
        start = index * self.batch_size
        at = slice(start + part * self.batch_size // count, start + (part + 1) * self.batch_size // count)
        rows, segments = self._plan["rows"][at], self._plan["segments"][at]
        if self.features is None:
            x = {"rows": rows.astype(np.int32), "segments": segments.astype(np.int32)}
        else:
            x = {"audio": self.features[0][rows, segments], "visual": self.features[1][rows, segments]}
        return x, objective_targets(self.task, self.output_names, self._plan["segment_labels"][at].astype(np.int32),
                                    self._plan["video_label"][at].astype(np.int32))
