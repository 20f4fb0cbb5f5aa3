"""The input check's figures (``edrnet_tf.serving.input_check``) on inputs of and off the training distribution.

On a synthetic set (generated into ``--cache-dir`` if absent) an EDRNet gets the training split's statistics
(as ``python -m edrnet_tf.train`` sets them; the figures do not depend on the trained weights), then each
case's inputs are checked whole ("all") and video by video ("per video": the smallest and largest figure over
the videos and how many videos a warning flags), as ``evaluate`` and ``predict`` check them:

(a) the training split itself, (b) the validation and test splits, (c) the synthetic audio (Gaussian, "linear")
into a model whose training audio was its ReLU (a VGGish relu model given linear embeddings; the ReLU of the
validation audio beside it), (d) the validation visual maps x0.1 (x0.5 and x2 beside them), (e) the features
of a generated 10-s clip (``extraction.synthetic_video``) extracted with random VGGish and VGG-19 weights
(``--random-weights``). Prints one JSON object per case.

    python benchmarks/input_check.py                          # 400 videos, seed 0, the clip at 16 frames/s
    python benchmarks/input_check.py --videos 120 --clip-frames 2   # a quick check
"""

import argparse
import json
import pathlib
import tempfile

import numpy as np

from edrnet_tf import EDRNet, EDRNetConfig
from edrnet_tf.cli import default_cache_dir
from edrnet_tf.data import arrays, statistics, synthetic
from edrnet_tf.serving import input_check

FIGURES = ("mean_abs_z", "rms_ratio", "negative_share")


def reference_of(batches):
    """The ``input_check.model_reference`` of a tiny EDRNet given the statistics of ``batches``."""
    model = EDRNet(EDRNetConfig(width=16, visual_width=8))
    model.set_input_statistics(statistics.stream_statistics(batches))
    return input_check.model_reference(model)


def case(name, reference, audio, visual, modalities=input_check.MODALITIES):
    whole = input_check.check_arrays(reference, audio, visual)
    videos = [input_check.check_arrays(reference, audio[i:i + 1], visual[i:i + 1]) for i in range(len(audio))]
    found = {"case": name, "videos": len(audio)}
    for modality in modalities:
        per = {f: [v[modality][f] for v in videos] for f in FIGURES}
        found[modality] = {
            "all": {f: round(whole[modality][f], 4) for f in FIGURES},
            "training_negative_share": round(whole[modality]["training_negative_share"], 4),
            "all_flagged": bool(whole[modality]["warnings"]),
            "per_video": {f: [round(min(per[f]), 4), round(max(per[f]), 4)] for f in FIGURES},
            "videos_flagged": sum(bool(v[modality]["warnings"]) for v in videos)}
    print(json.dumps(found), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=pathlib.Path, default=default_cache_dir())
    parser.add_argument("--clip-frames", type=int, default=16, help="Frames per second of the (e) clip.")
    args = parser.parse_args()
    folder = synthetic.ensure_files(args.cache_dir, args.videos, args.seed)
    reference = reference_of(arrays.iter_split_features(folder, "train"))
    splits = {split: arrays.read_split(folder, split) for split in ("train", "validation", "test")}
    for split, data in splits.items():
        case(f"({'a' if split == 'train' else 'b'}) {split} split", reference, data["audio"], data["visual"])
    relu = reference_of({"audio": np.maximum(b["audio"], 0), "visual": b["visual"]}
                        for b in arrays.iter_split_features(folder, "train"))
    validation, test = splits["validation"], splits["test"]
    case("(c) relu-trained model, relu validation audio", relu, np.maximum(validation["audio"], 0),
         validation["visual"], ["audio"])
    for split, data in (("validation", validation), ("test", test)):
        case(f"(c) relu-trained model, linear {split} audio", relu, data["audio"], data["visual"], ["audio"])
    for factor in (0.1, 0.5, 2.0):
        case(f"(d) validation visual maps x{factor:g}", reference, validation["audio"], validation["visual"] * factor,
             ["visual"])
    from edrnet_tf.extraction import FeatureExtractor
    from edrnet_tf.extraction.synthetic_video import write_video

    with tempfile.TemporaryDirectory() as tmp:
        clip = write_video(pathlib.Path(tmp) / "clip.mp4", seconds=10.0, fps=25, size=(160, 120))
        audio, visual = FeatureExtractor(None, None, None, frames_per_segment=args.clip_frames)(clip)
    case(f"(e) generated 10-s clip, --random-weights, {args.clip_frames} frames/s", reference, audio[None],
         visual[None])


if __name__ == "__main__":
    main()
