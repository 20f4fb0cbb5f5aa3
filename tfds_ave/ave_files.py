"""Reading and checking the AVE release files of a manual-download folder (docs/design.md "The AVE files").

Every problem raises :class:`AveFilesError` with one line naming the file (and key, row or line),
what was expected and what was found. Feature files are read a few rows at a time, so memory stays
bounded whatever their size (the real ``visual_feature.h5`` holds 7.7 GB of float64). The label files
(annotations, splits, one-hot labels, background-only videos) are read by ``ave_labels``.

Feature dtype policy: any float or integer dtype is read as float32; one other than float32/float64
(float16, int32, ...) is accepted and said in the build log (float32 is exact for float16 and for
integers up to 2**24); strings, booleans and compound types are refused.
Text files may start with a UTF-8 byte-order mark. An empty, truncated or corrupt HDF5 file raises
naming it, at open or at the read of the rows that fail. The manual folder must be a folder and each file a
regular file (or a link to one): a directory, FIFO or device in a file's place raises before it is opened (a
FIFO would block the read forever).

``fingerprint`` records what a build was made from (size and SHA-256 of each file read; for a file over
``WHOLE_HASH_BYTES``, of ``SAMPLE_BLOCKS`` blocks spread over it), so a build can refuse other files later.
"""

import contextlib
import functools
import hashlib
import os
import pathlib
import stat

from absl import logging
import h5py
import numpy as np

from tfds_ave import ave

FEATURE_KEY = "avadataset"
ORDER_KEY = "order"
ANNOTATIONS = ave.ANNOTATIONS
SPLITS = ("train", "validation", "test")
ORDER_FILES = {"train": "train_order.h5", "validation": "val_order.h5", "test": "test_order.h5"}
SPLIT_FILES = {"train": "trainSet.txt", "validation": "valSet.txt", "test": "testSet.txt"}
AUDIO, VISUAL = "audio_feature.h5", "visual_feature.h5"
LABELS, MIL_LABELS, RIGHT_LABELS = "labels.h5", "mil_labels.h5", "right_labels.h5"
NOISY_AUDIO, NOISY_VISUAL, NOISY_LABELS = "audio_feature_noisy.h5", "visual_feature_noisy.h5", "labels_noisy.h5"
H5_LABEL_FILES = (LABELS, MIL_LABELS) + tuple(ORDER_FILES.values())
TEXT_LABEL_FILES = tuple(SPLIT_FILES.values())
READ_CHUNK = 16  # feature rows read at a time: 16 x 10 x 7 x 7 x 512 float64 = 32 MB
WHOLE_HASH_BYTES = 64 << 20  # files up to this size are hashed whole (the real audio_feature.h5: 42 MB)
SAMPLE_BLOCKS, SAMPLE_BYTES = 16, 1 << 20  # a larger file (visual_feature.h5, 7.7 GB): 16 blocks of 1 MiB
AUDIO_TAIL = (ave.N_SEGMENTS, ave.AUDIO_DIM)
VISUAL_TAIL = (ave.N_SEGMENTS,) + ave.VISUAL_SHAPE


class AveFilesError(ValueError):
    """A missing or malformed AVE file; the message is one line."""


def check_folder(folder):
    """Raises one line unless ``folder`` (the manual-download folder) is an existing folder."""
    if not os.path.isdir(folder):
        found = "a file" if os.path.lexists(folder) else "nothing there"
        raise AveFilesError(f"{folder}: expected the manual-download folder of the AVE release files, found {found}")


