"""Synthetic AVE features in the exact file layout of the real AVE release.

The real features (VGGish audio, VGG-19 pool5 visual maps) cannot be downloaded here, so this module
writes files with the real names, HDF5 keys, shapes and float64/float32 dtypes (design.md section 1)
plus a matching ``Annotations.txt`` and ``trainSet/valSet/testSet.txt``. Everything downstream reads
them through the same ``tfds_ave`` builder as the real files.

Labels follow the real statistics: each synthetic video copies the class and span of a real
``Annotations.txt`` row (all 4143 rows in order, with the real splits, for ``videos=4143``; a random
subset otherwise), so about two thirds of the videos are foreground from 0 to 10 s, the other spans
last 2-9 s and the classes are as imbalanced as in AVE (60 to 188 videos).

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

CLI: ``python -m edrnet_tf.data.synthetic --out DIR --videos N --seed S``.
"""

import argparse
import dataclasses
import json
import pathlib
import string

import h5py
import numpy as np

from edrnet_tf import ave, cli
from tfds_ave.ave_files import (ANNOTATIONS, AUDIO, FEATURE_KEY, LABELS, MIL_LABELS, NOISY_AUDIO, NOISY_LABELS,
                                NOISY_VISUAL, ORDER_FILES, ORDER_KEY, RIGHT_LABELS, SPLIT_FILES, VISUAL)

GENERATOR_VERSION = "2"  # "1": V1_PARAMS defaults (docs/synthetic.md compares the two)
CHUNK_VIDEOS = 32  # videos generated and written at a time (32 x 10 MB of float64 visual maps)
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


@dataclasses.dataclass
class _Plan:
    """The label side of a synthetic set: what each row is and which split it is in."""

    annotations: list  # ave.Annotation per row (O-AVE spans)
    truth: list  # (start, end) per row: the planted (C-AVE) span
    orders: dict  # split -> int64 row indices in split-file order


def split_sizes(videos):
    """Split sizes proportional to 3339/402/402 (exactly those for 4143 videos), at least 1 each."""
    val = max(1, round(videos * ave.SPLIT_SIZES["validation"] / ave.NUM_VIDEOS))
    test = max(1, round(videos * ave.SPLIT_SIZES["test"] / ave.NUM_VIDEOS))
    return {"train": videos - val - test, "validation": val, "test": test}


def _random_video_id(rng):
    alphabet = np.array(list(string.ascii_letters + string.digits + "-_"))
    return "".join(rng.choice(alphabet, 11))


def _real_orders(real):
    """Row indices of the real split files (line i of trainSet.txt is row train_order[i])."""
    row_of = {_annotation_line(a): i for i, a in enumerate(real)}
    return {
        split: np.array([row_of[_annotation_line(a)] for a in ave.read_annotations(ave.META_DIR / name, header=False)],
                        dtype=np.int64)
        for split, name in SPLIT_FILES.items()
    }


def _annotation_line(a):
    return f"{a.category}&{a.video_id}&{a.quality}&{a.start}&{a.end}"


def _perturb_span(rng, start, end):
    """Moves one boundary of a span by one second, keeping it inside [0, 10] and non-empty."""
    options = []
    if start > 0:
        options.append((start - 1, end))
    if end - start > 1:
        options += [(start + 1, end), (start, end - 1)]
    if end < ave.N_SEGMENTS:
        options.append((start, end + 1))
    return options[rng.integers(len(options))]


