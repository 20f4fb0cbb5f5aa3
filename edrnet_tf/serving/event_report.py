"""The event report: one self-contained HTML page (inline SVG, CSS and JPEG thumbnails; no script, no
network) showing, per video, what ``edrnet_tf.predict`` serves against the truth when it is known.

Per video a timeline of its T seconds: the ground truth (when known), the predicted class per second (the
gated head after B2ILC, as ``inference.describe_videos`` serves it) drawn as one span per run of a class,
the seconds where the two differ, and a heat strip of the per-second probabilities of the video's top
classes (those with the highest peak probability); with ``thumbnails`` a strip of one frame per second on
top. Above the videos a summary table (videos, segments, segment accuracy when the truth is known) and the
legend: each class's colour with its predicted and true segment counts. At most ``limit`` videos are drawn,
the worst first (lowest segment accuracy) when the truth is known, in input order otherwise; the summary
covers all of them.
"""

import base64
import colorsys
import html
import io
import pathlib

import numpy as np

from edrnet_tf import ave, cli, files
from edrnet_tf.serving import inference

DEFAULT_VIDEOS = 50  # --report-videos
TOP_CLASSES = 3  # rows of the heat strip
LABEL_WIDTH = 170  # px, the row names left of the timeline
TIMELINE_WIDTH = 960  # px: label + timeline + margins fit a 1280 px window
THUMB_HEIGHT = 54
ROW = 22  # px, the truth and predicted rows
HEAT_ROW = 12
ERROR_ROW = 6
BACKGROUND_COLOUR = "#dedede"

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px auto;max-width:1240px;
color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:18px 0 6px}h3{font-size:15px;margin:0 0 4px}
table{border-collapse:collapse;margin:4px 0 10px}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:14px;height:14px;vertical-align:-2px;border:1px solid #888;margin-right:4px}
.video{border-top:1px solid #ccc;padding:10px 0 6px}.video svg{display:block}
.events{color:#444;margin:2px 0 0 0;font-size:13px}.bad{color:#b00020;font-weight:600}.note{color:#555}
.classes{columns:3;column-gap:18px;margin:4px 0}.classes div{break-inside:avoid;font-size:13px}
.rowkey span{margin-right:18px}
"""


def class_colours(num_classes, background=ave.BACKGROUND):
    """One colour per class: event classes spread around the hue circle (neighbouring indices far apart,
    three lightness levels), the background light grey."""
    events = [c for c in range(num_classes) if c != background]
    colours = {}
    for i, c in enumerate(events):
        hue = (i * 0.381966) % 1.0  # golden-ratio steps: consecutive classes get distant hues
        light = (0.38, 0.52, 0.66)[i % 3]
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.72)
        colours[c] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    colours[background] = BACKGROUND_COLOUR
    return [colours[c] for c in range(num_classes)]


def ink(colour):
    """Black or white, whichever reads better on the hex ``colour`` (its relative luminance)."""
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "#111" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "#fff"


def add_flags(parser, labels=False):
    """``--report FILE`` and ``--report-videos N`` (and, for feature files, ``--labels FILE``)."""
    parser.add_argument("--report", type=pathlib.Path, default=None,
                        help="Also write the event report: one self-contained HTML page (docs/serving.md).")
    parser.add_argument("--report-videos", type=cli.positive_int, default=DEFAULT_VIDEOS,
                        help="The most videos drawn on the report (the worst first when the truth is known). "
                             "Default: %(default)s.")
    if labels:
        parser.add_argument("--labels", type=pathlib.Path, default=None,
                            help="True segment labels for the report: HDF5 [M, T, 29] one-hot (AVE's labels.h5 "
                                 "layout) or [M, T] class ids, key --key, rows as the features'.")


def runs(labels):
    """Maximal runs of one label in ``labels`` [T] as (label, start, end) with ``end`` exclusive."""
    found, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            found.append((int(labels[start]), start, t))
            start = t
    return found


def order(accuracies, limit):
    """Indices of the videos to draw: the ``limit`` lowest ``accuracies`` (stable: input order among equal
    ones), or the first ``limit`` when ``accuracies`` is None."""
    if accuracies is None:
        return list(range(limit))
    return [int(i) for i in np.argsort(np.asarray(accuracies), kind="stable")[:limit]]


def esc(text):
    return html.escape(str(text), quote=True)


def short(name, size=22):
    return name if len(name) <= size else name[:size - 1] + "…"


def thumbnail_uris(path, seconds, height=THUMB_HEIGHT):
    """``data:`` URIs of small JPEG frames of the video file ``path``, one per second (the first frame shown at
    or after the middle of each second) for its first ``seconds`` seconds; a second without a frame gets None."""
    import av

    found = [None] * seconds
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            second = int(np.floor(frame.time - start - 0.5))
            if second >= seconds:
                break
            if second < 0 or found[second] is not None:
                continue
            width = max(2, round(frame.width * height / frame.height / 2) * 2)
            image = frame.to_image(width=width, height=height)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=70)
            found[second] = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return found


def describe(probs, class_names, background, witness_rate):
    """``inference.describe_videos`` of every video, the videos of one length predicted together."""
    described = [None] * len(probs)
    lengths = [len(p) for p in probs]
    for length in sorted(set(lengths)):
        group = [i for i, n in enumerate(lengths) if n == length]
        stacked = np.stack([np.asarray(probs[i], np.float32) for i in group])
        for i, line in zip(group, inference.describe_videos(stacked, group, class_names, background, witness_rate)):
            described[i] = line
    return described


def timeline_svg(probs, labels, truth, colours, class_names, thumbnails=None, top=TOP_CLASSES):
    """The SVG timeline of one video (see the module docstring); ``probs`` [T, C], ``labels`` [T] (B2ILC),
    ``truth`` [T] or None, ``thumbnails`` T data URIs (None entries allowed) or None."""
    length = len(labels)
    cell = TIMELINE_WIDTH / length
    x = lambda t: LABEL_WIDTH + t * cell  # noqa: E731
    parts, y = [], 0

    def label(text, row_y, height, what):
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{row_y + height / 2 + 4:.1f}" text-anchor="end" '
                     f'class="rowname" data-row="{what}">{esc(text)}</text>')

    if thumbnails is not None:
        label("frames", y, THUMB_HEIGHT, "frames")
        for t, uri in enumerate(thumbnails[:length]):
            if uri:
                parts.append(f'<image class="thumb" x="{x(t):.1f}" y="{y}" width="{cell - 1:.1f}" '
                             f'height="{THUMB_HEIGHT}" preserveAspectRatio="xMidYMid slice" href="{uri}"/>')
        y += THUMB_HEIGHT + 4

    def spans(values, row_y, what):
        label({"truth": "truth", "predicted": "predicted (B2ILC)"}[what], row_y, ROW, what)
        for c, start, end in runs(values):
            width = (end - start) * cell
            name = class_names[c]
            parts.append(f'<g class="span" data-row="{what}" data-class="{esc(name)}" data-start="{start}" '
                         f'data-end="{end}"><title>{esc(name)}: {start}-{end} s</title>'
                         f'<rect x="{x(start):.1f}" y="{row_y}" width="{width - 1:.1f}" height="{ROW}" '
                         f'fill="{colours[c]}"/>')
            if width > 40:
                parts.append(f'<text x="{x(start) + 4:.1f}" y="{row_y + 15}" class="spantext" fill="{ink(colours[c])}">'
                             f'{esc(short(name, max(2, int((width - 8) / 7))))}</text>')
            parts.append("</g>")

    if truth is not None:
        spans(truth, y, "truth")
        y += ROW + 2
    spans(labels, y, "predicted")
    y += ROW + 2
    if truth is not None:
        label("errors", y - 2, ERROR_ROW + 4, "errors")
        for t in np.flatnonzero(np.asarray(labels) != np.asarray(truth)):
            parts.append(f'<rect class="error" data-second="{t}" x="{x(t):.1f}" y="{y}" width="{cell - 1:.1f}" '
                         f'height="{ERROR_ROW}" fill="#d0021b"/>')
        y += ERROR_ROW + 4
    peaks = probs.max(axis=0)
    for c in np.argsort(-peaks, kind="stable")[:top]:
        label(short(class_names[c]), y, HEAT_ROW, "heat")
        for t in range(length):
            p = float(probs[t, c])
            parts.append(f'<rect class="heat" data-class="{esc(class_names[c])}" x="{x(t):.1f}" y="{y}" '
                         f'width="{cell - 1:.1f}" height="{HEAT_ROW}" fill="#08306b" fill-opacity="{p:.2f}">'
                         f'<title>{esc(class_names[c])} at {t} s: {p:.2f}</title></rect>')
        y += HEAT_ROW + 1
    y += 3
    step = max(1, int(np.ceil(length / 20)))
    for t in range(0, length + 1, step):
        parts.append(f'<text x="{x(t):.1f}" y="{y + 10}" class="tick" text-anchor="middle">{t}</text>')
    y += 14
    return (f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + TIMELINE_WIDTH + 12}" '
            f'height="{y}" viewBox="0 0 {LABEL_WIDTH + TIMELINE_WIDTH + 12} {y}">'
            '<style>.rowname{font:12px sans-serif;fill:#333}.spantext{font:12px sans-serif}'
            '.tick{font:10px sans-serif;fill:#666}</style>' + "".join(parts) + "</svg>")


def build_page(probs, names, title, truth=None, thumbnails=None, limit=DEFAULT_VIDEOS, class_names=None,
               background=ave.BACKGROUND, witness_rate=0.5, note=""):
    """The report page as an HTML string.

    Args:
        probs: per video its [T, C] gated-head probabilities (videos may differ in T).
        names: per video the name shown (a row, a file name).
        title: the page's heading.
        truth: per video its [T] true class ids, or None.
        thumbnails: a function of a video's index giving its T thumbnail URIs (``thumbnail_uris``), called only
            for the videos drawn; or None.
        limit: the most videos drawn (the worst first when ``truth`` is given).
        class_names: the C class names (AVE's by default).
        background, witness_rate: B2ILC's, as the model's config has them.
        note: a line under the title (the data's description, a synthetic-data warning).
    """
    class_names = list(class_names or ave.class_names())
    colours = class_colours(len(class_names), background)
    described = describe(probs, class_names, background, witness_rate)
    labels = [np.asarray(d["labels"]) for d in described]
    truth = None if truth is None else [np.asarray(t, np.int64) for t in truth]
    correct = None if truth is None else [labels[i] == truth[i] for i in range(len(labels))]
    shown = order(None if correct is None else [c.mean() for c in correct], min(limit, len(labels)))
    segments = sum(len(x) for x in labels)

    rows = [("videos", f"{len(labels)} ({len(shown)} drawn below"
             + (", the worst first)" if truth is not None else ", in input order)")),
            ("segments (seconds)", segments),
            ("predicted events", sum(len(d["events"]) for d in described))]
    if truth is not None:
        raw_correct = sum(int((np.asarray(d["labels_raw"]) == t).sum()) for d, t in zip(described, truth))
        rows += [("segment accuracy, gated head + B2ILC", f"{sum(int(c.sum()) for c in correct) / segments:.4f}"),
                 ("segment accuracy, gated head raw", f"{raw_correct / segments:.4f}"),
                 ("videos with every second right", sum(int(c.all()) for c in correct))]
    summary = "".join(f'<tr><th>{esc(k)}</th><td class="n">{esc(v)}</td></tr>' for k, v in rows)

    predicted_counts = np.bincount(np.concatenate(labels), minlength=len(class_names))
    true_counts = None if truth is None else np.bincount(np.concatenate(truth), minlength=len(class_names))
    legend = []
    for c, name in enumerate(class_names):
        counts = f"{predicted_counts[c]}" + ("" if true_counts is None else f" / {true_counts[c]}")
        legend.append(f'<div data-class="{esc(name)}"><span class="sw" style="background:{colours[c]}"></span>'
                      f'{esc(name)} <span class="note">{counts}</span></div>')
    counts_key = "predicted / true segments" if truth is not None else "predicted segments"

    videos = []
    for i in shown:
        events = "; ".join(f'{esc(e["class"])} {e["start"]}-{e["end"]} s (p {e["mean_probability"]:.2f})'
                           for e in described[i]["events"]) or "none"
        score = ""
        if correct is not None:
            wrong = int((~correct[i]).sum())
            score = (f' &middot; <span class="{"bad" if wrong else ""}">{int(correct[i].sum())}/{len(correct[i])}'
                     f' seconds right</span>')
        uris = thumbnails(i) if thumbnails is not None else None
        videos.append(f'<section class="video" data-index="{i}" data-name="{esc(names[i])}">'
                      f'<h3>{esc(names[i])} <span class="note">&middot; {len(labels[i])} s</span>{score}</h3>'
                      + timeline_svg(np.asarray(probs[i]), labels[i], None if truth is None else truth[i], colours,
                                     class_names, uris)
                      + f'<p class="events">Predicted events: {events}</p></section>')

    rowkey = ["<b>predicted (B2ILC)</b>: the gated head's class per second after B2ILC, one span per run",
              "<b>heat strip</b>: the probabilities of the video's 3 classes with the highest peak "
              "(darker = higher, white = 0)"]
    if truth is not None:
        rowkey.insert(0, "<b>truth</b>: the true class per second")
        rowkey.insert(2, '<b>errors</b>: <span style="color:#d0021b">&#9632;</span> seconds predicted wrong')
    if thumbnails is not None:
        rowkey.insert(0, "<b>frames</b>: one frame per second")
    return (f"{files.EVENT_REPORT_MARK}\n<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1>" + (f'<p class="note">{esc(note)}</p>' if note else "")
            + f'<h2>Summary</h2><table id="summary">{summary}</table>'
            + '<h2>Legend</h2><div id="legend"><p class="rowkey">' + "".join(f"<span>{r}</span>" for r in rowkey)
            + f'</p><p class="note">Classes ({counts_key}):</p><div class="classes">{"".join(legend)}</div></div>'
            + f'<h2>Videos</h2><div id="videos">{"".join(videos)}</div></body></html>\n')


def write_page(path, page):
    """Writes the page whole or not at all (``files.write_text``)."""
    files.write_text(path, page)


def read_labels(path, key, shape, class_count=ave.NUM_CLASSES):
    """True class ids [M, T] from ``path``: an AVE ``labels.h5``-style [M, T, C] one-hot array (the argmax of
    each segment) or [M, T] class ids under ``key``; ``shape`` is the features' (M, T). Raises one line
    naming ``--labels`` otherwise."""
    import h5py

    where = f"--labels={str(path)!r} is invalid"
    if not path.is_file():
        raise ValueError(f"{where}: expected an HDF5 file, found nothing there")
    try:
        with h5py.File(path, "r") as handle:
            if key not in handle:
                raise ValueError(f"{where}: expected the key {key!r} (--key), found {sorted(handle)}")
            data = np.asarray(handle[key])
    except OSError:
        raise ValueError(f"{where}: expected an HDF5 file, found an unreadable file") from None
    if data.shape == tuple(shape) + (class_count,):
        if not (np.isfinite(data).all() and (data.sum(-1) > 0).all()):
            raise ValueError(f"{where}: expected a one-hot class per segment, found a segment without one")
        return data.argmax(-1)
    if data.shape == tuple(shape) and data.dtype.kind in "iu":
        if data.min() < 0 or data.max() >= class_count:
            raise ValueError(f"{where}: expected class ids in [0, {class_count - 1}], found {data.min()}..{data.max()}")
        return data.astype(np.int64)
    raise ValueError(f"{where}: expected shape [M, T, {class_count}] (one-hot, as AVE's labels.h5) or integer "
                     f"[M, T] with [M, T] = {list(shape)} as the features, found {list(data.shape)} {data.dtype}")
