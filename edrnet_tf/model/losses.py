"""EDRNet objectives: the Land-Shore-Sea loss (Eqs. 8-10), MIL pooling (Eq. 7) and the SEL/WSEL objectives."""

import keras
from keras import ops

from edrnet_tf import ave
from edrnet_tf.model.b2ilc import foreground_runs

TASKS = ("sel", "wsel")


def safe_norm(x, axis=-1):
    """Euclidean norm whose gradient is 0 (not NaN) where the vector is 0.

    ``sqrt`` has an infinite derivative at 0, and the land/sea distance of a constant patch is exactly
    0; the where-trick feeds ``sqrt`` a 1 there and selects 0, so the value is exact everywhere and
    the gradient at 0 is the subgradient 0.
    """
    squared = ops.sum(ops.square(x), axis=axis)
    positive = squared > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, squared, 1.0)), 0.0)


def unit_features(features, epsilon=1e-6):
    """Each segment's feature vector scaled to unit L2 norm (a zero vector stays zero).

    The Land-Shore-Sea distances of Eqs. 8-10 then lie in [0, 2], the scale of the shore margin alpha,
    and the loss cannot be lowered by shrinking the features, only by arranging their directions.
    """
    return features / ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True) + epsilon)


def _masked_mean(values, mask, axis):
    """Mean of ``values`` over ``mask`` along ``axis``, and whether any entry was in the mask."""
    mask = ops.cast(mask, values.dtype)
    count = ops.sum(mask, axis=axis)
    return ops.divide_no_nan(ops.sum(values * mask, axis=axis), count), count > 0


def lss_per_video(segment_labels, features, alpha, background=ave.BACKGROUND):
    """The Land, Sea and Shore terms (Eqs. 8-10) of each video, and which videos have each term.

    Patches are maximal runs of foreground (land) or background (sea) segments. A patch of n >= 2
    segments gives ``|mean(first floor(n/2)) - mean(last floor(n/2))|`` (an odd patch's middle segment
    is in neither half); a video's land (sea) term is the mean over its lands (seas) with n >= 2.
    Each foreground/background border gives a shore triplet: anchor = the border's foreground segment,
    positive = mean of the rest of its land, negative = mean of the sea across the border,
    ``max(0, |a - p| - |a - n| + alpha)``; a land of one segment has no rest and gives no triplet.
    Everything is computed with masks of shape [B, patches, N]; no loops over videos or segments.

    Args:
        segment_labels: [B, N] int ground-truth labels.
        features: [B, N, d] the gated features ``R_AV``.
        alpha: the shore margin of Eq. 10.
        background: the background class index.

    Returns:
        ``{"land": ([B] value, [B] bool has_term), "sea": (...), "shore": (...)}``; a video without a
        term has value 0 and ``has_term`` False.
    """
    features = ops.convert_to_tensor(features)
    dtype = features.dtype
    labels = ops.cast(segment_labels, "int32")
    n_segments = ops.shape(labels)[1]
    is_fg, run_id = foreground_runs(labels, background)
    # member[b, p, t]: segment t belongs to patch p (at most N patches).
    member = ops.transpose(ops.one_hot(run_id, n_segments, dtype="int32"), (0, 2, 1))
    size = ops.sum(member, axis=2)  # [B, P]
    position = ops.cumsum(member, axis=2) - 1  # index of t inside patch p where member
    half = size // 2
    first = (member > 0) & (position < half[:, :, None])
    second = (member > 0) & (position >= (size - half)[:, :, None])
    first_mean = ops.einsum("bpt,btd->bpd", ops.cast(first, dtype), features)
    second_mean = ops.einsum("bpt,btd->bpd", ops.cast(second, dtype), features)
    half_f = ops.maximum(ops.cast(half, dtype), 1.0)[:, :, None]
    distance = safe_norm((first_mean - second_mean) / half_f)  # [B, P]
    patch_fg = ops.sum(member * ops.cast(is_fg, "int32")[:, None, :], axis=2) > 0
    splittable = size >= 2
    land = _masked_mean(distance, splittable & patch_fg, axis=1)
    sea = _masked_mean(distance, splittable & ~patch_fg & (size > 0), axis=1)

    # Shore: one triplet per border between t and t + 1 where foreground and background alternate.
    border = ops.not_equal(is_fg[:, 1:], is_fg[:, :-1])  # [B, N-1]
    left_fg = is_fg[:, :-1]
    anchor = ops.where(left_fg[:, :, None], features[:, :-1], features[:, 1:])  # [B, N-1, d]
    land_run = ops.where(left_fg, run_id[:, :-1], run_id[:, 1:])
    sea_run = ops.where(left_fg, run_id[:, 1:], run_id[:, :-1])
    patch_sum = ops.einsum("bpt,btd->bpd", ops.cast(member, dtype), features)
    land_size = ops.take_along_axis(size, land_run, axis=1)
    sea_size = ops.take_along_axis(size, sea_run, axis=1)
    land_sum = ops.take_along_axis(patch_sum, land_run[:, :, None], axis=1)
    sea_sum = ops.take_along_axis(patch_sum, sea_run[:, :, None], axis=1)
    positive = (land_sum - anchor) / ops.maximum(ops.cast(land_size - 1, dtype), 1.0)[:, :, None]
    negative = sea_sum / ops.maximum(ops.cast(sea_size, dtype), 1.0)[:, :, None]
    triplet = ops.relu(safe_norm(anchor - positive) - safe_norm(anchor - negative) + alpha)
    shore = _masked_mean(triplet, border & (land_size >= 2), axis=1)
    return {"land": land, "sea": sea, "shore": shore}


