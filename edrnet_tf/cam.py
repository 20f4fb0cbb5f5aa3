"""``python -m edrnet_tf.cam --model RUN_DIR --row R``: the CAM strip of one video (paper Fig. 8).

Finds row ``R`` in a built ``tfds_ave``, computes its visual and audio-guided visual CAMs
(``analysis.cam``) and writes the PNG strip (``analysis.cam_strip``). ``--output`` is checked before the
model is loaded (``files.check_output``: an earlier strip is replaced, anything else only with ``--overwrite``).
"""

import pathlib

import tensorflow as tf

from edrnet_tf import ave, cli, files
from edrnet_tf.analysis import cam_strip
from edrnet_tf.analysis.cam import cam_kinds, class_activation_maps
from edrnet_tf.data import pipeline, sources
from edrnet_tf.training import flags, run_folder

PROG = "python -m edrnet_tf.cam"


def find_example(data_dir, row, splits=("test", "validation", "train")):
    """The example of AVE row ``row`` (``Annotations.txt`` order) from a built ``tfds_ave``, with its split."""
    for split in splits:
        ds = pipeline.load_split(data_dir, split).filter(lambda e: tf.equal(e["row"], row)).take(1)
        for example in ds.as_numpy_iterator():
            return split, example
    raise ValueError(f"--row={row} is invalid: no video with that row in the {'/'.join(splits)} splits of "
                     f"{data_dir}")


def build_parser():
    parser = cli.OneLineParser(
        prog=PROG,
        description="Write the visual and audio-guided visual CAM strip (EDRNet paper, Fig. 8) of one video.")
    parser.add_argument("--model", type=pathlib.Path, required=True,
                        help="A trained EDRNet: a run folder of python -m edrnet_tf.train (its run.json says "
                             "where the data is), or a .keras file (then give the data flags).")
    parser.add_argument("--row", type=cli.non_negative_int, required=True,
                        help="The video: its row in Annotations.txt (the 'row' feature of tfds_ave); looked up in "
                             "the test, validation and train splits.")
    parser.add_argument("--frames", type=pathlib.Path, default=None,
                        help="A folder of N frame images (JPEG or PNG, one per segment, sorted by name); the CAMs "
                             "are overlaid on them.")
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help="PNG file to write. Default: cam_row<R>.png in the current folder.")
    cli.add_overwrite_flag(parser)
    parser.add_argument("--cell-px", type=cli.positive_int, default=96,
                        help="Pixels per frame in the strip. Default: %(default)s.")
    parser.add_argument("--scale", choices=("map", "strip"), default="map",
                        help="Colour scale: each map from its own min to max ('map': where the focus is), or one "
                             "scale per row ('strip': also how strong). Default: %(default)s.")
    flags.add_data_flags(parser, of_model=True)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    model_path, settings = flags.model_run_settings(parser, args)
    output = args.output or pathlib.Path(f"cam_row{args.row}.png")
    cli.check_output(parser, output, "--output", files.CAM_PNG, args.overwrite)
    model = run_folder.load_trained_model(model_path)
    source = sources.of_settings(settings)
    split, example = find_example(source.data_dir, args.row)
    frames = cam_strip.read_frames(args.frames, example["audio"].shape[0]) if args.frames else None
    inputs = {"audio": example["audio"][None].astype("float32"), "visual": example["visual"][None].astype("float32")}
    cams = class_activation_maps(model, inputs)
    names = ave.class_names()
    cam_strip.write_strip(
        output, {kind: cams[kind][0] for kind in cam_kinds(model)}, model.config.kernel_size,
        labels=example["segment_labels"], predictions=cams["probs"][0].argmax(-1), class_names=names,
        frames=frames, cell_px=args.cell_px, scale=args.scale,
        title=f"row {args.row} ({split}): {names[int(example['video_label'])]}"
              + (" [synthetic data]" if source.synthetic else ""))
    print(output)


if __name__ == "__main__":
    cli.run_main(PROG, main)
