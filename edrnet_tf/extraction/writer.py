"""Appending extracted videos to AVE-layout ``.h5`` files, resumably and one whole row at a time.

An output folder holds ``audio_feature.h5`` ([M, T, 128]) and ``visual_feature.h5`` ([M, T, 7, 7, 512]),
float32 under the key ``avadataset`` as in the AVE release, and ``videos.txt``, whose line i is the file of
row i. A row is committed by its ``videos.txt`` line, written last: rows of the ``.h5`` files past the
last line (an interrupted append) are dropped when the folder is opened again, so a video is either
wholly in all three files or in none. All rows have the same T: longer videos keep their first T seconds.

Both ``.h5`` files record, as file attributes (``ATTRIBUTES``), the choices that shape the features:
``vggish_embedding`` (relu | linear | pca), ``frame_rule`` (ave | centre) and ``frames_per_segment``; a
folder made with other choices is refused rather than mixed. The files are created by the first row
appended, so a command that fails before it leaves nothing behind, and held open (HDF5 locks them) until
``close``: a second command writing into the same folder at once stops with one line saying so.
"""

import pathlib

import h5py
import numpy as np

from edrnet_tf import ave

KEY = "avadataset"
AUDIO_FILE, VISUAL_FILE, VIDEOS_FILE = "audio_feature.h5", "visual_feature.h5", "videos.txt"
# File attribute -> the flag that sets it.
ATTRIBUTES = {"vggish_embedding": "--vggish-embedding", "frame_rule": "--frame-rule",
              "frames_per_segment": "--frames-per-segment"}


class OutputError(ValueError):
    """The output folder cannot be written (foreign, locked or changed files): no video can be."""


class FeatureWriter:
    """Rows of T segments each (``segments``, or the T of rows already in ``folder``) made with
    ``attributes`` (``ATTRIBUTES`` -> value; ``None`` skips the check and writes none). Opening reads and
    checks what ``folder`` holds and creates nothing; a foreign or locked file raises one line naming it."""

    def __init__(self, folder, segments=None, attributes=None):
        self.folder = pathlib.Path(folder)
        self.attributes = dict(attributes or {})
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"--out={str(self.folder)!r} is a file, not a folder")
        self.videos = self._read_videos()
        self._written = set(self.videos)
        self._files = {}
        self.segments = segments
        try:
            if any((self.folder / name).exists() for name in (AUDIO_FILE, VISUAL_FILE)) or self.videos:
                self._open()
        except BaseException:
            self.close()
            raise

    def _read_videos(self):
        path = self.folder / VIDEOS_FILE
        if not path.exists():
            return []
        try:
            return path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError) as error:
            raise OutputError(f"--out={str(self.folder)!r}: {str(path)!r} is not a UTF-8 list of videos "
                             f"({type(error).__name__}); extract into another --out") from None

    def _open(self):
        """Opens (or creates) both ``.h5`` files, checks them against ``videos.txt`` and the attributes."""
        files = ((AUDIO_FILE, (ave.AUDIO_DIM,)), (VISUAL_FILE, ave.VISUAL_SHAPE))
        for name, _ in files:  # every check before anything is created
            path = self.folder / name
            if path.exists() and not (path.is_file() and h5py.is_hdf5(path)):
                raise OutputError(f"--out={str(self.folder)!r}: {str(path)!r} is not an HDF5 file; "
                                 "extract into another --out")
            if not path.exists() and self.videos:
                raise OutputError(f"--out={str(self.folder)!r}: {VIDEOS_FILE} lists {len(self.videos)} videos but "
                                 f"{str(path)!r} is missing; extract into another --out")
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, tail in files:
            path = self.folder / name
            new = not path.exists()
            try:
                handle = h5py.File(path, "a")
            except BlockingIOError:
                raise OutputError(f"--out={str(self.folder)!r}: {str(path)!r} is locked by another process "
                                 "(another extract into the same --out?); wait for it or use another --out") from None
            self._files[name] = (handle, tail)
            if new:
                handle.attrs.update(self.attributes)
            self._check_attributes(path, handle)
            self.segments = self._resume(name, handle, tail, self.segments)

    def _check_attributes(self, path, handle):
        for attribute, value in self.attributes.items():
            flag = ATTRIBUTES.get(attribute, attribute)
            if attribute not in handle.attrs:
                raise OutputError(f"{flag}={value}: {str(path)!r} records no {attribute} (written by an earlier "
                                 "version); extract into another --out")
            found = handle.attrs[attribute]
            found = found.decode() if isinstance(found, bytes) else found.item() if hasattr(found, "item") else found
            if found != value:
                raise OutputError(f"{flag}={value} differs from {str(path)!r}, whose rows were made with "
                                 f"{flag} {found}; extract into another --out or pass {flag} {found}")

    def _resume(self, name, handle, tail, segments):
        """Drops rows of ``name`` past ``videos.txt``; returns the T of its rows (or ``segments``)."""
        if KEY not in handle:
            return segments
        data = handle[KEY]
        if tuple(data.shape[2:]) != tuple(tail) or data.shape[0] < len(self.videos):
            raise OutputError(f"--out={str(self.folder)!r}: {name} holds {list(data.shape)}, not the "
                             f"{len(self.videos)} rows of [T, {', '.join(map(str, tail))}] of {VIDEOS_FILE}")
        if segments is not None and data.shape[1] != segments:
            raise OutputError(f"--segments={segments} is invalid: {str(self.folder / name)!r} holds rows of "
                             f"T={data.shape[1]} segments")
        data.resize(len(self.videos), axis=0)  # rows of an interrupted append
        return data.shape[1]

    def __contains__(self, path):
        return str(pathlib.Path(path).resolve()) in self._written

    def _dataset(self, name):
        if not self._files:  # the first row of a new folder: create the files now
            known = len(self.videos)
            self.videos = self._read_videos()
            if len(self.videos) != known:
                raise OutputError(f"--out={str(self.folder)!r} changed while this command ran (another extract "
                                 "into the same --out?); run it again to resume")
            self._open()
        handle, tail = self._files[name]
        if KEY not in handle:
            handle.create_dataset(KEY, shape=(0, self.segments, *tail), maxshape=(None, self.segments, *tail),
                                  dtype="float32", chunks=(1, self.segments, *tail))
        return handle[KEY]

    def append(self, path, audio, visual):
        """Writes one video's [T_v, 128] and [T_v, 7, 7, 512] features as the next row: its first T
        segments (T = ``segments``, by default the first video's T_v); a video shorter than T raises."""
        if self.segments is None:
            self.segments = len(audio)
        if len(audio) < self.segments:
            raise ValueError(f"{str(path)!r}: {len(audio)} whole seconds, the rows of {str(self.folder)!r} "
                             f"hold T={self.segments} (--segments)")
        audio, visual = audio[:self.segments], visual[:self.segments]
        row = len(self.videos)
        for name, values in ((AUDIO_FILE, audio), (VISUAL_FILE, visual)):
            data = self._dataset(name)
            data.resize(row + 1, axis=0)
            data[row] = np.asarray(values, np.float32)
            self._files[name][0].flush()
        self.videos.append(str(pathlib.Path(path).resolve()))
        self._written.add(self.videos[-1])
        with (self.folder / VIDEOS_FILE).open("a", encoding="utf-8") as out:
            out.write(self.videos[-1] + "\n")
        return row

    def close(self):
        for handle, _ in self._files.values():
            handle.close()
        self._files = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
