"""``python -m edrnet_tf.predict --model RUN_DIR --audio a.h5 --visual v.h5``: events of every video.

Writes one JSON line per video: ``row``, the ``segment_labels`` (class names after B2ILC), ``labels`` and
``labels_raw`` (indices after / before B2ILC) and the ``events`` as (class, start s, end s, mean
probability). The HDF5 files hold [M, T, 128] audio and [M, T, 7, 7, 512] visual features (AVE layout,
any T >= L*(k-1)+1); videos longer than the training length are read in sliding windows
(``edrnet_tf.serving.inference``). With ``--video FILE...`` instead, the features of each video file are extracted
first (``edrnet_tf.extraction``, the weight flags of ``edrnet_tf.extract``) and each line also names its
``video``.

Bad input exits with one line naming the flag: status 2 for a bad flag value or file layout, status 1
for a row that cannot be read or holds NaN/inf (the whole command is refused: no row is skipped) and
for a model whose probabilities are not finite. With ``--output`` the lines go to a temporary file
beside it, renamed to ``--output`` only when every row succeeded, so a failure leaves no partial file
and the JSON never holds NaN; it replaces only an earlier file of these lines (or an empty one) unless
``--overwrite`` (``files.check_output``), and keeps that file's permissions.
"""

import contextlib
import json
import pathlib
import sys

import h5py
import numpy as np

from edrnet_tf import ave, extract, files
from edrnet_tf.cli import OneLineParser, add_overwrite_flag, check_output, run_main
from edrnet_tf.serving import event_report, inference, input_check
from edrnet_tf.training import run_folder

PROG = "python -m edrnet_tf.predict"


def parse_rows(text):
    """``"0,4,10-12"`` -> [0, 4, 10, 11, 12]; a part that is not an index or an ascending range raises."""
    rows = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"found {part.strip()!r}") from None
        if last < first:
            raise ValueError(f"found the descending range {part.strip()!r}")
        rows.extend(range(first, last + 1))
    return rows


def build_parser():
    parser = OneLineParser(prog=PROG, description="Localize audio-visual events in videos with a trained EDRNet.")
    parser.add_argument("--model", type=pathlib.Path, required=True,
                        help="A run folder of edrnet_tf.train (holding model.keras) or a .keras file.")
    parser.add_argument("--audio", type=pathlib.Path, default=None, help="HDF5 file of [M, T, 128] audio features.")
    parser.add_argument("--visual", type=pathlib.Path, default=None,
                        help="HDF5 file of [M, T, 7, 7, 512] visual features (same M and T).")
    parser.add_argument("--video", type=pathlib.Path, nargs="+", default=None,
                        help="Video files instead of --audio/--visual: features extracted as edrnet_tf.extract does.")
    parser.add_argument("--key", default="avadataset", help="Dataset key in both files. Default: %(default)s.")
    parser.add_argument("--rows", default=None, help="Rows to predict, e.g. '0,4,10-12'. Default: all.")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="JSON-lines file. Default: stdout.")
    add_overwrite_flag(parser)
    parser.add_argument("--window", type=int, default=None,
                        help="Window length in segments. Default: the model's training length (10).")
    parser.add_argument("--stride", type=int, default=None,
                        help="Segments between window starts. Default: half the window.")
    parser.add_argument("--batch-size", type=int, default=16, help="Videos read and predicted at a time.")
    event_report.add_flags(parser, labels=True)
    extract.add_weight_flags(parser)
    return parser


def open_features(parser, path, key, flag, tail):
    """The HDF5 dataset of ``--flag``; anything but [M, T, *tail] exits with one line."""
    if not path.exists():
        parser.error(f"{flag}={str(path)!r} is invalid: expected an HDF5 file, found nothing there")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        parser.error(f"{flag}={str(path)!r} is invalid: expected an HDF5 file, found an unreadable file")
    if key not in handle:
        parser.error(f"{flag}={str(path)!r} is invalid: expected the key {key!r} (--key), found {sorted(handle)}")
    data = handle[key]
    if not isinstance(data, h5py.Dataset):
        parser.error(f"{flag}={str(path)!r} is invalid: expected the key {key!r} (--key) to name a dataset, found "
                     f"an HDF5 {type(data).__name__.lower()}")
    if data.ndim != 2 + len(tail) or tuple(data.shape[2:]) != tuple(tail):
        parser.error(f"{flag}={str(path)!r} is invalid: expected shape [M, T, {', '.join(map(str, tail))}], "
                     f"found {list(data.shape)}")
    if data.dtype.kind not in "fiu":
        parser.error(f"{flag}={str(path)!r} is invalid: expected float or integer features, found dtype {data.dtype}")
    return data


