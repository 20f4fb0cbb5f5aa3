"""``python -m edrnet_tf.extract VIDEO_OR_LIST... --out DIR``: AVE-compatible features of video files.

Writes ``DIR/audio_feature.h5`` ([M, T, 128] VGGish), ``DIR/visual_feature.h5`` ([M, T, 7, 7, 512]
VGG-19 pool5, 16 frames averaged per second), key ``avadataset``, float32, each with the file attributes
``vggish_embedding``, ``frame_rule`` and ``frames_per_segment``, and ``DIR/videos.txt`` (line i: the file
of row i). By default the features are made as AVE's were (``--vggish-embedding relu``, ``--frame-rule
ave``). Videos already in ``DIR`` are skipped, so an interrupted run resumes; a video that fails prints one
line naming it and leaves no row (exit status 1 at the end). Flags, ``DIR`` and the networks are all
checked before the first file is created. ``docs/extraction.md`` says where the official weights are and
what each step computes.
"""

import pathlib
import sys

from edrnet_tf.cli import OneLineParser, folder_path, positive_int, run_main

PROG = "python -m edrnet_tf.extract"
LIST_SUFFIXES = (".txt", ".lst", ".list")


def add_weight_flags(parser):
    """The network flags shared by ``extract`` and ``predict --video``."""
    from edrnet_tf.extraction import decode, pca, vggish

    parser.add_argument("--vggish-checkpoint", type=pathlib.Path, default=None,
                        help=f"The official vggish_model.ckpt ({vggish.CHECKPOINT_URL}).")
    parser.add_argument("--vggish-embedding", choices=vggish.EMBEDDINGS, default=None,
                        help="relu: fc2 after its ReLU, as the 2018 vggish_slim.py and the AVE release; linear: the "
                             "pre-activation fc2 (vggish/embedding since 2020); pca: linear + the AudioSet PCA and "
                             "8-bit quantisation (needs --vggish-pca). Default: relu, or pca when --vggish-pca is "
                             "given.")
    parser.add_argument("--vggish-pca", type=pathlib.Path, default=None,
                        help=f"vggish_pca_params.npz ({pca.PCA_URL}) for --vggish-embedding pca (implied when "
                             "--vggish-embedding is not given).")
    parser.add_argument("--frame-rule", choices=decode.FRAME_RULES, default="ave",
                        help="ave: AVE's frame picks int(t*fi + k/F*fi), fi = int(frames/T), resized as cv2.resize "
                             "INTER_LINEAR; centre: the frame shown at t + (k + 0.5)/F s, scaled by FFmpeg. "
                             "Default: %(default)s.")
    parser.add_argument("--vgg19-weights", default="imagenet",
                        help="'imagenet' (Keras' download) or a local VGG-19 include_top=False weights file.")
    parser.add_argument("--random-weights", action="store_true",
                        help="Randomly initialised VGGish and VGG-19 (meaningless features; for tests and timing).")
    parser.add_argument("--frames-per-segment", type=positive_int, default=16,
                        help="Frames F averaged per one-second segment. Default: %(default)s (AVE).")
    parser.add_argument("--extract-batch-size", type=positive_int, default=64, help="Frames per VGG-19 batch.")


def check_weight_flags(parser, args):
    """Settles ``args.vggish_embedding`` (relu, or pca with ``--vggish-pca``) and exits with one line on a
    combination of weight flags that cannot work; returns the ``.h5`` attributes the flags give."""
    from edrnet_tf.extraction.vggish import CHECKPOINT_URL

    if args.vggish_embedding is None:
        args.vggish_embedding = "pca" if args.vggish_pca else "relu"
    if args.vggish_embedding == "pca" and args.vggish_pca is None:
        parser.error("--vggish-embedding pca needs --vggish-pca vggish_pca_params.npz")
    if args.vggish_embedding != "pca" and args.vggish_pca is not None:
        parser.error(f"--vggish-pca is only used by --vggish-embedding pca, not {args.vggish_embedding}")
    if not args.random_weights and args.vggish_checkpoint is None:
        parser.error(f"--vggish-checkpoint is required: download {CHECKPOINT_URL} "
                     "(or pass --random-weights for timing only)")
    return {"vggish_embedding": args.vggish_embedding, "frame_rule": args.frame_rule,
            "frames_per_segment": args.frames_per_segment}


def make_extractor(parser, args):
    """The ``FeatureExtractor`` of the weight flags (checked first by ``check_weight_flags``)."""
    from edrnet_tf.extraction.pipeline import FeatureExtractor

    check_weight_flags(parser, args)
    random = args.random_weights
    return FeatureExtractor(None if random else args.vggish_checkpoint, args.vggish_pca,
                            None if random else args.vgg19_weights, args.frames_per_segment, args.extract_batch_size,
                            vggish_embedding=args.vggish_embedding, frame_rule=args.frame_rule)


def video_paths(items):
    """Video files and the lines of list files (``.txt``/``.lst``/``.list``, paths relative to the list)."""
    paths = []
    for item in map(pathlib.Path, items):
        if item.suffix.lower() in LIST_SUFFIXES:
            if not item.is_file():
                raise FileNotFoundError(f"{str(item)!r}: no list file there")
            try:
                lines = [line.strip() for line in item.read_text(encoding="utf-8").splitlines()]
            except UnicodeDecodeError as error:
                raise ValueError(f"{str(item)!r}: expected a UTF-8 list of videos, found byte "
                                 f"0x{error.object[error.start]:02x} at offset {error.start}") from None
            paths.extend(item.parent / line for line in lines if line and not line.startswith("#"))
        else:
            paths.append(item)
    return paths


def build_parser():
    parser = OneLineParser(prog=PROG, description="Extract AVE-compatible VGGish / VGG-19 features of videos.")
    parser.add_argument("videos", nargs="+", help="Video files, or lists of them (.txt, .lst, .list: one path a line).")
    parser.add_argument("--out", type=folder_path, required=True, help="Output folder (resumed if it exists).")
    parser.add_argument("--segments", type=int, default=None,
                        help="Segments T per row; longer videos keep their first T seconds, shorter ones fail. "
                             "Default: the rows already in --out, else the first video's whole seconds.")
    add_weight_flags(parser)
    return parser


def main(argv=None):
    from tqdm import tqdm

    from edrnet_tf.extraction.writer import FeatureWriter, OutputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.segments is not None and args.segments < 1:
        parser.error(f"--segments={args.segments} is invalid: expected a positive integer")
    attributes = check_weight_flags(parser, args)
    paths = video_paths(args.videos)
    failed = 0
    with FeatureWriter(args.out, args.segments, attributes) as writer:  # checks DIR, creates nothing yet
        todo = [p for p in dict.fromkeys(p.resolve() for p in paths) if p not in writer]
        if len(todo) < len(paths):
            print(f"{len(paths) - len(todo)} of {len(paths)} videos already in {args.out}; skipped", file=sys.stderr)
        if not todo:
            return 0
        extractor = make_extractor(parser, args)  # networks loaded before the first file is created
        for path in tqdm(todo, desc="extract", unit="video", file=sys.stderr):
            try:
                writer.append(path, *extractor(path))
            except OutputError:
                raise
            except (ValueError, FileNotFoundError) as error:
                failed += 1
                tqdm.write(f"{PROG}: error: {error}", file=sys.stderr)
        print(f"{len(writer.videos)} videos of T={writer.segments} in {args.out}", file=sys.stderr)
    if failed:
        sys.exit(f"{PROG}: {failed} of {len(todo)} videos failed (see above); the others are written")
    return 0


if __name__ == "__main__":
    run_main(PROG, main)
