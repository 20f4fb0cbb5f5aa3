"""Whole-or-nothing file writes, the output-path rule and file locks, shared by every tool that writes results.

``replacing(path)`` gives a temporary path beside ``path`` and renames it over ``path`` only when the block
finishes: a reader never sees a half-written file and a failure leaves the earlier file as it was (and a
replaced file keeps its permissions). ``check_output`` is the rule every command applies to its output paths
before any work: the path can be written, and what is there already is replaced only when edrnet_tf wrote it
(one of the ``Output`` kinds below recognises it) or the user passed ``--overwrite``. ``locked`` waits for an
exclusive lock (shared caches); ``lock_folder`` claims a folder for one process and refuses at once when
another holds it (run folders).
"""

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import pathlib
import stat
import tempfile


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary path beside ``path``; renamed to ``path`` when the block succeeds, removed if not."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        with contextlib.suppress(OSError):  # a replaced file keeps its mode; a new one has the umask's
            os.chmod(partial, stat.S_IMODE(path.stat().st_mode))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path, text):
    """Writes ``text`` to ``path`` whole or not at all."""
    with replacing(path) as partial:
        partial.write_text(text)


def write_json(path, value):
    """Writes ``value`` as indented JSON to ``path`` whole or not at all."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def read_json(path, expected):
    """The JSON value of the file ``path``; raises one line naming it (``path: expected <expected>, found ...``)
    when it is unreadable, not UTF-8 or not JSON."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: expected {expected}, found {type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}") from None


# --- The output-path rule -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Output:
    """A kind of output edrnet_tf writes: ``what`` it is (for messages), whether it is a ``folder`` and
    ``recognise(path)``, true when the existing file or folder at ``path`` is one edrnet_tf wrote."""

    what: str
    folder: bool
    recognise: object


def _json_value(path):
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def json_with(*keys):
    """Recognises a JSON object holding every key of ``keys`` (what a writer of that dict leaves)."""
    def recognise(path):
        value = _json_value(path)
        return isinstance(value, dict) and all(key in value for key in keys)
    return recognise


def json_lines_with(*keys):
    """Recognises JSON lines, each an object holding every key of ``keys``."""
    def recognise(path):
        try:
            lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
            values = [json.loads(line) for line in lines]
        except (OSError, ValueError):
            return False
        return bool(values) and all(isinstance(v, dict) and all(key in v for key in keys) for v in values)
    return recognise


def text_starting_with(*prefixes):
    """Recognises UTF-8 text whose first line starts with one of ``prefixes``."""
    def recognise(path):
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.readline().startswith(prefixes)
        except (OSError, ValueError):
            return False
    return recognise


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_SOURCE = "edrnet_tf"  # the PNG text chunk ``Source`` of every PNG edrnet_tf writes (``png_metadata``)


def png_metadata():
    """The ``metadata`` of matplotlib's ``savefig`` for a PNG that ``written_png`` recognises."""
    return {"Source": PNG_SOURCE}


def written_png(path):
    """Recognises a PNG holding the text chunk ``Source: edrnet_tf`` (text chunks precede the image data)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    return head.startswith(PNG_SIGNATURE) and b"tEXtSource\x00" + PNG_SOURCE.encode() in head


SAVED_MODEL_ENTRIES = {"saved_model.pb", "variables", "assets", "fingerprint.pb"}


def saved_model_folder(path):
    """Recognises a SavedModel folder as ``serving.export`` writes it: ``saved_model.pb`` and nothing but
    TensorFlow's own entries beside it."""
    names = {entry.name for entry in pathlib.Path(path).iterdir()}
    return "saved_model.pb" in names and names <= SAVED_MODEL_ENTRIES


# What each command writes, and how it is recognised before it is replaced.
FIGURES_JSON = Output("a path for the figures JSON", False, json_with("test", "headline"))  # evaluate, metrics.json
COMPARISON_JSON = Output("a path for the comparison JSON", False, json_with("run_a", "run_b", "per_class"))
COMPARISON_MARKDOWN = Output("a path for the comparison Markdown", False, text_starting_with("A = `"))
BASELINES_JSON = Output("a path for the baselines JSON", False, json_with("baselines", "videos", "seed"))
PREDICTIONS = Output("a path for the JSON lines", False, json_lines_with("row", "labels"))
CAM_PNG = Output("a path for the PNG", False, written_png)
SAVED_MODEL = Output("a path for the SavedModel", True, saved_model_folder)
EVENT_REPORT_MARK = "<!-- edrnet_tf event report -->"  # the first line of every event report page
EVENT_REPORT = Output("an HTML file path for the event report", False, text_starting_with(EVENT_REPORT_MARK))
TABLE_JSON = Output("a path for the table JSON", False, json_with("table", "rows"))
TABLE_MARKDOWN = Output("a path for the table Markdown", False, text_starting_with("Table 3:", "Table 4:"))


def _empty(path):
    """An empty file or folder: nothing to lose by replacing it."""
    return not any(path.iterdir()) if path.is_dir() else path.stat().st_size == 0


def _writable_folder(folder):
    """None when a file can be created in ``folder``, else the reason (``strerror``)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def check_output(path, flag, kind, overwrite=False, overwrite_flag="--overwrite"):
    """Raises one line (``ValueError``) naming ``flag`` and ``path`` unless ``kind`` can be written there:
    ``path`` lies in an existing folder this process can write to, and holds nothing, an empty file or folder,
    or an output of ``kind`` that edrnet_tf wrote (``kind.recognise``); anything else there (a user's file or
    folder, the other of file and folder, a device or FIFO) is refused, a file or folder of the right type
    replaced only with ``overwrite`` (``overwrite_flag`` names its flag in the message; None: it has none)."""
    path = pathlib.Path(path)
    invalid = f"{flag}={str(path)!r} is invalid: expected {kind.what}"
    if not path.parent.is_dir():
        raise ValueError(f"{invalid} in an existing folder, found no folder {str(path.parent)!r}")
    reason = _writable_folder(path.parent)
    if reason is not None:
        raise ValueError(f"{invalid} in a folder this user can write to, found {str(path.parent)!r} not writable "
                         f"({reason})")
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_dir() != kind.folder or not (path.is_dir() or path.is_file()):
        found = "a folder" if path.is_dir() else "a file" if path.is_file() else "something that is no regular file"
        raise ValueError(f"{invalid} ({'a folder' if kind.folder else 'a file'}), found {found} there")
    if overwrite or _empty(path) or kind.recognise(path):
        return
    hint = f"pass {overwrite_flag} to replace it" if overwrite_flag else "remove it"
    raise ValueError(f"{invalid}, found a {'folder' if kind.folder else 'file'} there that edrnet_tf did not write "
                     f"({hint}, or choose another path)")


@contextlib.contextmanager
def locked(path):
    """Holds an exclusive lock on the lock file ``path`` (created if absent), waiting for other holders."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class FolderInUseError(ValueError):
    """Another process holds the folder's lock."""


@contextlib.contextmanager
def lock_folder(folder, flag="--output"):
    """Holds an exclusive lock on the existing folder ``folder`` itself (no lock file is written); raises
    ``FolderInUseError`` naming ``flag`` when another process holds it. Released when the process ends."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise FolderInUseError(f"{flag}='{folder}' is invalid: expected a folder no other run is using, found "
                                   "it locked by a run in progress") from None
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock
