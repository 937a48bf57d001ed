"""The read side of an index: what search sees of it.

A question needs the nearest passages by vector, the best by BM25, how common its terms are, and
the stored rows of the candidates. `Reader` is that interface; `LocalReader` answers it from this
folder's SQLite store and the FAISS and BM25 indexes derived from it (qa/derived.py). Another
backend (shards on several machines) implements the same few methods; search does not change.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from qa.derived import DerivedIndexes
from qa.store import ScoringRow, Store


class Reader(Protocol):
    def refresh(self) -> int:
        """Follow the latest writes; the number of passages searchable."""

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest passages to the query vector: (passage id, cosine), best first."""

    def bm25(self, stems: list[str], k: int) -> list[tuple[int, float]]:
        """The k best passages by BM25 for any of the stemmed terms: (passage id, score), best first."""

    def document_frequencies(self, stems: list[str]) -> tuple[dict[str, int], int]:
        """Passages holding each stemmed term, and the number of passages (global, not per shard)."""

    def scoring_rows(self, ids: list[int]) -> list[ScoringRow]:
        """The candidates' stored rows (text, vectors, citation fields), in no particular order."""


class LocalReader:
    """The embedded backend's read side."""

    def __init__(self, store: Store, derived: DerivedIndexes, dimension: Callable[[], int]):
        self.store = store
        self.derived = derived
        self._dimension = dimension

    def refresh(self) -> int:
        return len(self.derived.refresh()[0])

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.derived.search(query, k)

    def bm25(self, stems: list[str], k: int) -> list[tuple[int, float]]:
        return self.derived.bm25(stems, k)

    def document_frequencies(self, stems: list[str]) -> tuple[dict[str, int], int]:
        return self.derived.document_frequencies(stems)

    def scoring_rows(self, ids: list[int]) -> list[ScoringRow]:
        return self.store.scoring_rows(ids, self._dimension())
