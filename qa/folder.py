"""The files of an index folder, and meta.json.

    embeddings/
      qa.sqlite3             documents, passages, vectors (the source of truth)
      vectors-<gen>.faiss    FAISS index over the passage vectors at generation <gen>, ids = passage ids (derived)
      lexical.npz            BM25 postings of the passages' words, and the generation they were built at (derived)
      arrays/<after>-<last>/ the rows of the passages with ids in (after, last], memory-mapped for scoring (derived,
                             qa/passage_arrays.py)
      meta.json              format version, model, dimension (for people and tools; not trusted for staleness)
      write.lock             taken by every writer, in any process (qa/files.py)
      arrays.lock            taken by the writer of the passage arrays (they need no writer lock)
      conversations.sqlite3  the API's conversations (qa/history.py)
      originals/, previews/  PDFs as given, and their rendered pages (qa/previews.py)

Each derived file carries the generation of the store it was built from in the same atomic rename
(FAISS in its file name, so it can still be memory-mapped; BM25 inside the npz): a file is always
exactly the store's passages at its generation, never a mix.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from qa.files import write_atomically

FORMAT_VERSION = 1
DATABASE = "qa.sqlite3"
VECTORS = "vectors-{generation}.faiss"
LEGACY_VECTORS = "vectors.faiss"  # before the generation was in the name: never loaded, removed on save
LEXICAL = "lexical.npz"
ARRAYS = "arrays"
ARRAYS_LOCK = "arrays.lock"
META = "meta.json"
CONVERSATIONS = "conversations.sqlite3"
VECTORS_NAME = re.compile(r"^vectors-(\d+)\.faiss$")


class IndexFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def database(self) -> Path:
        return self.path / DATABASE

    @property
    def lexical(self) -> Path:
        return self.path / LEXICAL

    @property
    def arrays(self) -> Path:
        return self.path / ARRAYS

    @property
    def conversations(self) -> Path:
        return self.path / CONVERSATIONS

    def vectors_file(self, generation: int) -> Path:
        return self.path / VECTORS.format(generation=generation)

    def vectors_files(self) -> dict[int, Path]:
        """generation -> FAISS file, for every FAISS file in the folder."""
        found = {}
        for path in self.path.glob(VECTORS.format(generation="*")):
            if match := VECTORS_NAME.match(path.name):
                found[int(match[1])] = path
        return found

    def newest_vectors(self, at_most: int) -> tuple[int, Path] | None:
        """The FAISS file of the highest generation up to `at_most` (one above it was built from
        another database that had this folder's name: never loaded)."""
        usable = {generation: path for generation, path in self.vectors_files().items() if generation <= at_most}
        return max(usable.items()) if usable else None

    def has_derived_files(self) -> bool:
        return bool(self.vectors_files()) or (self.path / LEGACY_VECTORS).is_file() or self.lexical.is_file()

    def remove_vector_files(self, keep: int | None) -> None:
        """Other FAISS files (a process mapping one keeps reading it until it lets go)."""
        for path in [*self.vectors_files().values(), self.path / LEGACY_VECTORS]:
            if keep is None or path != self.vectors_file(keep):
                path.unlink(missing_ok=True)

    def forget_derived(self) -> None:
        """A new database starts at generation 0 again: files left from an earlier one must go."""
        self.remove_vector_files(keep=None)
        self.lexical.unlink(missing_ok=True)
        shutil.rmtree(self.arrays, ignore_errors=True)

    def read_meta(self) -> dict:
        try:
            return json.loads((self.path / META).read_text())
        except (OSError, ValueError):
            return {}

    def write_meta(self, model: str | None, dimension: int) -> None:
        """Rewritten only when it changes (the model is recorded once), not on every save."""
        found = self.read_meta()
        meta = {key: value for key, value in found.items() if key not in ("generation", "passages")}
        meta.update(format=FORMAT_VERSION, model=model, dimension=dimension)
        if meta != found:
            write_atomically(self.path / META, json.dumps(meta, indent=2).encode())
