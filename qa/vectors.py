"""The FAISS index: add / remove / search / save / load, keyed by passage id.

Inner product on L2-normalised vectors, i.e. cosine similarity. Exact search (IndexFlatIP) is the
default; it is what small and medium collections want.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexCorrupt


class VectorIndex:
    def __init__(self, dimension: int, index: faiss.Index | None = None):
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: list[int] | np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int] | np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest passage ids with their cosine similarity, best first."""
        if len(self) == 0 or k <= 0:
            return []
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self, path: Path) -> None:
        """Write to a temporary file and rename, so a crash never leaves half a file behind."""
        path = Path(path)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(handle)
        try:
            faiss.write_index(self.index, temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorIndex:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as error:
            raise IndexCorrupt(f"{path}: unreadable FAISS index ({str(error).splitlines()[0]})") from error
        if index.d != dimension:
            raise IndexCorrupt(f"{path}: vectors have dimension {index.d}, the index expects {dimension}")
        return cls(dimension, index)
