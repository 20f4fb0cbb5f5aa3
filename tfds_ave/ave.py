"""Facts of the AVE dataset: shapes, class list, split sizes and the ``Annotations.txt`` line format.

The builder owns them; ``edrnet_tf.ave`` re-exports them for the data pipelines, the model and the reports.
The annotation and split files under ``tfds_ave/ave_meta/`` are the AVE authors' own (Tian et al.,
ECCV 2018); ``ave_meta/SOURCE.md`` says where they were copied from. Nothing here imports TensorFlow,
TFDS or Keras.
"""

import dataclasses
import functools
import pathlib

__all__ = [
    "ANNOTATIONS", "ANNOTATION_HEADER", "AUDIO_DIM", "Annotation", "BACKGROUND", "META_DIR", "NUM_CLASSES", "NUM_EVENTS",
    "NUM_NOISY", "NUM_VIDEOS", "N_SEGMENTS", "SPLIT_SIZES", "VISUAL_SHAPE", "class_names", "event_names",
    "parse_annotation_line", "read_annotations",
]

META_DIR = pathlib.Path(__file__).resolve().parent / "ave_meta"

N_SEGMENTS = 10  # one-second segments per AVE video
AUDIO_DIM = 128  # VGGish embedding
VISUAL_SHAPE = (7, 7, 512)  # VGG-19 pool5 map
NUM_EVENTS = 28
BACKGROUND = 28  # index of the background class
NUM_CLASSES = NUM_EVENTS + 1
SPLIT_SIZES = {"train": 3339, "validation": 402, "test": 402}
NUM_VIDEOS = 4143
NUM_NOISY = 178  # background-only videos of the weakly supervised protocol
ANNOTATIONS = "Annotations.txt"  # the annotation file of the AVE release
ANNOTATION_HEADER = "Category&VideoID&Quality&StartTime&EndTime"


@functools.lru_cache(maxsize=None)
def event_names():
    """The 28 event class names, index order = ``categories.txt`` order."""
    names = (META_DIR / "categories.txt").read_text().splitlines()
    return tuple(n for n in names if n)


def class_names():
    """The 29 class names of the segment labels: 28 events then ``Background``."""
    return event_names() + ("Background",)


@dataclasses.dataclass(frozen=True)
class Annotation:
    """One row of ``Annotations.txt``: an event ``category`` from ``start`` to ``end`` s (exclusive)."""

    category: str
    video_id: str
    quality: str
    start: int
    end: int

    @property
    def label(self):
        return event_names().index(self.category)


def parse_annotation_line(line, source=ANNOTATIONS, line_number=None):
    """Parses ``Category&VideoID&Quality&StartTime&EndTime``; a bad line raises one clear ValueError."""
    where = f"{source}" + (f" line {line_number}" if line_number is not None else "")
    parts = line.rstrip("\n").split("&")
    if len(parts) != 5:
        raise ValueError(f"{where}: expected 5 '&'-separated fields ({ANNOTATION_HEADER}), "
                         f"found {len(parts)}: {line!r}")
    category, video_id, quality, start, end = parts
    if category not in event_names():
        raise ValueError(f"{where}: unknown AVE class {category!r}; expected one of categories.txt")
    try:
        start_s, end_s = int(start), int(end)
    except ValueError:
        raise ValueError(f"{where}: start and end must be whole seconds, found {start!r} and {end!r}") from None
    if not 0 <= start_s <= end_s <= N_SEGMENTS:
        raise ValueError(f"{where}: expected 0 <= start <= end <= {N_SEGMENTS}, found {start_s} and {end_s}")
    return Annotation(category, video_id, quality, start_s, end_s)


def read_annotations(path=META_DIR / ANNOTATIONS, header=True):
    """Reads an ``Annotations.txt``-style file (``header=False`` for the split files)."""
    path = pathlib.Path(path)
    lines = path.read_text(encoding="utf-8-sig").splitlines()  # a leading byte-order mark is dropped
    if header:
        if not lines or lines[0].strip() != ANNOTATION_HEADER:
            raise ValueError(f"{path}: expected the header line {ANNOTATION_HEADER!r}")
        lines = lines[1:]
    first = 2 if header else 1
    return [parse_annotation_line(l, path.name, i + first) for i, l in enumerate(lines) if l.strip()]
