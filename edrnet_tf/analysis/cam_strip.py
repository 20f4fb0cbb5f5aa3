"""The PNG strip of Fig. 8: one column per segment, the CAM rows drawn at the centre segment of each
kernel position, the ground-truth labels and the predictions under each frame, an orange border on the
foreground segments; overlaid on the video's frames when they are given.

Layout (pixels, exact): a title band of ``cell_px // 4``, then ``rows + 1`` rows of ``cell_px`` (an optional
frame row, one row per CAM kind, the label row) by ``N + 1`` columns of ``cell_px`` (row names, then the
N segments): ``(N + 1) * cell_px`` wide and ``(rows + 1) * cell_px + cell_px // 4`` high.
"""

import io
import os
import pathlib

import numpy as np

from edrnet_tf import ave, files
from edrnet_tf.analysis.cam import TITLES, centre_segment, upsample

DPI = 100
FOREGROUND_COLOUR = "tab:orange"  # Fig. 8: "Orange bordered segments indicate the presence of FG event"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def strip_size(n_segments, n_rows, cell_px):
    """``(width, height)`` in pixels of a strip of ``n_rows`` image rows (frames and CAM rows)."""
    return (n_segments + 1) * cell_px, (n_rows + 1) * cell_px + cell_px // 4


def read_frames(folder, n_segments):
    """The ``n_segments`` frame images of a folder (JPEG or PNG, sorted by name) as RGB uint8 arrays."""
    from PIL import Image

    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--frames={str(folder)!r} is invalid: expected a folder of {n_segments} frame "
                                "images, found no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) != n_segments:
        raise ValueError(f"--frames={str(folder)!r} is invalid: expected {n_segments} frame images "
                         f"({'/'.join(IMAGE_SUFFIXES)}), one per segment, found {len(files)}")
    frames = []
    for file in files:
        try:
            with Image.open(file) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except OSError as error:
            raise ValueError(f"{file}: expected a readable image, found an unreadable file ({error})") from None
    return frames


SCALES = ("map", "strip")


def normalise(cams, scale="map"):
    """Min-max scaling of [T, h, w] CAMs to [0, 1]: each map on its own (``"map"``: where the focus is at
    each position, as CAMs are usually shown) or over all positions of the kind (``"strip"``: also how
    strong it is from one position to the next)."""
    if scale not in SCALES:
        raise ValueError(f"--scale={scale!r} is invalid: expected one of {', '.join(SCALES)}")
    cams = np.asarray(cams, np.float64)
    axes = (-2, -1) if scale == "map" else None
    low, high = cams.min(axis=axes, keepdims=True), cams.max(axis=axes, keepdims=True)
    span = high - low
    return np.divide(cams - low, span, out=np.zeros_like(cams), where=span > 0)


def short_name(name, length=14):
    name = name.split(",")[0]
    return name if len(name) <= length else name[:length - 1] + "\u2026"


