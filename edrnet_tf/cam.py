"""Class activation maps of EDRNet's visual and audio-guided visual branches (paper Fig. 8).

"Qualitative Analysis": the kernel weights of the most activated channel of ``D_V^1`` (and of the visual
part of ``D_AV^1``, Eq. 2) are the coefficients of the pre-pooling visual feature maps whose global
average is ``f_t^V``; the k-averaged weighted sum is one CAM per output position of the first
decomposition layer (8 for k = 3, N = 10). Since GAP is linear, weighting the maps by the kernel is the
same weighting the Conv1D applies to the pooled features. The sinusoidal positions (Eq. 1) are added
before ``D^1``: they take part in picking the most activated channel, not in the maps.

Library: ``cam_probe``, ``kernel_cams`` (the math, ``keras.ops`` only), ``class_activation_maps``,
``upsample``, ``find_example``. CLI: ``python -m edrnet_tf.cam --model RUN_DIR --row R`` writes the PNG strip
(``edrnet_tf.cam_strip``).
"""

import pathlib

import keras
import numpy as np
from keras import ops

from edrnet_tf import ave

# CAM kind -> (the branch it needs, the first decomposition layer of that branch).
KINDS = {"visual": ("V", "decompose_V_1"), "audio_guided": ("AV", "decompose_AV_1")}
PROG = "python -m edrnet_tf.cam"
TITLES = {"visual": "visual CAM", "audio_guided": "audio-guided visual CAM"}


def cam_kinds(model):
    """The CAM kinds a model supports: ``"visual"`` iff branch V, ``"audio_guided"`` iff branch AV."""
    kinds = [kind for kind, (branch, _) in KINDS.items() if branch in model.config.branches]
    if not kinds:
        raise ValueError(f"CAMs need the V or AV branch; this model has branches {list(model.config.branches)}")
    return kinds


def cam_probe(model):
    """A model over ``model``'s inputs returning what the CAMs need, in one forward pass.

    Outputs: ``"maps"`` [B*N, H, W, d_v] (the output of ``"visual_conv"``), ``"<kind>_input"`` [B, N, D]
    (the input of each kind's first decomposition layer, positions of Eq. 1 included) and ``"probs"``.
    """
    outputs = {"maps": model.get_layer("visual_conv").output, "probs": model.output["probs"]}
    for kind in cam_kinds(model):
        outputs[f"{kind}_input"] = model.get_layer(KINDS[kind][1]).input
    return keras.Model(model.input, outputs, name=f"{model.name}_cam_probe")


def kernel_cams(maps, decomposition_input, kernel, bias, offset=0):
    """The CAMs of one first decomposition layer (Fig. 8), in ``keras.ops``.

    For each output position ``t`` of the valid Conv1D ``D^1`` (``kernel`` [k, D, d], ``bias`` [d]) applied
    to ``decomposition_input`` [B, N, D], the channel ``c`` with the largest pre-activation (the ReLU keeps
    the order of positive values, and does not erase the choice when all are negative) gives the weights
    ``kernel[j, offset + i, c]`` of the visual feature ``i`` at tap ``j``; the CAM is
    ``1/k * sum_j sum_i kernel[j, offset + i, c] * maps[t + j, :, :, i]``.

    Args:
        maps: [B, N, H, W, d_v] pre-pooling visual maps.
        decomposition_input: [B, N, D] the input of ``D^1``.
        kernel, bias: the Conv1D weights.
        offset: the index of the first visual feature in ``D``: 0 for V, 128 (after the audio) for AV.

    Returns:
        (cams [B, N - k + 1, H, W], channels [B, N - k + 1] int).
    """
    k, visual_width = kernel.shape[0], maps.shape[-1]
    if not 0 <= offset <= kernel.shape[1] - visual_width:
        raise ValueError(f"kernel rows {offset}:{offset + visual_width} are out of range for a kernel of shape "
                         f"{tuple(kernel.shape)}")
    activation = ops.conv(decomposition_input, kernel, strides=1, padding="valid") + bias
    channels = ops.argmax(activation, axis=-1)
    positions = activation.shape[1]
    visual_kernel = ops.transpose(kernel[:, offset:offset + visual_width, :], (2, 0, 1))  # [d, k, d_v]
    weights = ops.take(visual_kernel, channels, axis=0)  # [B, T, k, d_v]
    windows = ops.stack([maps[:, j:j + positions] for j in range(k)], axis=2)  # [B, T, k, H, W, d_v]
    cams = ops.einsum("btjc,btjhwc->bthw", weights, windows) / k
    return cams, channels


def class_activation_maps(model, inputs, probe=None):
    """Fig. 8's CAMs of a trained EDRNet for a batch of videos.

    Args:
        model: an ``EDRNet`` with the V and/or AV branch.
        inputs: ``{"audio": [B, N, 128], "visual": [B, N, 7, 7, 512]}``.
        probe: ``cam_probe(model)``, to reuse across calls.

    Returns:
        NumPy arrays: ``"visual"`` and/or ``"audio_guided"`` [B, N - k + 1, 7, 7] CAMs, the chosen
        channels under ``"<kind>_channels"``, and ``"probs"`` [B, N, C] (the gated head).
    """
    probe = probe or cam_probe(model)
    out = probe({"audio": inputs["audio"], "visual": inputs["visual"]}, training=False)
    visual = ops.convert_to_tensor(inputs["visual"])
    maps = ops.reshape(out["maps"], (visual.shape[0], visual.shape[1], *out["maps"].shape[1:]))
    result = {"probs": ops.convert_to_numpy(out["probs"])}
    for kind in cam_kinds(model):
        layer = model.get_layer(KINDS[kind][1])
        offset = layer.kernel.shape[1] - maps.shape[-1]  # AV = concat(audio, visual): visual rows come last
        cams, channels = kernel_cams(maps, out[f"{kind}_input"], layer.kernel, layer.bias, offset)
        result[kind] = ops.convert_to_numpy(cams)
        result[f"{kind}_channels"] = ops.convert_to_numpy(channels)
    return result


