"""Bag to Instance Label Correction (B2ILC), the inference-time label smoothing of the paper's Fig. 6."""

from keras import ops

from edrnet_tf import ave


def foreground_runs(labels, background=ave.BACKGROUND):
    """Run ids of the maximal foreground / background runs of each video.

    Args:
        labels: [B, N] int segment labels.
        background: the background class index.

    Returns:
        ``(is_foreground [B, N] bool, run_id [B, N] int32)``; runs are numbered 0, 1, ... from the
        first segment, a new run starting wherever foreground and background alternate.
    """
    is_fg = ops.not_equal(labels, background)
    change = ops.not_equal(is_fg[:, 1:], is_fg[:, :-1])
    starts = ops.concatenate([ops.zeros_like(change[:, :1]), change], axis=1)
    run_id = ops.cumsum(ops.cast(starts, "int32"), axis=1)
    return is_fg, run_id


def b2ilc(labels, background=ave.BACKGROUND, witness_rate=0.5):
    """Bag to Instance Label Correction on predicted segment labels (docs/design.md "B2ILC").

    Every maximal run of non-background labels is a pseudo-positive bag; if one event label holds
    strictly more than ``witness_rate`` of the bag's segments, the whole bag takes that label,
    otherwise the bag is left as it is. Background segments never change. With ``witness_rate`` < 0.5
    several labels may pass; the most frequent wins, ties going to the label seen first in the bag.

    Vectorised over videos and segments with ``keras.ops`` (pairwise [B, N, N] comparisons), so it
    runs eagerly on any backend and inside a traced serving function, for any N.

    Args:
        labels: [B, N] int predicted labels (e.g. the argmax of ``probs``).
        background: the background class index.
        witness_rate: the WR threshold; 0.5 makes B2ILC a strict majority vote.

    Returns:
        [B, N] corrected labels, same dtype as ``labels``.
    """
    labels = ops.convert_to_tensor(labels)
    is_fg, run_id = foreground_runs(labels, background)
    same_bag = ops.equal(run_id[:, :, None], run_id[:, None, :]) & is_fg[:, :, None] & is_fg[:, None, :]
    same_label = ops.equal(labels[:, :, None], labels[:, None, :])
    # votes[b, u]: segments of u's bag sharing u's label; size[b, u]: segments in u's bag.
    votes = ops.sum(ops.cast(same_bag & same_label, "int32"), axis=2)
    size = ops.sum(ops.cast(same_bag, "int32"), axis=2)
    # For each segment t, the segment u of its bag whose label has the most votes (first one on ties).
    score = ops.where(same_bag, votes[:, None, :], -1)
    winner = ops.argmax(score, axis=2)
    winner_label = ops.take_along_axis(labels, winner, axis=1)
    winner_votes = ops.take_along_axis(votes, winner, axis=1)
    passes = ops.cast(winner_votes, "float32") > witness_rate * ops.cast(size, "float32")
    return ops.where(is_fg & passes, winner_label, labels)