def write_strip(output, cams, kernel_size, labels, predictions, class_names=None, frames=None, cell_px=96,
                title=None, scale="map"):
    """Writes the Fig. 8 strip of one video as a PNG.

    Args:
        output: a path (written whole or not at all) or a binary file object.
        cams: ``{kind: [N - k + 1, h, w]}`` for kinds of ``edrnet_tf.analysis.cam.KINDS`` (rows in that order).
        kernel_size: k, to place each position's CAM under its centre segment.
        labels, predictions: [N] int ground-truth and predicted segment labels.
        class_names: the C names (default: AVE's).
        frames: None or N RGB images ([H, W, 3] uint8); the CAMs are drawn over them.
        cell_px: pixels per cell.
        title: a line above the strip.
        scale: ``"map"`` or ``"strip"`` (see ``normalise``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from PIL import Image

    class_names = list(class_names or ave.class_names())
    labels, predictions = np.asarray(labels).astype(int), np.asarray(predictions).astype(int)
    n = len(labels)
    if len(predictions) != n or (frames is not None and len(frames) != n):
        raise ValueError(f"expected {n} predictions and frames (one per segment), found {len(predictions)} and "
                         f"{'no' if frames is None else len(frames)} frames")
    kinds = [kind for kind in TITLES if kind in cams]
    if not kinds or set(cams) - set(kinds):
        raise ValueError(f"cams: expected keys from {list(TITLES)}, found {sorted(cams)}")
    for kind in kinds:
        if np.asarray(cams[kind]).shape[0] != n - kernel_size + 1:
            raise ValueError(f"cams[{kind!r}]: expected {n - kernel_size + 1} positions (N - k + 1), "
                             f"found {np.asarray(cams[kind]).shape[0]}")
    if frames is not None:
        frames = [np.asarray(Image.fromarray(np.asarray(f, np.uint8)).resize((cell_px, cell_px), Image.BILINEAR))
                  for f in frames]
    rows = (["frames"] if frames is not None else []) + kinds
    width, height = strip_size(n, len(rows), cell_px)
    title_px = cell_px // 4
    font = 0.72 * cell_px / 10  # points at DPI 100: about 10 lines of text per cell
    figure = pyplot.figure(figsize=(width / DPI, height / DPI), dpi=DPI)

    def cell(row, column):
        axes = figure.add_axes([column * cell_px / width, (height - title_px - (row + 1) * cell_px) / height,
                                cell_px / width, cell_px / height])
        axes.set_xticks([])
        axes.set_yticks([])
        for spine in axes.spines.values():
            spine.set_visible(False)
        return axes

    def border(axes, segment):
        if labels[segment] != ave.BACKGROUND:
            for spine in axes.spines.values():
                spine.set_visible(True)
                spine.set_color(FOREGROUND_COLOUR)
                spine.set_linewidth(max(1.0, cell_px / 32))

    if title:
        figure.text(0.5, 1 - title_px / 2 / height, title, ha="center", va="center", fontsize=font * 1.2)
    upsampled = {kind: upsample(normalise(cams[kind], scale), cell_px) for kind in kinds}
    for r, row in enumerate(rows):
        cell(r, 0).text(0.5, 0.5, "frames" if row == "frames" else TITLES[row].replace(" ", "\n", 1),
                        ha="center", va="center", fontsize=font * 1.1)
        for segment in range(n):
            axes = cell(r, segment + 1)
            position = segment - centre_segment(0, kernel_size)
            if frames is not None:
                axes.imshow(frames[segment])
            if row != "frames":
                if 0 <= position < len(upsampled[row]):
                    axes.imshow(upsampled[row][position], cmap="jet", vmin=0.0, vmax=1.0,
                                alpha=0.45 if frames is not None else 1.0)
                elif frames is None:
                    axes.set_facecolor("0.9")
            border(axes, segment)
    text_row = len(rows)
    cell(text_row, 0).text(0.5, 0.5, "segment\nlabel\nprediction", ha="center", va="center", fontsize=font)
    for segment in range(n):
        axes = cell(text_row, segment + 1)
        right = predictions[segment] == labels[segment]
        axes.text(0.5, 0.8, f"t={segment}", ha="center", va="center", fontsize=font)
        axes.text(0.5, 0.5, short_name(class_names[labels[segment]]), ha="center", va="center", fontsize=font)
        axes.text(0.5, 0.2, short_name(class_names[predictions[segment]]), ha="center", va="center",
                  fontsize=font, color="black" if right else "tab:red")

    try:
        if isinstance(output, (str, os.PathLike)):
            with files.replacing(output) as partial:
                figure.savefig(partial, format="png", dpi=DPI, metadata=files.png_metadata())
        else:
            figure.savefig(output, format="png", dpi=DPI, metadata=files.png_metadata())
    finally:
        pyplot.close(figure)


def strip_png(cams, kernel_size, labels, predictions, **kwargs):
    """The strip's PNG bytes (for TensorBoard)."""
    buffer = io.BytesIO()
    write_strip(buffer, cams, kernel_size, labels, predictions, **kwargs)
    return buffer.getvalue()
