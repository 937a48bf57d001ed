"""An index folder, as the rest of qa uses it: a small facade over the parts that do the work.

    qa/folder.py     the folder's files and meta.json
    qa/store.py      SQLite, the source of truth
    qa/embedding.py  the model (one embedder a process, loaded on first use)
    qa/policy.py     how documents become passages (the chunking settings)
    qa/reader.py     the read side search sees (FAISS, BM25, stored rows)
    qa/writer.py     the write side: documents in and out, each write returning its Change
    qa/derived.py    FAISS and BM25 kept in step with the store: loaded, caught up, saved in the background
    qa/history.py    the conversations beside it, which forget a document when it is removed
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from qa.chunking import Passage
from qa.derived import DerivedIndexes
from qa.documents import Document
from qa import settings
from qa.embedding import Embedder, load_embedder, model_name
from qa.errors import IndexNotBuilt, ModelMismatch
from qa.files import writer_lock
from qa.folder import DATABASE, LEXICAL, META, VECTORS, IndexFolder  # noqa: F401 - names the tests use
from qa.history import ConversationStore
from qa.lexical import LexicalIndex
from qa.policy import CHUNKING, ChunkingPolicy  # noqa: F401
from qa.previews import Previews
from qa.reader import LocalReader
from qa.store import Change, Store
from qa.vectors import VectorIndex
from qa.writer import LocalWriter


class Index:
    def __init__(self, folder: str | Path, model_path: str | None = None, create: bool = False,
                 backend: str | None = None, index_type: str | None = None):
        self.folder = Path(folder)
        self.files = IndexFolder(self.folder)
        configured = settings.load()  # QA_BACKEND, QA_INDEX_TYPE where not given here
        self.backend = backend or configured.backend
        new = not self.files.database.is_file()
        if not create and new:
            raise IndexNotBuilt(str(folder))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.files.database)
        if new:
            self.files.forget_derived()
        self.model_path = model_path
        self.model = model_name(model_path)
        recorded = self.store.get_meta("model")
        if recorded and recorded != self.model:
            raise ModelMismatch(
                f"The index at {self.folder} was built with the model {recorded!r}; it cannot be queried with "
                f"{self.model!r}. Use the same model (--model / QA_MODEL) or ingest into a new --index folder."
            )
        self._model_recorded = False
        self._dimension: int | None = None
        self.policy = ChunkingPolicy()
        self.previews = Previews(self.folder)
        lock = writer_lock(self.folder)
        self.derived = DerivedIndexes(self.store, self.files, lambda: self.dimension, lock,
                                      model=lambda: self.store.get_meta("model"),
                                      index_type=index_type or configured.index_type)
        self.reader = LocalReader(self.store, self.derived, lambda: self.dimension)
        self.writer = LocalWriter(self.folder, self.store, self.derived, self.previews, lock)
        self._conversations: ConversationStore | None = None  # opened to forget removed documents

    # -- the model --------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        embedder = load_embedder(self.model_path, self.backend)
        if not self._model_recorded:  # checked once, not on every question
            if self.store.get_meta("model") is None:
                self.store.set_meta({"model": self.model, "dimension": str(embedder.dimension)})
                self.files.write_meta(self.model, embedder.dimension)
            self._model_recorded = True
        return embedder

    @property
    def dimension(self) -> int:
        if self._dimension is None:  # recorded once with the model, then fixed: read it once
            recorded = self.store.get_meta("dimension")
            self._dimension = int(recorded) if recorded else self.embedder.dimension
        return self._dimension

    # -- chunking (qa/policy.py) --------------------------------------------------------------------

    def embedding_text(self, document: Document, text: str, context: str = "") -> str:
        return self.policy.embedding_text(document.label, context, text)

    def chunk(self, document: Document) -> list[Passage]:
        return self.policy.chunk(document, self.embedder)

    @property
    def chunking_changed(self) -> bool:
        return self.store.get_meta("chunking") != self.policy.fingerprint

    def record_chunking(self) -> None:
        self.store.set_meta({"chunking": self.policy.fingerprint})

    # -- reads (qa/reader.py) ---------------------------------------------------------------------

    def refresh(self) -> tuple[VectorIndex, LexicalIndex]:
        """FAISS and BM25 in step with SQLite (loaded, or caught up with another process's writes)."""
        return self.derived.refresh()

    @property
    def vectors(self) -> VectorIndex:
        return self.refresh()[0]

    @property
    def lexical(self) -> LexicalIndex:
        return self.refresh()[1]

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self.reader.search(query, k, within)

    def bm25(self, stems: list[str], k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self.reader.bm25(stems, k, within)

    def document_frequencies(self, stems: list[str], within: np.ndarray | None = None) -> tuple[dict[str, int], int]:
        return self.reader.document_frequencies(stems, within)

    # -- writes (qa/writer.py) --------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The folder's writer lock (other processes' writers wait), then this process's changer lock."""
        with self.writer.writing():
            yield

    def replace_document(self, document: Document, passages: list[Passage], vectors: np.ndarray,
                         sentence_vectors: list[np.ndarray], word_states: list[bytes] | None = None) -> Change:
        return self.writer.replace_document(document, passages, vectors, sentence_vectors, word_states)

    def remove_document(self, document_id: str) -> Change:
        """Remove a document, and its passages from every conversation that quoted them (qa/history.py)."""
        change = self.writer.remove_document(document_id)
        if self._conversations is None and self.files.conversations.is_file():
            self._conversations = ConversationStore(self.files.conversations)
        if self._conversations is not None:
            self._conversations.forget_document(document_id)
        return change

    def apply(self, change: Change) -> None:
        """Follow a write made to the store directly."""
        self.derived.apply(change)

    def save_vectors(self) -> None:
        """Write the derived files (FAISS and BM25) now, so the next start loads them as they are.
        Writes save them in the background anyway; an ingest calls this at its end."""
        self.writer.save()

    def vectors_file(self, generation: int) -> Path:
        return self.files.vectors_file(generation)

    def close(self) -> None:
        """Save what a write left unsaved, then close this thread's database connection."""
        self.derived.saver.flush()
        self.store.close()