def check_args(parser, args):
    """Flags that need no file: sizes are positive integers, ``--output`` is a file in an existing folder."""
    for flag, value in (("--batch-size", args.batch_size), ("--window", args.window), ("--stride", args.stride)):
        if value is not None and value < 1:
            parser.error(f"{flag}={value} is invalid: expected a positive integer")
    check_output(parser, args.output, "--output", files.PREDICTIONS, args.overwrite)
    check_output(parser, args.report, "--report", files.EVENT_REPORT, args.overwrite)
    if args.labels is not None and (args.report is None or args.video):
        parser.error("--labels is invalid here: expected it with --report and --audio/--visual")


def read_rows(data, rows, flag, path):
    """float32 features of ``rows`` (in that order) from ``data``; a read error or a non-finite row raises
    one line naming the file and the row."""
    order = sorted(set(rows))  # h5py reads increasing, distinct indices
    try:
        block = np.asarray(data[order], np.float32)[[order.index(r) for r in rows]]
    except OSError as error:
        raise ValueError(f"{flag}={str(path)!r} is invalid: expected readable features in rows {order[0]}-"
                         f"{order[-1]}, found a truncated or corrupt file ({str(error).splitlines()[0]})") from None
    finite = np.isfinite(block).reshape(len(rows), -1).all(-1)
    if not finite.all():
        raise ValueError(f"{flag}={str(path)!r} is invalid: expected finite features, found NaN or inf in row "
                         f"{rows[int(np.argmin(finite))]}")
    return block


@contextlib.contextmanager
def output_stream(path):
    """Standard output, or a temporary file beside ``path`` renamed to it only when the block succeeds."""
    if path is None:
        yield sys.stdout
        return
    with files.replacing(path) as partial, open(partial, "w") as handle:
        yield handle


