"""An index folder: the SQLite store, the FAISS file derived from it, and the model it was built with.

    embeddings/
      qa.sqlite3             documents, passages, vectors (the source of truth)
      vectors-<gen>.faiss    FAISS index over the passage vectors at generation <gen>, ids = passage ids (derived)
      lexical.npz            BM25 postings of the passages' words, and the generation they were built at (derived)
      meta.json              format version, model, dimension (for people and tools; not trusted for staleness)
      write.lock             taken by every writer, in any process (qa/files.py)
      conversations.sqlite3  the API's conversations (qa/service.py)
      originals/, previews/  PDFs as given, and their rendered pages (qa/previews.py)

Each derived file carries the generation of the store it was built from in the same atomic rename
(FAISS in its file name, so it can still be memory-mapped; BM25 inside the npz): a file renamed into
place late by a writer that lost a race is never taken for the current one.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import Timeout

import numpy as np

from qa.chunking import Passage, split_passages
from qa.documents import Document
from qa.embedding import Embedder, load_embedder, model_name
from qa.errors import IndexNotBuilt, ModelMismatch, ReadOnlyIndex
from qa.files import write_atomically, writer_lock
from qa.lexical import LexicalIndex
from qa.previews import Previews
from qa.store import Change, Store
from qa.vectors import TRAINING_SAMPLE, VectorIndex, choose_type, ivf_lists

FORMAT_VERSION = 1
DATABASE = "qa.sqlite3"
VECTORS = "vectors-{generation}.faiss"
LEGACY_VECTORS = "vectors.faiss"  # before the generation was in the name: never loaded, removed on save
LEXICAL = "lexical.npz"
META = "meta.json"

# How documents become passages. Changing these re-chunks every document on the next ingest.
# Measured on the eval sets (bench/README.md): ~200-token passages, no passage of a lone title or
# heading, the title given to the model, sentence vectors pooled from the passage's token states.
CHUNKING = {"target_tokens": 198, "overlap_tokens": 48, "min_tokens": 32,
            "title_in_embedding": True, "sentence_vectors": "pooled"}

log = logging.getLogger(__name__)


class Index:
    def __init__(self, folder: str | Path, model_path: str | None = None, create: bool = False,
                 backend: str | None = None):
        self.folder = Path(folder)
        self.backend = backend or os.environ.get("QA_BACKEND") or "auto"
        new = not (self.folder / DATABASE).is_file()
        if not create and new:
            raise IndexNotBuilt(str(folder))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = writer_lock(self.folder)
        self.store = Store(self.folder / DATABASE)
        if new:  # a new database starts at generation 0 again: files left from an earlier one must go
            self._remove_vector_files(keep=None)
            (self.folder / LEXICAL).unlink(missing_ok=True)
        self.model_path = model_path
        self.model = model_name(model_path)
        recorded = self.store.get_meta("model")
        if recorded and recorded != self.model:
            raise ModelMismatch(
                f"The index at {self.folder} was built with the model {recorded!r}; it cannot be queried with "
                f"{self.model!r}. Use the same model (--model / QA_MODEL) or ingest into a new --index folder."
            )
        self._vectors: VectorIndex | None = None
        self._model_recorded = False
        self._dimension: int | None = None
        self._vectors_generation = -1
        self._lock = threading.RLock()
        self._lexical: LexicalIndex | None = None
        self._lexical_generation = -1
        self.previews = Previews(self.folder)

    # -- the model --------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        embedder = load_embedder(self.model_path, self.backend)
        if not self._model_recorded:  # checked once, not on every question
            if self.store.get_meta("model") is None:
                self.store.set_meta({"model": self.model, "dimension": str(embedder.dimension)})
                self._write_meta_file()
            self._model_recorded = True
        return embedder

    @property
    def dimension(self) -> int:
        if self._dimension is None:  # recorded once with the model, then fixed: read it once
            recorded = self.store.get_meta("dimension")
            self._dimension = int(recorded) if recorded else self.embedder.dimension
        return self._dimension

    def embedding_text(self, document: Document, text: str) -> str:
        """What the model reads for a passage: the title gives it the topic the text omits
        ("He died in 1893" is about Tchaikovsky only through the title)."""
        if CHUNKING["title_in_embedding"] and document.title and not text.startswith(document.title):
            return f"{document.title}. {text}"
        return text

    def chunk(self, document: Document) -> list[Passage]:
        embedder = self.embedder
        reserved = embedder.special_tokens
        if CHUNKING["title_in_embedding"]:
            reserved += embedder.count_tokens([document.title + ". "])[0]
        return split_passages(
            document,
            embedder.count_tokens,
            target_tokens=CHUNKING["target_tokens"],
            max_tokens=max(16, embedder.max_tokens - reserved),
            overlap_tokens=CHUNKING["overlap_tokens"],
            min_tokens=CHUNKING["min_tokens"],
        )

    @property
    def chunking_changed(self) -> bool:
        return self.store.get_meta("chunking") != json.dumps(CHUNKING, sort_keys=True)

    def record_chunking(self) -> None:
        self.store.set_meta({"chunking": json.dumps(CHUNKING, sort_keys=True)})

    # -- the derived indexes: FAISS (vectors) and BM25 (lexical) -----------------------------------

    def refresh(self) -> tuple[VectorIndex, LexicalIndex]:
        """FAISS and BM25 in step with SQLite: each loaded from its file when current, rebuilt when not.

        A question calls this once; its lookups below then use the indexes as loaded (one generation
        check a question, not one per lookup). Writes in this process keep them in step as they
        happen (apply); a write by another process is seen by the next question."""
        with self._lock:
            generation = self.store.generation
            if self._vectors is None or self._vectors_generation != generation:
                self._vectors, self._vectors_generation = self._load_or_rebuild()
            if self._lexical is None or self._lexical_generation != generation:
                self._lexical, self._lexical_generation = self._load_or_rebuild_lexical()
            return self._vectors, self._lexical

    @property
    def vectors(self) -> VectorIndex:
        return self.refresh()[0]

    @property
    def lexical(self) -> LexicalIndex:
        return self.refresh()[1]

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The folder's writer lock (other processes' writers wait), then this process's index lock.
        In that order: waiting for another process never holds up this process's questions."""
        try:
            self.writer.acquire()
        except OSError as error:
            raise ReadOnlyIndex(f"The index at {self.folder} cannot be written ({error}). "
                                f"Make the folder writable, or ask questions only.") from error
        try:
            with self._lock:
                yield
        finally:
            self.writer.release()

    def replace_document(self, document: Document, passages: list[Passage], vectors, sentence_vectors) -> Change:
        """Write a document and bring FAISS in step, with no search in between: a question never
        sees SQLite ahead of FAISS (which would make it rebuild FAISS) nor a half-updated FAISS."""
        with self.writing():
            self.previews.keep(document)  # before the row that points at it
            change = self.store.replace_document(document, passages, vectors, sentence_vectors)
            self.apply(change)
            return change

    def remove_document(self, document_id: str) -> Change:
        with self.writing():
            change = self.store.remove_document(document_id)
            self.apply(change)
            self.previews.forget(document_id)
            return change

    def search(self, query, k: int) -> list[tuple[int, float]]:
        """Nearest passages; searches wait for a write in progress (FAISS is not safe for both at once)."""
        with self._lock:
            return (self._vectors or self.vectors).search(query, k)

    def bm25(self, stems: list[str], k: int) -> list[tuple[int, float]]:
        """The k best passages by BM25 for any of the stemmed terms, best first."""
        with self._lock:
            return (self._lexical or self.lexical).search(stems, k)

    def document_frequencies(self, stems: list[str]) -> tuple[dict[str, int], int]:
        """Passages containing each stemmed term, and the number of passages."""
        with self._lock:
            lexical = self._lexical or self.lexical
            return lexical.document_frequencies(stems), len(lexical)

    def apply(self, change: Change) -> None:
        """Follow a write in memory, or drop an in-memory index if another writer got in between."""
        with self._lock:
            if self._vectors is not None and self._vectors_generation == change.generation - 1:
                self._vectors.remove(change.removed)
                self._vectors.add(change.added, change.vectors)
                self._vectors_generation = change.generation
            else:
                self._vectors = None
            if self._lexical is not None and self._lexical_generation == change.generation - 1:
                self._lexical.remove(change.removed)
                self._lexical.add(change.added, change.texts)
                self._lexical_generation = change.generation
            else:
                self._lexical = None

    def save_vectors(self) -> None:
        """Write the derived files (FAISS and BM25) for the current state, so the next start loads them."""
        with self.writing():
            vectors, lexical = self.refresh()
            self._save_derived(self._vectors_generation, self.vectors_file(self._vectors_generation),
                               lambda: self._save_vectors_file(vectors, self._vectors_generation))
            self._save_derived(self._lexical_generation, self.folder / LEXICAL,
                               lambda: lexical.save(self.folder / LEXICAL, self._lexical_generation))

    def vectors_file(self, generation: int) -> Path:
        return self.folder / VECTORS.format(generation=generation)

    def _save_vectors_file(self, vectors: VectorIndex, generation: int) -> None:
        vectors.save(self.vectors_file(generation))
        self._remove_vector_files(keep=generation)
        self._write_meta_file()

    def _remove_vector_files(self, keep: int | None) -> None:
        """Older FAISS files (a process mapping one keeps reading it until it lets go)."""
        for path in [*self.folder.glob(VECTORS.format(generation="*")), self.folder / LEGACY_VECTORS]:
            if keep is None or path != self.vectors_file(keep):
                path.unlink(missing_ok=True)

    def _save_derived(self, generation: int, path: Path, save: Callable[[], None]) -> None:
        """Save a derived file built at `generation` under the writer lock, if the store is still
        there. Not saved (kept in memory) when another process is writing (it saves its own) or the
        folder is read-only (with a warning)."""
        try:
            self.writer.acquire(timeout=0)  # immediate when this thread already holds it
        except Timeout:
            log.info("%s not saved: another process is writing to %s", path.name, self.folder)
            return
        except OSError as error:
            log.warning("could not save %s (%s): it is kept in memory only", path, error)
            return
        try:
            if self.store.generation == generation:
                save()
        except OSError as error:
            log.warning("could not save %s (%s): it is kept in memory only", path, error)
        finally:
            self.writer.release()

    def _load_or_rebuild(self) -> tuple[VectorIndex, int]:
        generation = self.store.generation
        path = self.vectors_file(generation)
        _, passages = self.store.counts()
        if path.is_file():
            try:
                vectors = VectorIndex.load(path, self.dimension)
            except Exception as error:  # a truncated or corrupt file is rebuilt, never fatal
                log.warning("%s is unreadable (%s): rebuilding it from %s", path, error, DATABASE)
            else:
                wanted = choose_type(self.index_type, passages, vectors.kind)
                if len(vectors) != passages:
                    log.warning("%s holds %d vectors, the database %d passages: rebuilding it", path, len(vectors), passages)
                elif vectors.kind != wanted:
                    log.info("%s is a %s index, %s is wanted for %d passages: rebuilding it", path, vectors.kind, wanted, passages)
                elif wanted == "ivf" and not 0.5 <= ivf_lists(passages) / vectors.index.nlist <= 2:
                    log.info("%s was trained for a collection a quarter or 4 times this size: retraining it", path)
                else:
                    return vectors, generation
        elif any(self.folder.glob(VECTORS.format(generation="*"))) or (self.folder / LEGACY_VECTORS).is_file():
            log.info("no FAISS file for generation %d of %s: rebuilding it from the stored vectors", generation, DATABASE)
        return self._rebuild()

    @property
    def index_type(self) -> str:
        """QA_INDEX_TYPE: auto (flat below FLAT_LIMIT passages, ivf above), flat or ivf."""
        return os.environ.get("QA_INDEX_TYPE") or "auto"

    def _rebuild(self) -> tuple[VectorIndex, int]:
        dimension = self.dimension
        with self.store.snapshot():
            generation = self.store.generation
            _, passages = self.store.counts()
            kind = choose_type(self.index_type, passages)
            sample = self._training_sample(dimension, passages) if kind == "ivf" else None
            vectors = VectorIndex.create(dimension, kind, passages, sample)
            del sample
            for ids, batch in self.store.all_vectors(dimension):
                vectors.add(ids, batch)
        self._save_derived(generation, self.vectors_file(generation),
                           lambda: self._save_vectors_file(vectors, generation))
        return vectors, generation

    def _training_sample(self, dimension: int, passages: int) -> np.ndarray:
        """About TRAINING_SAMPLE stored vectors picked at random, in one pass (same seed, same pick)."""
        rate, rng = min(1.0, TRAINING_SAMPLE / max(1, passages)), np.random.default_rng(0)
        parts = [batch[rng.random(len(batch)) < rate] for _, batch in self.store.all_vectors(dimension)]
        return np.concatenate(parts) if parts else np.zeros((0, dimension), np.float32)

    def _load_or_rebuild_lexical(self) -> tuple[LexicalIndex, int]:
        path = self.folder / LEXICAL
        generation = self.store.generation
        if path.is_file():
            try:
                lexical, saved_at = LexicalIndex.load(path)
            except Exception as error:  # a truncated or corrupt file is rebuilt, never fatal
                log.warning("%s is unreadable (%s): rebuilding it from %s", path, error, DATABASE)
            else:
                if saved_at == generation and len(lexical) == self.store.counts()[1]:
                    return lexical, generation
                log.info("%s is out of step with %s: rebuilding it from the stored texts", path, DATABASE)
        with self.store.snapshot():
            generation = self.store.generation
            lexical = LexicalIndex()
            for ids, texts in self.store.all_texts():
                lexical.add(ids, texts)
        self._save_derived(generation, path, lambda: lexical.save(path, generation))
        return lexical, generation

    # -- meta.json --------------------------------------------------------------------------------

    def read_meta_file(self) -> dict:
        try:
            return json.loads((self.folder / META).read_text())
        except (OSError, ValueError):
            return {}

    def _write_meta_file(self) -> None:
        """Rewritten only when it changes (the model is recorded once), not on every save."""
        found = self.read_meta_file()
        meta = {key: value for key, value in found.items() if key not in ("generation", "passages")}
        meta.update(format=FORMAT_VERSION, model=self.store.get_meta("model"),
                    dimension=int(self.store.get_meta("dimension") or 0))
        if meta != found:
            write_atomically(self.folder / META, json.dumps(meta, indent=2).encode())

    def close(self) -> None:
        self.store.close()
