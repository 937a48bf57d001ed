"""The write side of an index: documents in and out, each write returning the Change it made.

`Writer` is the interface ingest and the API use; `LocalWriter` writes this folder: the folder's
writer lock (other processes' writers wait), the SQLite transaction, then the in-memory FAISS and
BM25 follow the Change (qa/derived.py). The files derived from the store are saved later, in the
background: a write costs what it changed, not a rewrite of the index files.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
from filelock import FileLock

from qa.chunking import Passage
from qa.derived import DerivedIndexes
from qa.documents import Document
from qa.errors import ReadOnlyIndex
from qa.previews import Previews
from qa.store import Change, Store

ARRAYS_WAIT = 300.0  # seconds a save after an ingest waits for another process writing the passage arrays


class Writer(Protocol):
    def replace_document(self, document: Document, passages: list[Passage], vectors: np.ndarray,
                         sentence_vectors: list[np.ndarray], word_states: list[bytes] | None = None) -> Change:
        """Store a document with its passages and vectors, replacing one with the same origin and source."""

    def remove_document(self, document_id: str) -> Change:
        """Delete a document and its passages (an unknown id removes nothing)."""


class LocalWriter:
    def __init__(self, folder: Path, store: Store, derived: DerivedIndexes, previews: Previews, lock: FileLock):
        self.folder = folder
        self.store = store
        self.derived = derived
        self.previews = previews
        self.lock = lock

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The folder's writer lock; other processes' writers wait for it, questions never do."""
        try:
            self.lock.acquire()
        except OSError as error:
            raise ReadOnlyIndex(f"The index at {self.folder} cannot be written ({error}). "
                                f"Make the folder writable, or ask questions only.") from error
        try:
            yield
        finally:
            self.lock.release()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The writer lock, then this process's one changer at a time (never the question lock)."""
        with self.locked(), self.derived.mutating:
            yield

    def replace_document(self, document: Document, passages: list[Passage], vectors: np.ndarray,
                         sentence_vectors: list[np.ndarray], word_states: list[bytes] | None = None) -> Change:
        """Commit, then the in-memory indexes follow. A question arriving in between sees the store
        ahead and waits for the follow (a few milliseconds), so it never answers from older passages.
        The original file is written once the row has committed: a write refused by the store (a
        conflict, 409) leaves every file on disk as it was."""
        with self.locked():
            with self.derived.mutating:
                self.derived.prepare()
                change = self.store.replace_document(document, passages, vectors, sentence_vectors, word_states)
                self.derived.apply(change)
            self.previews.keep(document)
            return change

    def remove_document(self, document_id: str) -> Change:
        with self.locked():
            with self.derived.mutating:
                self.derived.prepare()
                change = self.store.remove_document(document_id)
                self.derived.apply(change)
            self.previews.forget(document_id)
            return change

    def save(self) -> None:
        """Write the derived files now (after an ingest; the CLI before it exits)."""
        with self.locked():
            self.derived.save()
        self.derived.save_arrays(wait=ARRAYS_WAIT)
