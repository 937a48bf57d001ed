"""The read side of an index: what search sees of it.

A question needs the nearest passages by vector, the best by BM25, how common its terms are, and
the stored rows of the candidates. `Reader` is that interface; `LocalReader` answers it from this
folder's SQLite store and the FAISS and BM25 indexes derived from it (qa/derived.py). Another
backend (shards on several machines) implements the same few methods; search does not change.
"""
from __future__ import annotations

import threading
from typing import Callable, Protocol

import numpy as np

from qa.catalog import Catalog, Scope, Selection
from qa.derived import DerivedIndexes
from qa.store import ScoringRow, Store


class Reader(Protocol):
    """`within` is a Selection's mask (qa/catalog.py): bool by passage id, the passages a question may
    see; None for all. Each method answers as if the passages outside it were not indexed."""

    catalog: Catalog  # the documents' collections, metadata and cards (filters, routing)

    def refresh(self) -> int:
        """Follow the latest writes; the number of passages searchable."""

    def select(self, scope: Scope) -> Selection:
        """The passages a scope keeps (its collection, filtered)."""

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k nearest passages to the query vector: (passage id, cosine), best first."""

    def bm25(self, stems: list[str], k: int, within: np.ndarray | None = None,
             whole_index: bool = False) -> list[tuple[int, float]]:
        """The k best passages by BM25 for any of the stemmed terms: (passage id, score), best first.
        `whole_index`: scored with the whole index's statistics (IDF, average length), not `within`'s."""

    def document_frequencies(self, stems: list[str], within: np.ndarray | None = None) -> tuple[dict[str, int], int]:
        """Passages holding each stemmed term, and the number of passages (global, not per shard)."""

    def scoring_rows(self, ids: list[int]) -> list[ScoringRow]:
        """The candidates' stored rows (text, vectors, citation fields), in no particular order."""

    def passages_on_pages(self, numbers: list[int]) -> list[int]:
        """Ids of the passages on these pages (by the viewer's count or the page's own number)."""

    def word_states(self, ids: list[int]) -> dict[int, bytes]:
        """The packed content-word states of these passages (qa/maxsim.py), by id, for re-ranking."""


class LocalReader:
    """The embedded backend's read side."""

    def __init__(self, store: Store, derived: DerivedIndexes, dimension: Callable[[], int]):
        self.store = store
        self.derived = derived
        self._dimension = dimension
        self.catalog = Catalog(store)
        self._seen = threading.local()  # .generation: of the indexes at this thread's last refresh

    def refresh(self) -> int:
        vectors, _ = self.derived.refresh()
        self._seen.generation = self.derived.generation  # what this thread's question searches
        return len(vectors)

    def select(self, scope: Scope) -> Selection:
        return self.catalog.select(scope)

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self.derived.search(query, k, within)

    def bm25(self, stems: list[str], k: int, within: np.ndarray | None = None,
             whole_index: bool = False) -> list[tuple[int, float]]:
        return self.derived.bm25(stems, k, within, whole_index)

    def document_frequencies(self, stems: list[str], within: np.ndarray | None = None) -> tuple[dict[str, int], int]:
        return self.derived.document_frequencies(stems, within)

    def scoring_rows(self, ids: list[int]) -> list[ScoringRow]:
        """From the passage arrays (qa/passage_arrays.py), and the store for passages written since
        they were saved; by ascending id, as the store's query returns them (a tie keeps that order)."""
        found, rest = self.derived.arrays.rows(ids, self.catalog.document_fields)
        if found and self.store.generation != getattr(self._seen, "generation", -1):
            # A write landed since this question's refresh: a passage it removed may still be among
            # the candidates (FAISS and BM25 answered before it); the store's query would drop it.
            present = set(self.store.existing_passages([row.id for row in found]))
            found = [row for row in found if row.id in present]
        if rest:
            found += self.store.scoring_rows(rest, self._dimension(), self.catalog.document_fields)
        return sorted(found, key=lambda row: row.id)

    def passages_on_pages(self, numbers: list[int]) -> list[int]:
        return self.store.passages_on_pages(numbers)

    def word_states(self, ids: list[int]) -> dict[int, bytes]:
        return self.store.word_states(ids)
