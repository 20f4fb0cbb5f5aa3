"""Split-level metrics: global segment accuracy, per-class accuracy, confusion matrix, LSS terms."""

import keras
from keras import ops

from edrnet_tf import ave
from edrnet_tf.model.b2ilc import b2ilc as b2ilc_correct
from edrnet_tf.model.losses import lss_per_video, unit_features

LSS_TERMS = ("land", "sea", "shore")


def predicted_labels(probs, apply_b2ilc=False, background=ave.BACKGROUND, witness_rate=0.5):
    """Argmax segment labels of [B, N, C] probabilities, optionally corrected by B2ILC."""
    labels = ops.cast(ops.argmax(probs, axis=-1), "int32")
    return b2ilc_correct(labels, background, witness_rate) if apply_b2ilc else labels


class _SegmentMetric(keras.metrics.Metric):
    """Shared argument handling of the metrics on ``y_true`` [B, N] labels and ``y_pred`` [B, N, C] probs."""

    def __init__(self, b2ilc=False, background=ave.BACKGROUND, witness_rate=0.5, **kwargs):
        super().__init__(**kwargs)
        self.b2ilc = b2ilc
        self.background = background
        self.witness_rate = witness_rate

    def _labels(self, y_true, y_pred, sample_weight):
        y_true = ops.cast(y_true, "int32")
        y_hat = predicted_labels(y_pred, self.b2ilc, self.background, self.witness_rate)
        weight = ops.ones_like(y_true, dtype="float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            if len(sample_weight.shape) == 1:  # one weight per video
                sample_weight = sample_weight[:, None]
            weight = weight * sample_weight
        return y_true, y_hat, weight

    def get_config(self):
        return {**super().get_config(), "b2ilc": self.b2ilc, "background": self.background,
                "witness_rate": self.witness_rate}


@keras.saving.register_keras_serializable(package="edrnet_tf")
class SegmentAccuracy(_SegmentMetric):
    """Global segment accuracy: correct segments / all segments seen since the last reset.

    Not a mean of batch (or video) means: batches of any size count by their segments, which is
    how AVE results are reported (402 x 10 test segments). ``b2ilc=True`` applies B2ILC to the
    argmax labels first (paper Fig. 6).

    Args:
        b2ilc: correct the predictions with B2ILC before comparing.
        background: the background class index (for B2ILC).
        witness_rate: the B2ILC WR threshold.
    """

    def __init__(self, name="segment_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_hat, weight = self._labels(y_true, y_pred, sample_weight)
        self.correct.assign_add(ops.sum(ops.cast(ops.equal(y_true, y_hat), "float32") * weight))
        self.total.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.correct, self.total)


@keras.saving.register_keras_serializable(package="edrnet_tf")
class ConfusionMatrix(_SegmentMetric):
    """Segment confusion matrix ``[C, C]``: row = true class, column = predicted class (counts).

    Args:
        num_classes: C.
        b2ilc, background, witness_rate: as for ``SegmentAccuracy``.
    """

    def __init__(self, num_classes=ave.NUM_CLASSES, name="confusion_matrix", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.matrix = self.add_variable(shape=(num_classes, num_classes), initializer="zeros", name="matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_hat, weight = self._labels(y_true, y_pred, sample_weight)
        true_1h = ops.one_hot(ops.reshape(y_true, (-1,)), self.num_classes)
        pred_1h = ops.one_hot(ops.reshape(y_hat, (-1,)), self.num_classes)
        self.matrix.assign_add(ops.matmul(ops.transpose(true_1h * ops.reshape(weight, (-1, 1))), pred_1h))

    def result(self):
        return self.matrix

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="edrnet_tf")
class PerClassAccuracy(ConfusionMatrix):
    """Accuracy of the segments of each true class (recall per class), a [C] vector.

    A class with no segments seen yet gives NaN (not 0), so it cannot be mistaken for a class the
    model always gets wrong.
    """

    def __init__(self, num_classes=ave.NUM_CLASSES, name="per_class_accuracy", **kwargs):
        super().__init__(num_classes=num_classes, name=name, **kwargs)

    def result(self):
        total = ops.sum(self.matrix, axis=1)
        correct = ops.diagonal(self.matrix)
        return ops.where(total > 0, correct / ops.maximum(total, 1.0), float("nan"))


@keras.saving.register_keras_serializable(package="edrnet_tf")
class LSSTerm(keras.metrics.Metric):
    """One Land-Shore-Sea term (Eqs. 8-10) averaged over every video that has it since the last reset.

    ``y_true``: [B, N] int segment labels; ``y_pred``: [B, N, d] features. Over one batch this equals
    the corresponding term of ``lss_terms``; over a split it weights each video equally
    (``sample_weight`` is not used).

    Args:
        term: "land", "sea" or "shore".
        alpha: the shore margin of Eq. 10.
        background: the background class index.
        unit: on L2-normalised features, as ``LandShoreSeaLoss(unit=True)``.
    """

    def __init__(self, term="land", alpha=0.5, background=ave.BACKGROUND, unit=True, name=None, **kwargs):
        if term not in LSS_TERMS:
            raise ValueError(f"LSSTerm(term={term!r}) is invalid: expected one of {LSS_TERMS}")
        super().__init__(name=name or f"lss_{term}", **kwargs)
        self.term = term
        self.alpha = alpha
        self.background = background
        self.unit = unit
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        features = unit_features(y_pred) if self.unit else y_pred
        value, has_term = lss_per_video(y_true, features, self.alpha, self.background)[self.term]
        mask = ops.cast(has_term, "float32")
        self.total.assign_add(ops.sum(ops.cast(value, "float32") * mask))
        self.count.assign_add(ops.sum(mask))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {**super().get_config(), "term": self.term, "alpha": self.alpha, "background": self.background,
                "unit": self.unit}
