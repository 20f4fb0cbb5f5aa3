"""Reading and checking the label files of an AVE manual-download folder: ``Annotations.txt``, the split
and order files, ``labels.h5`` / ``mil_labels.h5`` / ``right_labels.h5`` and the background-only videos.

Every problem raises ``ave_files.AveFilesError`` with one line naming the file (and key, row or line).

Label policy for segment label rows that are not one-hot: a segment whose values are all 0 or 1 but
has several classes set (the real ``labels.h5`` rows 171 and 2189 carry two event labels) takes the
lowest set class index, exactly what ``np.argmax`` gives in the AVE-ECCV18 and PSP evaluation code;
such segments are counted and reported in the build log. A segment with no class set, or with values
other than 0 and 1, is an error.
"""

import dataclasses

import numpy as np

from tfds_ave import ave
from tfds_ave.ave_files import (ANNOTATIONS, AUDIO_TAIL, FEATURE_KEY, H5_LABEL_FILES, LABELS, MIL_LABELS, NOISY_AUDIO,
                                NOISY_LABELS, NOISY_VISUAL, ORDER_FILES, ORDER_KEY, SPLIT_FILES, SPLITS,
                                TEXT_LABEL_FILES, VISUAL_TAIL, AveFilesError, check_feature_file, h5_dataset, open_h5,
                                read_h5, read_text, require)


def read_annotation_rows(folder):
    """``Annotations.txt`` rows, with or without the header line (AVE-ECCV18's copy has none)."""
    path = folder / ANNOTATIONS
    first = read_text(path).split("\n", 1)[0].strip()
    try:
        return ave.read_annotations(path, header=first == ave.ANNOTATION_HEADER)
    except ValueError as e:
        raise AveFilesError(str(e)) from None


def _segment_classes(onehot, path, row_offset=0):
    """[R, 10, 29] label rows -> ([R, 10] class ids, list of (row, segment) resolved multi-hot segments)."""
    onehot = np.asarray(onehot)
    binary = (onehot == 0) | (onehot == 1)
    if not binary.all():
        r, t, c = np.argwhere(~binary)[0]
        raise AveFilesError(
            f"{path.name} row {r + row_offset} segment {t}: expected one-hot values 0/1, found {float(onehot[r, t, c])}"
            f" in class column {c}"
        )
    count = onehot.sum(-1)
    if (count == 0).any():
        r, t = np.argwhere(count == 0)[0]
        raise AveFilesError(
            f"{path.name} row {r + row_offset} segment {t}: expected a one-hot vector over {onehot.shape[-1]}"
            " classes, found no class set"
        )
    multi = [tuple(int(v) for v in rt) for rt in np.argwhere(count > 1)]
    return onehot.argmax(-1).astype(np.int64), multi


def segment_labels_h5(folder, name, rows):
    """Segment class ids [rows, 10] from a ``labels.h5``-style file, and the resolved multi-hot segments."""
    path = folder / name
    data = read_h5(path, FEATURE_KEY, (rows, ave.N_SEGMENTS, ave.NUM_CLASSES), f" for the {rows} rows of {ANNOTATIONS}")
    return _segment_classes(data, path)


def video_labels_h5(folder, rows):
    path = folder / MIL_LABELS
    data = read_h5(path, FEATURE_KEY, (rows, ave.NUM_CLASSES), f" for the {rows} rows of {ANNOTATIONS}")
    events = data[:, : ave.NUM_EVENTS]
    good = (data[:, ave.BACKGROUND] == 0) & (events.sum(-1) == 1) & ((events == 0) | (events == 1)).all(-1)
    if not good.all():
        r = int(np.argmin(good))
        raise AveFilesError(
            f"{path.name} row {r}: expected one-hot over the {ave.NUM_EVENTS} event classes, found {data[r].tolist()}"
        )
    return events.argmax(-1).astype(np.int64)


def orders_h5(folder, rows):
    orders = {}
    for split, name in ORDER_FILES.items():
        path = folder / name
        with open_h5(path) as f:
            ds = h5_dataset(f, path, ORDER_KEY)
            if ds.ndim != 1 or not np.issubdtype(ds.dtype, np.integer):
                raise AveFilesError(
                    f"{name}[{ORDER_KEY!r}]: expected a 1-D integer array of row indices, found shape {ds.shape}"
                    f" dtype {ds.dtype}"
                )
            orders[split] = ds[()].astype(np.int64)
    check_orders(orders, rows, ORDER_FILES)
    return orders