def _kind(mode):
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def check_regular(path):
    """Raises one line unless ``path`` is a regular file (or a link to one); ``FileNotFoundError`` passes up."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise AveFilesError(f"{path}: expected a regular file, found {_kind(mode)}")


def require(folder, names, what):
    """Raises if ``folder`` is no folder or any of ``names`` is missing from it (listing every file ``what``
    expects) or is not a regular file."""
    folder = pathlib.Path(folder)
    check_folder(folder)
    missing = [n for n in names if not os.path.lexists(folder / n)]
    if missing:
        raise AveFilesError(f"{what}: missing {', '.join(missing)} in {folder}; expected files: {', '.join(names)}")
    for name in names:
        check_regular(folder / name)


def fingerprint(path):
    """``{"bytes", "sha256"}`` of a file: the hash of the whole file up to ``WHOLE_HASH_BYTES``, else of
    ``SAMPLE_BLOCKS`` blocks of ``SAMPLE_BYTES`` at evenly spaced offsets, the first and the last included.
    Computed once per process for a file of unchanged size, time and inode."""
    check_regular(path)
    status = os.stat(path)
    return dict(_fingerprint(os.path.realpath(path), status.st_size, status.st_mtime_ns, status.st_ino))


@functools.lru_cache(maxsize=64)
def _fingerprint(path, size, mtime_ns, inode):
    del mtime_ns, inode  # the cache key only
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= WHOLE_HASH_BYTES:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        else:
            last = size - SAMPLE_BYTES
            for i in range(SAMPLE_BLOCKS):
                handle.seek(last * i // (SAMPLE_BLOCKS - 1))
                digest.update(handle.read(SAMPLE_BYTES))
    return (("bytes", size), ("sha256", digest.hexdigest()))


def changed_files(folder, recorded):
    """The names of ``recorded`` (name -> ``fingerprint``) whose file in ``folder`` is missing or differs."""
    return [name for name, print_ in sorted(recorded.items())
            if not os.path.lexists(folder / name) or fingerprint(folder / name) != print_]


@contextlib.contextmanager
def open_h5(path):
    """``h5py.File(path, "r")``; an empty, truncated or non-HDF5 file, or a read error inside it, raises
    naming the file instead of h5py's nameless ``OSError``."""
    check_regular(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as e:
        found = ("an empty (0-byte) file" if os.path.getsize(path) == 0
                 else f"a truncated or corrupt file (h5py: {_first_line(e)})")
        raise AveFilesError(f"{path.name}: expected an HDF5 file, found {found}") from None
    with handle:
        try:
            yield handle
        except OSError as e:
            raise AveFilesError(f"{path.name}: expected a readable HDF5 file, found a truncated or corrupt file"
                                f" (h5py: {_first_line(e)})") from None


def read_text(path):
    """A text file's content, without a leading byte-order mark; bytes that are not UTF-8 raise naming it."""
    check_regular(path)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AveFilesError(f"{path.name}: expected UTF-8 text, found byte {e.object[e.start]:#04x} at offset"
                            f" {e.start}") from None


def _first_line(error):
    return (str(error).strip() or type(error).__name__).splitlines()[0]


def h5_dataset(f, path, key):
    if key not in f:
        raise AveFilesError(f"{path.name}: expected key {key!r}, found keys {sorted(f.keys())}")
    return f[key]


def _check_shape(dataset, path, key, expected, why=""):
    if tuple(dataset.shape) != tuple(expected):
        raise AveFilesError(
            f"{path.name}[{key!r}]: expected shape {tuple(expected)}{why}, found {tuple(dataset.shape)}"
        )


def read_h5(path, key, shape, why=""):
    """Reads a whole (small) HDF5 array after checking its key and shape."""
    with open_h5(path) as f:
        ds = h5_dataset(f, path, key)
        _check_shape(ds, path, key, shape, why)
        return ds[()]


def check_feature_file(path, rows, tail, why):
    """Checks key, shape and dtype (the module's dtype policy) of a feature file without reading its data."""
    with open_h5(path) as f:
        ds = h5_dataset(f, path, FEATURE_KEY)
        _check_shape(ds, path, FEATURE_KEY, (rows,) + tail, why)
        if ds.dtype.kind not in "fiu":
            raise AveFilesError(f"{path.name}[{FEATURE_KEY!r}]: expected float or integer features, found dtype"
                                f" {ds.dtype}")
        if ds.dtype not in (np.float32, np.float64):
            logging.info("tfds_ave: %s[%r] holds %s features; accepted, read as float32", path.name, FEATURE_KEY,
                         ds.dtype)


def iter_features(audio_path, visual_path, rows, chunk=READ_CHUNK):
    """Yields (row, audio [10, 128] float32, visual [10, 7, 7, 512] float32) for ``rows`` in ascending order.

    Reads ``chunk`` rows at a time; an unreadable row or one holding NaN or inf raises naming the file and row.
    """
    rows = np.sort(np.asarray(rows, np.int64))
    with open_h5(audio_path) as fa, open_h5(visual_path) as fv:
        da, dv = fa[FEATURE_KEY], fv[FEATURE_KEY]
        for lo in range(0, len(rows), chunk):
            idx = rows[lo: lo + chunk]
            audio, visual = _read_rows(da, idx, audio_path), _read_rows(dv, idx, visual_path)
            yield from zip(idx.tolist(), audio, visual)


def _read_rows(dataset, idx, path):
    """Rows ``idx`` of ``dataset`` as float32; a read error or a row holding NaN or inf raises naming both."""
    try:
        block = dataset[idx].astype(np.float32)
    except OSError as e:
        raise AveFilesError(f"{path.name}[{FEATURE_KEY!r}] rows {int(idx[0])}-{int(idx[-1])}: expected readable"
                            f" features, found a truncated or corrupt file (h5py: {_first_line(e)})") from None
    ok = np.isfinite(block).reshape(len(idx), -1).all(-1)
    if not ok.all():
        raise AveFilesError(f"{path.name}[{FEATURE_KEY!r}] row {int(idx[np.argmin(ok)])}: expected finite features,"
                            " found NaN or inf")
    return block
