"""Inference on videos of any length: sliding windows with overlap averaging, B2ILC, events.

A video longer than the training length W (10 segments) is cut into W-segment windows every ``stride``
segments (the last one ending at the video's end); each segment's class probabilities are the mean over
the windows that cover it. B2ILC (paper Fig. 6) then corrects the argmax labels of the whole video, and
every maximal run of one event class becomes an event (class name, start s, end s, mean probability).
"""

import keras
import numpy as np

from edrnet_tf import ave
from edrnet_tf.model.b2ilc import b2ilc


def window_starts(length, window, stride):
    """First segments of the windows that cover ``length`` segments (one window if it fits)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def windowed_probs(predict, audio, visual, window, stride):
    """Segment probabilities [M, T, C] of videos ``audio`` [M, T, 128], ``visual`` [M, T, 7, 7, 512].

    ``predict(audio, visual)`` maps [B, W, ...] features to [B, W, C] probabilities; videos with
    T <= ``window`` go through it whole, longer ones window by window, averaged where windows overlap.
    """
    videos, length = audio.shape[:2]
    if length <= window:
        return predict(audio, visual)
    starts = window_starts(length, window, stride)
    cut = lambda x: np.stack([x[:, s:s + window] for s in starts], axis=1).reshape(  # noqa: E731
        (videos * len(starts), window) + x.shape[2:])
    probs = predict(cut(audio), cut(visual))
    probs = probs.reshape((videos, len(starts)) + probs.shape[1:])
    total = np.zeros((videos, length, probs.shape[-1]), np.float64)
    covered = np.zeros(length)
    for i, start in enumerate(starts):
        total[:, start:start + window] += probs[:, i]
        covered[start:start + window] += 1
    return (total / covered[None, :, None]).astype(np.float32)


def events(labels, probs, class_names, background=ave.BACKGROUND):
    """The events of one video: maximal runs of one non-background label in ``labels`` [T], each as
    ``{"class", "start", "end", "mean_probability"}`` (seconds; end exclusive; the class's mean
    probability over the run's segments in ``probs`` [T, C])."""
    found, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            label = int(labels[start])
            if label != background:
                found.append({"class": class_names[label], "start": start, "end": t,
                              "mean_probability": float(np.mean(probs[start:t, label]))})
            start = t
    return found


def describe_videos(probs, rows, class_names, background=ave.BACKGROUND, witness_rate=0.5):
    """One dict per video (the JSON lines of ``edrnet_tf.predict``) from its segment ``probs`` [M, T, C]."""
    raw = np.argmax(probs, axis=-1).astype(np.int32)
    corrected = keras.ops.convert_to_numpy(b2ilc(raw, background=background, witness_rate=witness_rate))
    return [{"row": int(row), "segment_labels": [class_names[c] for c in labels], "labels": labels.tolist(),
             "labels_raw": raw_labels.tolist(), "events": events(labels, p, class_names, background)}
            for row, labels, raw_labels, p in zip(rows, corrected, raw, probs)]