def plan_labels(videos, seed, params=SyntheticParams()):
    """Classes, spans and splits of a synthetic set (real rows and splits when ``videos == 4143``)."""
    if videos < 3:
        raise ValueError(f"--videos must be >= 3 (one per split), found {videos}")
    rng = np.random.default_rng([seed, 0])
    real = ave.read_annotations()
    if videos == ave.NUM_VIDEOS:
        annotations = real
        orders = _real_orders(real)
    else:
        picks = rng.choice(len(real), videos, replace=videos > len(real))
        annotations = [
            ave.Annotation(real[i].category, _random_video_id(rng), "good", real[i].start, real[i].end) for i in picks
        ]
        perm = rng.permutation(videos).astype(np.int64)
        sizes = split_sizes(videos)
        orders = {
            "train": perm[: sizes["train"]],
            "validation": perm[sizes["train"]: sizes["train"] + sizes["validation"]],
            "test": perm[sizes["train"] + sizes["validation"]:],
        }
    truth = [(a.start, a.end) for a in annotations]
    for row in orders["test"]:
        a = annotations[row]
        if a.end > a.start and rng.random() < params.oave_error_rate:
            truth[row] = _perturb_span(rng, a.start, a.end)
    return _Plan(annotations, truth, orders)


def one_hot_segments(spans, labels):
    """[R, 10, 29] one-hot segment labels: ``labels[r]`` inside ``spans[r]``, background elsewhere."""
    out = np.zeros((len(spans), ave.N_SEGMENTS, ave.NUM_CLASSES), np.float64)
    out[:, :, ave.BACKGROUND] = 1.0
    for r, ((start, end), label) in enumerate(zip(spans, labels)):
        out[r, start:end, ave.BACKGROUND] = 0.0
        out[r, start:end, label] = 1.0
    return out


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


def _event_states(rng, plan, rows, params):
    states = np.zeros((len(rows), ave.N_SEGMENTS, 2), np.float32)
    for k, r in enumerate(rows):
        start, end = plan.truth[r]
        s = _modality_states(rng, start, end, params).astype(np.float32)
        if end - start >= 3:
            s[start] *= params.shore_intensity
            s[end - 1] *= params.shore_intensity
        states[k] = s
    return states


def _noisy_states(rng, n, params):
    """Background-only videos: a random class in at most one modality, a few segments at a time."""
    classes = rng.integers(0, ave.NUM_EVENTS, n)
    states = np.zeros((n, ave.N_SEGMENTS, 2), np.float32)
    for v in range(n):
        states[v] = _modality_states(rng, 0, 0, params)
    return classes, states


def _write_h5(path, key, data, compression=None):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data, **_storage(compression))


def _storage(compression):
    """h5py storage options: the real files are plain contiguous arrays; "gzip" is for tiny test files."""
    return {} if compression is None else {"compression": compression, "shuffle": True}


def _write_features(audio_path, visual_path, n, make_chunk, compression=None):
    """Writes an audio and a visual feature file chunk by chunk (bounded memory)."""
    with h5py.File(audio_path, "w") as fa, h5py.File(visual_path, "w") as fv:
        da = fa.create_dataset(FEATURE_KEY, (n, ave.N_SEGMENTS, ave.AUDIO_DIM), np.float64, **_storage(compression))
        dv = fv.create_dataset(FEATURE_KEY, (n, ave.N_SEGMENTS) + ave.VISUAL_SHAPE, np.float64,
                               **_storage(compression))
        for lo in range(0, n, CHUNK_VIDEOS):
            hi = min(n, lo + CHUNK_VIDEOS)
            audio, visual = make_chunk(lo, hi)
            da[lo:hi] = audio
            dv[lo:hi] = visual