def upsample(cams, size):
    """Bilinear upsampling of [..., h, w] maps to [..., size, size] (``keras.ops.image.resize``)."""
    cams = np.asarray(cams, np.float32)
    flat = cams.reshape(-1, *cams.shape[-2:], 1)
    resized = ops.image.resize(flat, (size, size), interpolation="bilinear", data_format="channels_last")
    return ops.convert_to_numpy(resized)[..., 0].reshape(*cams.shape[:-2], size, size)


def centre_segment(position, kernel_size):
    """The segment at the centre of the kernel at output position ``position`` (where its CAM is drawn)."""
    return position + (kernel_size - 1) // 2


def find_example(data_dir, row, splits=("test", "validation", "train")):
    """The example of AVE row ``row`` (``Annotations.txt`` order) from a built ``tfds_ave``, with its split."""
    import tensorflow as tf  # data side only: the CAM math above runs on any Keras backend

    from edrnet_tf.data import pipeline

    for split in splits:
        ds = pipeline.load_split(data_dir, split).filter(lambda e: tf.equal(e["row"], row)).take(1)
        for example in ds.as_numpy_iterator():
            return split, example
    raise ValueError(f"--row={row} is invalid: no video with that row in the {'/'.join(splits)} splits of "
                     f"{data_dir}")


def build_parser():
    from edrnet_tf import cli, flags

    parser = cli.OneLineParser(
        prog=PROG,
        description="Write the visual and audio-guided visual CAM strip (EDRNet paper, Fig. 8) of one video.")
    parser.add_argument("--model", type=pathlib.Path, required=True,
                        help="A trained EDRNet: a run folder of python -m edrnet_tf.train (its run.json says "
                             "where the data is), or a .keras file (then give the data flags).")
    parser.add_argument("--row", type=flags.non_negative_int, required=True,
                        help="The video: its row in Annotations.txt (the 'row' feature of tfds_ave); looked up in "
                             "the test, validation and train splits.")
    parser.add_argument("--frames", type=pathlib.Path, default=None,
                        help="A folder of N frame images (JPEG or PNG, one per segment, sorted by name); the CAMs "
                             "are overlaid on them.")
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help="PNG file to write. Default: cam_row<R>.png in the current folder.")
    parser.add_argument("--cell-px", type=flags.positive_int, default=96,
                        help="Pixels per frame in the strip. Default: %(default)s.")
    parser.add_argument("--scale", choices=("map", "strip"), default="map",
                        help="Colour scale: each map from its own min to max ('map': where the focus is), or one "
                             "scale per row ('strip': also how strong). Default: %(default)s.")
    flags.add_data_flags(parser, dataset_default=None)
    return parser


def data_source_of(args):
    """The data of ``--model``'s run (its run.json) unless ``--dataset`` is given; else the data flags."""
    from edrnet_tf import data_source, flags, runner

    run_json = args.model / "run.json" if args.model.is_dir() else None
    if args.dataset is None and run_json is not None and run_json.is_file():
        return runner.load_run(args.model)[1].data_source()
    dataset = args.dataset or "synthetic"
    videos = args.synthetic_videos or runner.DEMO_DEFAULTS["synthetic"]["synthetic_videos"]
    return data_source.resolve(dataset, data_dir=args.data_dir or flags.default_tfds_dir(),
                               manual_dir=args.manual_dir, cache_dir=args.cache_dir, synthetic_videos=videos,
                               synthetic_seed=args.synthetic_seed)


def main(argv=None):
    from edrnet_tf import cam_strip

    args = build_parser().parse_args(argv)
    from edrnet_tf import runner

    model = runner.load_trained_model(args.model)
    source = data_source_of(args)
    split, example = find_example(source.data_dir, args.row)
    frames = cam_strip.read_frames(args.frames, example["audio"].shape[0]) if args.frames else None
    inputs = {"audio": example["audio"][None].astype("float32"), "visual": example["visual"][None].astype("float32")}
    cams = class_activation_maps(model, inputs)
    output = args.output or pathlib.Path(f"cam_row{args.row}.png")
    names = ave.class_names()
    cam_strip.write_strip(
        output, {kind: cams[kind][0] for kind in cam_kinds(model)}, model.config.kernel_size,
        labels=example["segment_labels"], predictions=cams["probs"][0].argmax(-1), class_names=names,
        frames=frames, cell_px=args.cell_px, scale=args.scale,
        title=f"row {args.row} ({split}): {names[int(example['video_label'])]}"
              + (" [synthetic data]" if source.synthetic else ""))
    print(output)


if __name__ == "__main__":
    from edrnet_tf.cli import run_main

    run_main(PROG, main)
