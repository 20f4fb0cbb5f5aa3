"""Per-channel input statistics of a split, streamed with bounded memory (EDRNet's input normalisation).

The real AVE training split is 3.3 GB of float32 features, so the statistics are accumulated batch by batch
(Chan et al.'s pairwise update of count, mean and sum of squared deviations, in float64) and never hold
more than one batch of features.
"""

import dataclasses

import numpy as np

from edrnet_tf import ave


@dataclasses.dataclass(frozen=True)
class InputStatistics:
    """Mean and (population) variance of every audio channel [128] and visual channel [512].

    Audio statistics are over videos and segments; visual ones over videos, segments and the 7x7 positions.
    ``videos`` is how many videos they were computed from; ``audio_negative_share`` and
    ``visual_negative_share`` the share of values below 0 (None when not counted): the distribution guard
    of prediction (``serving.input_check``) compares them.
    """

    audio_mean: np.ndarray
    audio_variance: np.ndarray
    visual_mean: np.ndarray
    visual_variance: np.ndarray
    videos: int
    audio_negative_share: float = None
    visual_negative_share: float = None

    def to_dict(self):
        return {"videos": self.videos, **{f.name: np.asarray(getattr(self, f.name)).tolist()
                                          for f in dataclasses.fields(self) if f.name != "videos"}}


class _Moments:
    """Running count, mean and sum of squared deviations per channel (last axis), and how many values were
    below 0."""

    def __init__(self, channels):
        self.count = 0
        self.negatives = 0
        self.mean = np.zeros(channels, np.float64)
        self.m2 = np.zeros(channels, np.float64)

    def update(self, values):
        x = np.asarray(values, np.float64).reshape(-1, self.mean.shape[0])
        n = x.shape[0]
        if n == 0:
            return
        self.negatives += int(np.count_nonzero(x < 0))
        batch_mean = x.mean(axis=0)
        batch_m2 = ((x - batch_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta ** 2 * self.count * n / total
        self.count = total

    def variance(self):
        return self.m2 / max(self.count, 1)

    def negative_share(self):
        return self.negatives / max(self.count * self.mean.shape[0], 1)


def stream_statistics(batches):
    """``InputStatistics`` of an iterable of ``{"audio": [b, N, 128], "visual": [b, N, 7, 7, 512]}`` batches."""
    audio, visual = _Moments(ave.AUDIO_DIM), _Moments(ave.VISUAL_SHAPE[-1])
    videos = 0
    for batch in batches:
        audio.update(batch["audio"])
        visual.update(batch["visual"])
        videos += len(batch["audio"])
    if videos == 0:
        raise ValueError("input statistics: the split holds no videos; expected at least one")
    return InputStatistics(audio.mean.astype(np.float32), audio.variance().astype(np.float32),
                           visual.mean.astype(np.float32), visual.variance().astype(np.float32), videos,
                           audio.negative_share(), visual.negative_share())