def write_synthetic_ave(out_dir, videos=ave.NUM_VIDEOS, seed=0, params=SyntheticParams(), compression=None):
    """Writes a synthetic AVE folder (features, labels, orders, noisy and C-AVE files, text files).

    Returns the output folder as a ``pathlib.Path``. The same ``(videos, seed, params)`` always gives
    the same files. Peak memory is bounded by ``CHUNK_VIDEOS`` videos whatever ``videos`` is.
    ``compression="gzip"`` stores the HDF5 arrays compressed (same keys, shapes and dtypes; used for
    the builder's tiny ``dummy_data/``).
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_labels(videos, seed, params)
    protos = class_prototypes(seed, params)
    labels = np.array([a.label for a in plan.annotations])
    spans = [(a.start, a.end) for a in plan.annotations]

    def event_chunk(lo, hi):
        rng = np.random.default_rng([seed, 2, lo])
        rows = range(lo, hi)
        return synthesize_features(rng, labels[lo:hi], _event_states(rng, plan, rows, params), protos, params)

    def noisy_chunk(lo, hi):
        rng = np.random.default_rng([seed, 3, lo])
        classes, states = _noisy_states(rng, hi - lo, params)
        return synthesize_features(rng, classes, states, protos, params)

    _write_features(out / AUDIO, out / VISUAL, videos, event_chunk, compression)
    _write_features(out / NOISY_AUDIO, out / NOISY_VISUAL, params.num_noisy(videos), noisy_chunk, compression)

    _write_h5(out / LABELS, FEATURE_KEY, one_hot_segments(spans, labels), compression)
    _write_h5(out / RIGHT_LABELS, FEATURE_KEY, one_hot_segments(plan.truth, labels), compression)
    mil = np.zeros((videos, ave.NUM_CLASSES), np.float32)
    mil[np.arange(videos), labels] = 1.0
    _write_h5(out / MIL_LABELS, FEATURE_KEY, mil)
    noisy = np.zeros((params.num_noisy(videos), ave.NUM_CLASSES), np.float32)
    noisy[:, ave.BACKGROUND] = 1.0
    _write_h5(out / NOISY_LABELS, FEATURE_KEY, noisy)
    for split, order in plan.orders.items():
        _write_h5(out / ORDER_FILES[split], ORDER_KEY, order.astype(np.int64))

    lines = [_annotation_line(a) for a in plan.annotations]
    (out / ANNOTATIONS).write_text("\n".join([ave.ANNOTATION_HEADER] + lines) + "\n")
    for split, name in SPLIT_FILES.items():
        (out / name).write_text("".join(lines[r] + "\n" for r in plan.orders[split]))
    params_record = {"generator_version": GENERATOR_VERSION, "videos": videos, "seed": seed,
                     **dataclasses.asdict(params), "noisy_videos": params.num_noisy(videos)}
    (out / "synthetic_params.json").write_text(json.dumps(params_record, indent=2) + "\n")
    return out


DUMMY_VIDEOS = 5  # 3 train / 1 validation / 1 test videos and 2 background-only videos
DUMMY_PARAMS = SyntheticParams(visual_noise=0.0, visual_scene=0.0)  # zero maps off the object: tiny gzip files


def write_dummy_data(out_dir, seed=0):
    """The builder's ``tfds_ave/dummy_data/``: a 5-video set, noise-free visual maps, gzip-compressed."""
    return write_synthetic_ave(out_dir, videos=DUMMY_VIDEOS, seed=seed, params=DUMMY_PARAMS, compression="gzip")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder to write the AVE files into")
    parser.add_argument("--videos", type=int, default=ave.NUM_VIDEOS, help="number of videos (4143 = real size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dummy", action="store_true",
                        help=f"write the builder's tiny dummy_data ({DUMMY_VIDEOS} videos; --videos is ignored)")
    cli.add_verbose_flag(parser)
    args = parser.parse_args(argv)
    if args.videos < 3:
        parser.error(f"--videos: expected at least 3 (one video per split), found {args.videos}")
    if args.seed < 0:
        parser.error(f"--seed: expected an integer >= 0 (a NumPy generator seed), found {args.seed}")
    if args.dummy:
        out = write_dummy_data(args.out, args.seed)
        print(f"wrote tfds_ave dummy data ({DUMMY_VIDEOS} videos, seed {args.seed}) to {out}")
        return
    out = write_synthetic_ave(args.out, args.videos, args.seed)
    print(f"wrote a synthetic AVE set of {args.videos} videos (seed {args.seed}) to {out}")


if __name__ == "__main__":
    main()