def orders_text(folder, annotations):
    """Row indices of the split files: line i of trainSet.txt is the Annotations row train_order[i]."""
    rows_of = {}
    for i, a in enumerate(annotations):
        rows_of.setdefault(_line(a), []).append(i)
    taken = {line: 0 for line in rows_of}
    orders = {}
    for split, name in SPLIT_FILES.items():
        path = folder / name
        order = []
        for number, line in enumerate(read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            line = line.strip()
            if line not in rows_of:
                raise AveFilesError(f"{name} line {number}: expected a row of {ANNOTATIONS}, found {line!r}")
            candidates = rows_of[line]
            order.append(candidates[min(taken[line], len(candidates) - 1)])
            taken[line] += 1
        orders[split] = np.array(order, np.int64)
    check_orders(orders, len(annotations), SPLIT_FILES)
    return orders


def _line(a):
    return f"{a.category}&{a.video_id}&{a.quality}&{a.start}&{a.end}"


def check_orders(orders, rows, names):
    """At least one row per split, indices in range, no repeats within a split and no row in two splits."""
    for split, order in orders.items():
        if not order.size:
            raise AveFilesError(f"{names[split]}: expected the rows of the {split} split, found none (empty split)")
        bad = np.flatnonzero((order < 0) | (order >= rows))
        if bad.size:
            raise AveFilesError(
                f"{names[split]}: expected row indices in [0, {rows}) ({rows} rows in {ANNOTATIONS}), found"
                f" {int(order[bad[0]])} at position {int(bad[0])}"
            )
        values, counts = np.unique(order, return_counts=True)
        if (counts > 1).any():
            raise AveFilesError(f"{names[split]}: expected each row once, found row {int(values[counts > 1][0])} "
                                f"{int(counts.max())} times")
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            shared = np.intersect1d(orders[a], orders[b])
            if shared.size:
                raise AveFilesError(
                    f"{names[a]} and {names[b]}: expected disjoint splits, found {shared.size} shared rows"
                    f" (first: {int(shared[0])})"
                )


@dataclasses.dataclass
class AveLabels:
    """Labels and splits of the 4143 (or, synthetic, R) annotated videos."""

    source: str  # which files gave labels and splits
    annotations: list  # ave.Annotation per row: video id and span
    segment: np.ndarray  # [R, 10] int O-AVE segment classes
    video: np.ndarray  # [R] int event class
    orders: dict  # split -> [n] int64 rows
    multi_hot: list  # (row, segment) of segments with several classes set, resolved to the lowest index
    files: tuple = ()  # the names of the files read


def read_labels(folder):
    """Labels and splits from the .h5 files when all are present, else from the text files."""
    require(folder, [ANNOTATIONS], "tfds_ave")
    annotations = read_annotation_rows(folder)
    rows = len(annotations)
    if all((folder / n).exists() for n in H5_LABEL_FILES):
        segment, multi = segment_labels_h5(folder, LABELS, rows)
        return AveLabels(f"{', '.join(H5_LABEL_FILES)}", annotations, segment, video_labels_h5(folder, rows),
                         orders_h5(folder, rows), multi, (ANNOTATIONS,) + H5_LABEL_FILES)
    if all((folder / n).exists() for n in TEXT_LABEL_FILES):
        video = np.array([a.label for a in annotations], np.int64)
        segment = np.full((rows, ave.N_SEGMENTS), ave.BACKGROUND, np.int64)
        for r, a in enumerate(annotations):
            segment[r, a.start: a.end] = a.label
        return AveLabels(f"{ANNOTATIONS} + {', '.join(TEXT_LABEL_FILES)}", annotations, segment, video,
                         orders_text(folder, annotations), [], (ANNOTATIONS,) + TEXT_LABEL_FILES)
    missing = [n for n in H5_LABEL_FILES + TEXT_LABEL_FILES if not (folder / n).exists()]
    raise AveFilesError(
        f"tfds_ave: labels and splits need either {', '.join(H5_LABEL_FILES)} or {', '.join(TEXT_LABEL_FILES)}"
        f" (with {ANNOTATIONS}) in {folder}; missing {', '.join(missing)}"
    )


def check_noisy(folder):
    """Checks the background-only files (labels all one-hot at 28, matching features); returns their count."""
    path = folder / NOISY_LABELS
    with open_h5(path) as f:
        ds = h5_dataset(f, path, FEATURE_KEY)
        if ds.ndim != 2 or ds.shape[1] != ave.NUM_CLASSES:
            raise AveFilesError(f"{path.name}[{FEATURE_KEY!r}]: expected shape (M, {ave.NUM_CLASSES}), found"
                                f" {tuple(ds.shape)}")
        noisy = ds[()]
    expected = np.zeros(ave.NUM_CLASSES)
    expected[ave.BACKGROUND] = 1
    bad = np.flatnonzero((noisy != expected).any(-1))
    if bad.size:
        raise AveFilesError(f"{path.name} row {int(bad[0])}: expected one-hot at column {ave.BACKGROUND}"
                            f" (background), found {noisy[bad[0]].tolist()}")
    count = len(noisy)
    why = f" for the {count} rows of {NOISY_LABELS}"
    check_feature_file(folder / NOISY_AUDIO, count, AUDIO_TAIL, why)
    check_feature_file(folder / NOISY_VISUAL, count, VISUAL_TAIL, why)
    return count
