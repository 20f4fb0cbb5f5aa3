"""Whole-or-nothing file writes and file locks, shared by every tool that writes results.

``replacing(path)`` gives a temporary path beside ``path`` and renames it over ``path`` only when the block
finishes: a reader never sees a half-written file and a failure leaves the earlier file as it was.
``locked`` waits for an exclusive lock (shared caches); ``lock_folder`` claims a folder for one process
and refuses at once when another holds it (run folders).
"""

import contextlib
import errno
import fcntl
import json
import os
import pathlib


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary path beside ``path``; renamed to ``path`` when the block succeeds, removed if not."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
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
