"""The planted signal of the synthetic AVE features: class prototypes, per-video gains and instances,
per-segment modality states, AR(1) noise and the visual object (``synthetic`` writes them in the AVE layout).

How the signal is planted (parameters in :class:`SyntheticParams`):

* Every class has a prototype direction in audio space (128-d, Gaussian, unit norm) and in the 512
  visual channels (non-negative, sparse, unit norm). The pairs in :data:`SIMILAR_PAIRS` (bus/truck,
  motorcycle/race car, airplane/helicopter, male/female speech) share most of their prototype
  (cosine ``pair_similarity``) in both modalities.
* Each video draws its own instance of the class prototypes (``instance_spread``) and its own
  recording gains for audio and vision (log-uniform in ``gain_range``): a loud video's audio-only
  background segment can be louder than a quiet video's event segment, so a segment cannot be told
  from its own features alone whether both modalities carry the class; the rest of the video can.
* Event segments (inside the span) carry the class in audio AND vision, the first and last
  segments of a span at ``shore_intensity``. Background segments of an event video carry it in
  audio only, vision only or neither (``background_states`` probabilities, a Markov chain that keeps
  its state with probability ``background_persistence``): that is what "background" means in AVE.
* The visual object sits in a 2x2 or 3x3 block of the 7x7 map, at a random place per video that
  drifts by at most one cell per second, on a per-video non-negative "scene" map; pool5-like maps are
  non-negative, so the visual map is ``relu(scene + object + noise)``.
* Noise is AR(1) in time (``noise_rho``), on top of a per-video audio ambience. Most of it changes
  from segment to segment while the class, the instance and the gains hold for the whole video, so a
  temporal model can pool evidence a per-segment classifier cannot.
* ``right_labels.h5`` (C-AVE) holds the planted truth. For a fraction ``oave_error_rate`` of the test
  videos the O-AVE labels (``labels.h5``, ``Annotations.txt``) put one span boundary one second off,
  as the original annotations did for the videos the PSP authors corrected.
* The background-only videos (``*_noisy.h5``) carry a random class in one modality at most.

The defaults (generator 2) are tuned so that, like the real AVE (paper Table 4), a per-segment linear
probe on one modality's pooled features scores about 60-70 %, on both about 75 %, and a small temporal
conv 10 points more (``python -m edrnet_tf.baselines``; figures in docs/synthetic.md).
:data:`V1_PARAMS` keeps generator 1's defaults.
"""

import dataclasses

import numpy as np

from edrnet_tf import ave

SIMILAR_PAIRS = (
    ("Bus", "Truck"),
    ("Motorcycle", "Race car, auto racing"),
    ("Fixed-wing aircraft, airplane", "Helicopter"),
    ("Male speech, man speaking", "Female speech, woman speaking"),
)


@dataclasses.dataclass(frozen=True)
class SyntheticParams:
    """Knobs of the planted signal (module docstring says what each one does).

    Attributes:
        audio_signal: norm of the class prototype in an audio segment at gain 1.
        visual_signal: value scale of the class prototype in each object cell at gain 1.
        audio_noise: per-dimension std of the AR(1) audio noise.
        visual_noise: per-value std of the AR(1) visual noise.
        audio_ambience: per-dimension std of the per-video constant audio background.
        visual_scene: scale of the per-video non-negative scene map.
        noise_rho: AR(1) coefficient of the noise across the 10 segments.
        instance_spread: std of the per-video deviation from the class prototype (relative).
        gain_range: (low, high) of the per-video, per-modality log-uniform gain.
        shore_intensity: signal scale of the first and last segment of a span.
        pair_similarity: cosine between the prototypes of the classes in SIMILAR_PAIRS.
        background_states: probabilities of (audio only, vision only, neither) for a background
            segment of an event video.
        background_persistence: probability that a background segment keeps the previous one's state.
        oave_error_rate: fraction of test videos whose O-AVE span is one second off the truth.
        noisy_videos: background-only videos; None gives 178 for 4143 videos, proportionally fewer
            (at least 2) for smaller sets.
    """

    audio_signal: float = 2.0
    visual_signal: float = 6.5
    audio_noise: float = 0.5
    visual_noise: float = 0.8
    audio_ambience: float = 0.1
    visual_scene: float = 0.5
    noise_rho: float = 0.1
    instance_spread: float = 0.2
    gain_range: tuple = (0.5, 2.0)
    shore_intensity: float = 0.6
    pair_similarity: float = 0.8
    background_states: tuple = (0.3, 0.3, 0.4)
    background_persistence: float = 0.7
    oave_error_rate: float = 0.1
    noisy_videos: int = None

    def num_noisy(self, videos):
        if self.noisy_videos is not None:
            return self.noisy_videos
        if videos == ave.NUM_VIDEOS:
            return ave.NUM_NOISY
        return max(2, round(ave.NUM_NOISY * videos / ave.NUM_VIDEOS))


# Generator 1's defaults: a weaker, more video-specific signal (on 1200 videos, per-segment probes 36-52 %
# on one modality, 51-57 % on both; docs/synthetic.md). Generator 2's defaults above behave like AVE.
V1_PARAMS = SyntheticParams(visual_signal=4.0, visual_noise=0.6, noise_rho=0.3, instance_spread=0.5,
                            gain_range=(0.25, 2.5))


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def class_prototypes(seed, params=SyntheticParams()):
    """(audio [28, 128], visual [28, 512]) unit prototypes; SIMILAR_PAIRS share cosine pair_similarity."""
    rng = np.random.default_rng([seed, 1])
    audio = _unit(rng.standard_normal((ave.NUM_EVENTS, ave.AUDIO_DIM)))
    visual = _unit(np.maximum(rng.standard_normal((ave.NUM_EVENTS, ave.VISUAL_SHAPE[-1])) - 0.5, 0.0))
    names = ave.event_names()
    s = params.pair_similarity
    for a, b in SIMILAR_PAIRS:
        i, j = names.index(a), names.index(b)
        # Keep the second class's own direction only in the part orthogonal to the first one.
        for protos in (audio, visual):
            own = protos[j] - (protos[j] @ protos[i]) * protos[i]
            protos[j] = s * protos[i] + np.sqrt(1 - s * s) * _unit(own)
    return audio.astype(np.float32), visual.astype(np.float32)


def _modality_states(rng, start, end, params):
    """[10, 2] bool: (class in audio, class in vision) per segment of one event video."""
    states = np.zeros((ave.N_SEGMENTS, 2), bool)
    states[start:end] = True
    choices = np.array([[True, False], [False, True], [False, False]])
    previous = None
    for t in range(ave.N_SEGMENTS):
        if start <= t < end:
            previous = None
            continue
        if previous is None or rng.random() >= params.background_persistence:
            previous = rng.choice(3, p=params.background_states)
        states[t] = choices[previous]
    return states


def _ar1(rng, shape, rho):
    """AR(1) noise over axis 1 (the segments) with unit marginal variance."""
    eps = rng.standard_normal(shape, dtype=np.float32)
    for t in range(1, shape[1]):
        eps[:, t] = rho * eps[:, t - 1] + np.sqrt(1 - rho * rho) * eps[:, t]
    return eps


def _object_masks(rng, n):
    """[n, 10, 7, 7] float32 cell weights of the visual object (a drifting 2x2 or 3x3 block)."""
    side = 7
    masks = np.zeros((n, ave.N_SEGMENTS, side, side), np.float32)
    for v in range(n):
        size = 3 if rng.random() < 0.3 else 2
        y, x = rng.integers(0, side - size + 1, 2)
        for t in range(ave.N_SEGMENTS):
            if t and rng.random() < 0.3:
                y = int(np.clip(y + rng.integers(-1, 2), 0, side - size))
                x = int(np.clip(x + rng.integers(-1, 2), 0, side - size))
            masks[v, t, y:y + size, x:x + size] = 1.0
    return masks


def synthesize_features(rng, classes, states, protos, params):
    """Audio [n, 10, 128] and visual [n, 10, 7, 7, 512] float32 for n videos.

    ``classes[v]`` is the class planted in video v (-1: none); ``states[v]`` its [10, 2] (audio,
    vision) presence mask with the shore intensity already folded in as float scales.
    """
    audio_protos, visual_protos = protos
    n = len(classes)
    lo, hi = np.log(params.gain_range[0]), np.log(params.gain_range[1])
    gains = np.exp(rng.uniform(lo, hi, (n, 2))).astype(np.float32)
    has = classes >= 0
    c = np.where(has, classes, 0)
    qa = _unit(audio_protos[c] + params.instance_spread / np.sqrt(ave.AUDIO_DIM)
               * rng.standard_normal((n, ave.AUDIO_DIM), dtype=np.float32))
    qv = _unit(np.maximum(visual_protos[c] + params.instance_spread / np.sqrt(ave.VISUAL_SHAPE[-1])
                          * rng.standard_normal((n, ave.VISUAL_SHAPE[-1]), dtype=np.float32), 0.0))
    scale = states * gains[:, None, :] * has[:, None, None]  # [n, 10, 2]

    audio = params.audio_ambience * rng.standard_normal((n, 1, ave.AUDIO_DIM), dtype=np.float32)
    audio = audio + params.audio_noise * _ar1(rng, (n, ave.N_SEGMENTS, ave.AUDIO_DIM), params.noise_rho)
    audio += params.audio_signal * scale[:, :, 0, None] * qa[:, None, :]

    cells = ave.VISUAL_SHAPE[0] * ave.VISUAL_SHAPE[1]
    channels = ave.VISUAL_SHAPE[-1]
    scene = params.visual_scene * np.maximum(rng.standard_normal((n, 1, cells, channels), dtype=np.float32), 0.0)
    visual = params.visual_noise * _ar1(rng, (n, ave.N_SEGMENTS, cells, channels), params.noise_rho)
    visual += scene
    masks = _object_masks(rng, n).reshape(n, ave.N_SEGMENTS, cells)
    visual += (params.visual_signal * scale[:, :, 1, None, None] * masks[..., None]) * qv[:, None, None, :]
    np.maximum(visual, 0.0, out=visual)
    return audio, visual.reshape((n, ave.N_SEGMENTS) + ave.VISUAL_SHAPE)


def event_states(rng, plan, rows, params):
    """[len(rows), 10, 2] float32 (audio, vision) scales of the planted event videos ``rows`` of ``plan``
    (the shore segments of spans of 3 s or more at ``shore_intensity``)."""
    states = np.zeros((len(rows), ave.N_SEGMENTS, 2), np.float32)
    for k, r in enumerate(rows):
        start, end = plan.truth[r]
        s = _modality_states(rng, start, end, params).astype(np.float32)
        if end - start >= 3:
            s[start] *= params.shore_intensity
            s[end - 1] *= params.shore_intensity
        states[k] = s
    return states


def noisy_states(rng, n, params):
    """Background-only videos: a random class in at most one modality, a few segments at a time."""
    classes = rng.integers(0, ave.NUM_EVENTS, n)
    states = np.zeros((n, ave.N_SEGMENTS, 2), np.float32)
    for v in range(n):
        states[v] = _modality_states(rng, 0, 0, params)
    return classes, states
