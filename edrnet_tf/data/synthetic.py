"""Synthetic AVE features in the exact file layout of the real AVE release.

The real features (VGGish audio, VGG-19 pool5 visual maps) cannot be downloaded here, so this module
writes files with the real names, HDF5 keys, shapes and float64/float32 dtypes (docs/data.md)
plus a matching ``Annotations.txt`` and ``trainSet/valSet/testSet.txt``. Everything downstream reads
them through the same ``tfds_ave`` builder as the real files.

Labels follow the real statistics: each synthetic video copies the class and span of a real
``Annotations.txt`` row (all 4143 rows in order, with the real splits, for ``videos=4143``; a random
subset otherwise), so about two thirds of the videos are foreground from 0 to 10 s, the other spans
last 2-9 s and the classes are as imbalanced as in AVE (60 to 188 videos).

The planted signal (class prototypes, gains, modality states, AR(1) noise, the visual object) is
``synthetic_signal``'s; this module plans the labels and writes the files.

CLI: ``python -m edrnet_tf.data.synthetic --out DIR --videos N --seed S``.
"""

import dataclasses
import json
import pathlib
import shutil
import string

import h5py
import numpy as np

from edrnet_tf import ave, cli, files
from edrnet_tf.data import synthetic_signal as signal
from tfds_ave.ave_files import (ANNOTATIONS, AUDIO, FEATURE_KEY, LABELS, MIL_LABELS, NOISY_AUDIO, NOISY_LABELS,
                                NOISY_VISUAL, ORDER_FILES, ORDER_KEY, RIGHT_LABELS, SPLIT_FILES, VISUAL)

PROG = "python -m edrnet_tf.data.synthetic"
GENERATOR_VERSION = "2"  # "1": V1_PARAMS defaults (docs/synthetic.md compares the two)
CHUNK_VIDEOS = 32  # videos generated and written at a time (32 x 10 MB of float64 visual maps)
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


def plan_labels(videos, seed, params=signal.SyntheticParams()):
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


def write_synthetic_ave(out_dir, videos=ave.NUM_VIDEOS, seed=0, params=signal.SyntheticParams(), compression=None):
    """Writes a synthetic AVE folder (features, labels, orders, noisy and C-AVE files, text files).

    Returns the output folder as a ``pathlib.Path``. The same ``(videos, seed, params)`` always gives
    the same files. Peak memory is bounded by ``CHUNK_VIDEOS`` videos whatever ``videos`` is.
    ``compression="gzip"`` stores the HDF5 arrays compressed (same keys, shapes and dtypes; used for
    the builder's tiny ``dummy_data/``).
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_labels(videos, seed, params)
    protos = signal.class_prototypes(seed, params)
    labels = np.array([a.label for a in plan.annotations])
    spans = [(a.start, a.end) for a in plan.annotations]

    def event_chunk(lo, hi):
        rng = np.random.default_rng([seed, 2, lo])
        rows = range(lo, hi)
        states = signal.event_states(rng, plan, rows, params)
        return signal.synthesize_features(rng, labels[lo:hi], states, protos, params)

    def noisy_chunk(lo, hi):
        rng = np.random.default_rng([seed, 3, lo])
        classes, states = signal.noisy_states(rng, hi - lo, params)
        return signal.synthesize_features(rng, classes, states, protos, params)

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
DUMMY_PARAMS = signal.SyntheticParams(visual_noise=0.0, visual_scene=0.0)  # zero maps off the object: tiny gzip files


def cache_folder(cache_dir, videos, seed):
    """The cache folder of one synthetic set: its name holds the generator version, the size and the seed."""
    return pathlib.Path(cache_dir) / f"synthetic-v{GENERATOR_VERSION}-n{videos}-s{seed}"


def ensure_files(cache_dir, videos, seed):
    """The release files of a synthetic set of ``videos`` videos, written once into ``cache_folder(...)/manual``
    and returned. They are written to a temporary folder under the set's lock and renamed when complete, so
    an interrupted run never leaves a partial set behind."""
    root = cache_folder(cache_dir, videos, seed)
    manual_dir = root / "manual"
    with files.locked(root.with_suffix(".lock")):
        if not manual_dir.exists():
            partial = root / "manual.partial"
            shutil.rmtree(partial, ignore_errors=True)
            write_synthetic_ave(partial, videos=videos, seed=seed)
            partial.rename(manual_dir)
    return manual_dir


def write_dummy_data(out_dir, seed=0):
    """The builder's ``tfds_ave/dummy_data/``: a 5-video set, noise-free visual maps, gzip-compressed."""
    return write_synthetic_ave(out_dir, videos=DUMMY_VIDEOS, seed=seed, params=DUMMY_PARAMS, compression="gzip")


def main(argv=None):
    parser = cli.OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder to write the AVE files into")
    parser.add_argument("--videos", type=int, default=ave.NUM_VIDEOS, help="number of videos (4143 = real size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dummy", action="store_true",
                        help=f"write the builder's tiny dummy_data ({DUMMY_VIDEOS} videos; --videos is ignored)")
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
    cli.run_main(PROG, main)