def predict_videos(parser, args, model_path):
    """``--video``: each file's features, then the windows, B2ILC and JSON line of the ``.h5`` path."""
    model = run_folder.load_trained_model(model_path)
    extractor = extract.make_extractor(parser, args)
    config = model.config
    window = config.n_segments if args.window is None else args.window
    stride = max(1, window // 2) if args.stride is None else args.stride

    def predict(a, v):
        return model.predict({"audio": a, "visual": v}, batch_size=args.batch_size, verbose=0)["probs"]

    guard = input_check.PredictionCheck(model, args.model, extractor.attributes, "--video")
    seen = []
    with output_stream(args.output) as out:
        for row, path in enumerate(args.video):
            audio, visual = extractor(path)
            if min(window, len(audio)) < config.min_segments:
                raise ValueError(f"{str(path)!r}: {len(audio)} whole seconds, this model needs windows of at least "
                                 f"L*(k-1)+1={config.min_segments} segments (--window={window})")
            probs = inference.windowed_probs(predict, audio[None], visual[None], window, stride)
            checked = guard.video(audio, visual, repr(str(path)))
            for line in inference.describe_videos(probs, [row], ave.class_names(), config.background,
                                                  config.witness_rate):
                out.write(json.dumps({"video": str(path), **line, "input_check": checked}, allow_nan=False) + "\n")
            seen.append(probs[0])
        if args.report is not None:
            write_report(args, config, seen, [str(p) for p in args.video], model_path,
                         thumbnails=lambda i: event_report.thumbnail_uris(args.video[i], len(seen[i])))
    guard.finish()


def write_report(args, config, probs, names, model_path, truth=None, thumbnails=None):
    """``--report``: the event report page of the predicted videos (noting a model trained on synthetic data)."""
    note = f"model {model_path}"
    with contextlib.suppress(ValueError):
        data = (run_folder.read_run(model_path.parent) or {}).get("data") or {}
        if data.get("synthetic"):
            note += f", trained on {data.get('description', 'synthetic data')}"
    page = event_report.build_page(probs, names, "EDRNet event report", truth=truth, thumbnails=thumbnails,
                                   limit=args.report_videos, background=config.background,
                                   witness_rate=config.witness_rate, note=note)
    event_report.write_page(args.report, page)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    model_path = args.model / "model.keras" if args.model.is_dir() else args.model
    if not model_path.exists():
        parser.error(f"--model={str(args.model)!r} is invalid: expected a run folder holding model.keras "
                     "or a .keras file, found none")
    if args.video:
        if args.audio or args.visual or args.rows:
            parser.error("--video is invalid with --audio/--visual/--rows: expected video files or feature files, "
                         "not both")
        return predict_videos(parser, args, model_path)
    if args.audio is None or args.visual is None:
        parser.error("--audio and --visual are required (or --video FILE...)")
    audio = open_features(parser, args.audio, args.key, "--audio", (ave.AUDIO_DIM,))
    visual = open_features(parser, args.visual, args.key, "--visual", ave.VISUAL_SHAPE)
    if audio.shape[:2] != visual.shape[:2]:
        parser.error(f"--visual={str(args.visual)!r} is invalid: expected [M, T] = {list(audio.shape[:2])} "
                     f"as in --audio, found {list(visual.shape[:2])}")
    videos, length = audio.shape[:2]
    if videos == 0:
        parser.error(f"--audio={str(args.audio)!r} is invalid: expected at least one video (M >= 1), found M = 0")
    try:
        rows = parse_rows(args.rows) if args.rows else list(range(videos))
    except ValueError as error:
        parser.error(f"--rows={args.rows!r} is invalid: expected indices and ascending ranges like '0,4,10-12', "
                     f"{error}")
    if any(not 0 <= r < videos for r in rows):
        parser.error(f"--rows={args.rows!r} is invalid: expected rows in [0, {videos - 1}]")
    model = run_folder.load_trained_model(model_path)
    config = model.config
    window = config.n_segments if args.window is None else args.window
    stride = max(1, window // 2) if args.stride is None else args.stride
    if min(window, length) < config.min_segments:
        parser.error(f"--window={window} is invalid: expected windows of at least L*(k-1)+1="
                     f"{config.min_segments} segments for this model (videos have T={length})")
    if stride > window:
        parser.error(f"--stride={stride} is invalid: expected an integer in [1, {window}] (the window)")

    def predict(a, v):
        return model.predict({"audio": a, "visual": v}, batch_size=args.batch_size, verbose=0)["probs"]

    guard = input_check.PredictionCheck(model, args.model, {**input_check.attrs_record(visual.file.attrs),
                                                            **input_check.attrs_record(audio.file.attrs)},
                                        "--audio/--visual files")
    truth = None
    if args.labels is not None:
        truth = event_report.read_labels(args.labels, args.key, (videos, length))[rows]
    seen = []
    with output_stream(args.output) as out:
        for i in range(0, len(rows), args.batch_size):
            chunk = rows[i:i + args.batch_size]
            a = read_rows(audio, chunk, "--audio", args.audio)
            v = read_rows(visual, chunk, "--visual", args.visual)
            probs = inference.windowed_probs(predict, a, v, window, stride)
            finite = np.isfinite(probs).reshape(len(chunk), -1).all(-1)
            if not finite.all():
                raise ValueError(f"--model={str(model_path)!r} is invalid: expected finite probabilities, found "
                                 f"NaN or inf for row {chunk[int(np.argmin(finite))]} (a diverged model?)")
            for j, line in enumerate(inference.describe_videos(probs, chunk, ave.class_names(), config.background,
                                                               config.witness_rate)):
                line["input_check"] = guard.video(a[j], v[j], f"row {chunk[j]}")
                out.write(json.dumps(line, allow_nan=False) + "\n")
            seen.extend(probs)
        if args.report is not None:
            write_report(args, config, seen, [f"row {r}" for r in rows], model_path, truth=truth)
    guard.finish()


if __name__ == "__main__":
    run_main(PROG, main)