def lss_terms(segment_labels, features, alpha, background=ave.BACKGROUND):
    """The batch Land, Sea and Shore losses (Eqs. 8-10): each averaged over the videos that have it.

    A batch where no video has a term gives 0 for it. See ``lss_per_video`` for the definitions.

    Returns:
        ``(land, sea, shore)`` scalars.
    """
    per_video = lss_per_video(segment_labels, features, alpha, background)
    return tuple(_masked_mean(*per_video[term], axis=0)[0] for term in ("land", "sea", "shore"))


@keras.saving.register_keras_serializable(package="edrnet_tf")
class LandShoreSeaLoss(keras.losses.Loss):
    """``L_lss = L_land + L_sea + L_shore`` (Eqs. 8-10) on the gated features.

    ``y_true``: [B, N] int segment labels; ``y_pred``: [B, N, d] features (EDRNet's ``"features"``
    output). Returns the batch scalar of ``lss_terms`` summed.

    Args:
        alpha: the shore margin of Eq. 10.
        background: the background class index.
        unit: compute the terms on ``unit_features(y_pred)`` (EDRNetConfig.lss_unit_features).
    """

    def __init__(self, alpha=0.5, background=ave.BACKGROUND, unit=True, name="land_shore_sea", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = alpha
        self.background = background
        self.unit = unit

    def call(self, y_true, y_pred):
        features = unit_features(y_pred) if self.unit else y_pred
        land, sea, shore = lss_terms(y_true, features, self.alpha, self.background)
        return land + sea + shore

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "background": self.background, "unit": self.unit}


def mil_pool(probs):
    """MIL pooling of segment predictions into the video prediction, the mean over segments (Eq. 7).

    Args:
        probs: [B, N, C] segment probabilities.

    Returns:
        [B, C] video probabilities.
    """
    return ops.mean(probs, axis=1)


@keras.saving.register_keras_serializable(package="edrnet_tf")
class MILCrossEntropy(keras.losses.Loss):
    """The WSEL video-level loss: cross entropy of the MIL-pooled segment predictions (Eq. 7).

    ``y_true``: [B] int video labels; ``y_pred``: [B, N, C] segment probabilities.
    """

    def __init__(self, name="mil_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, mil_pool(y_pred))


def objective(config, task):
    """The ``(loss, loss_weights)`` dicts for ``model.compile``, keyed by EDRNet output names.

    ``"sel"``: ``lambda1 * CE(probs) + lambda2 * LSS(features)`` with targets
    ``{"probs": segment_labels, "features": segment_labels}``, plus ``branch_loss_weight * CE`` on each of
    ``probs_audio`` and ``probs_visual`` when that weight is > 0 (otherwise they carry no loss).
    ``"wsel"``: MIL cross entropy on ``"probs"`` with target ``{"probs": video_label}``.
    """
    if task == "sel":
        losses = {"probs": keras.losses.SparseCategoricalCrossentropy(name="segment_cross_entropy"),
                  "features": LandShoreSeaLoss(alpha=config.alpha, background=config.background,
                                               unit=config.lss_unit_features)}
        weights = {"probs": config.lambda1, "features": config.lambda2}
        if config.branch_loss_weight > 0:
            for head, branch in (("probs_audio", "A"), ("probs_visual", "V")):
                if branch in config.branches:
                    losses[head] = keras.losses.SparseCategoricalCrossentropy(name=f"{head}_cross_entropy")
                    weights[head] = config.branch_loss_weight
        return losses, weights
    if task == "wsel":
        return {"probs": MILCrossEntropy()}, {"probs": 1.0}
    raise ValueError(f"objective(task={task!r}) is invalid: expected one of {TASKS}")


def objective_targets(task, output_names, segment_labels, video_label):
    """The ``y`` of ``fit`` for ``objective(config, task)``: sel gives every output in ``output_names`` the
    segment labels (the loss reads ``probs`` and ``features``; the other heads are measured), wsel gives
    ``probs`` the video labels."""
    if task == "wsel":
        return {"probs": video_label}
    return {name: segment_labels for name in output_names}
