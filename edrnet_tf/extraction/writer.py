"""Appending extracted videos to AVE-layout ``.h5`` files, resumably and one whole row at a time.

An output folder holds ``audio_feature.h5`` ([M, T, 128]) and ``visual_feature.h5`` ([M, T, 7, 7, 512]),
float32 under the key ``avadataset`` as in the AVE release, and ``videos.txt``, whose line i is the file of
row i. A row is committed by its ``videos.txt`` line, written last: rows of the ``.h5`` files past the
last line (an interrupted append) are dropped when the folder is opened again, so a video is either
wholly in all three files or in none. All rows have the same T: longer videos keep their first T seconds.
"""

import pathlib

import h5py
import numpy as np

from edrnet_tf import ave

KEY = "avadataset"
AUDIO_FILE, VISUAL_FILE, VIDEOS_FILE = "audio_feature.h5", "visual_feature.h5", "videos.txt"


class FeatureWriter:
    """Rows of T segments each (``segments``, or the T of rows already in ``folder``)."""

    def __init__(self, folder, segments=None):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        videos = self.folder / VIDEOS_FILE
        self.videos = videos.read_text().splitlines() if videos.exists() else []
        self._written = set(self.videos)
        self._files = {}
        try:
            for name, tail in ((AUDIO_FILE, (ave.AUDIO_DIM,)), (VISUAL_FILE, ave.VISUAL_SHAPE)):
                handle = h5py.File(self.folder / name, "a")
                self._files[name] = (handle, tail)
                segments = self._resume(name, handle, tail, segments)
        except BaseException:
            self.close()
            raise
        self.segments = segments

    def _resume(self, name, handle, tail, segments):
        """Drops rows of ``name`` past ``videos.txt``; returns the T of its rows (or ``segments``)."""
        if KEY not in handle:
            return segments
        data = handle[KEY]
        if tuple(data.shape[2:]) != tuple(tail) or data.shape[0] < len(self.videos):
            raise ValueError(f"--out={str(self.folder)!r}: {name} holds {list(data.shape)}, not the "
                             f"{len(self.videos)} rows of [T, {', '.join(map(str, tail))}] of {VIDEOS_FILE}")
        if segments is not None and data.shape[1] != segments:
            raise ValueError(f"--segments={segments} is invalid: {str(self.folder / name)!r} holds rows of "
                             f"T={data.shape[1]} segments")
        data.resize(len(self.videos), axis=0)  # rows of an interrupted append
        return data.shape[1]

    def __contains__(self, path):
        return str(pathlib.Path(path).resolve()) in self._written

    def _dataset(self, name):
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
        with (self.folder / VIDEOS_FILE).open("a") as out:
            out.write(self.videos[-1] + "\n")
        return row

    def close(self):
        for handle, _ in self._files.values():
            handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
