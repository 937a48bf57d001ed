"""Files in the index folder: every write is atomic, and writers take one lock across processes.

A server and a `qa ingest` may share a folder. Each file is written to a temporary file beside it,
flushed to disk and renamed over the old one, so a reader (or a crash) sees the old file or the new
one, never half of one. Writers to the folder (ingest, upload, delete, saving the derived files)
take WRITER_LOCK (filelock: an OS lock, released if the process dies).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from filelock import FileLock

WRITER_LOCK = "write.lock"


def write_atomically(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Write `data` (bytes, or a function writing to a binary file) to a temporary file beside
    `path`, fsync it, rename it over `path`, then fsync the folder so the rename itself is durable.

    Example: write_atomically(folder / "meta.json", json.dumps(meta).encode())
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            if callable(data):
                data(file)
            else:
                file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so renames and deletions in it survive a power cut (where the OS allows it)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def writer_lock(folder: Path) -> FileLock:
    """The folder's writer lock. Reentrant within a thread; another thread or process waits.
    Raises PermissionError on acquiring it in a folder that cannot be written."""
    return FileLock(Path(folder) / WRITER_LOCK, thread_local=True)
