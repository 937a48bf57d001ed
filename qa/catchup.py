"""What a derived index lacks: the difference between its passage ids and the store's, and the
stored rows that fill it.

Passage ids are AUTOINCREMENT: never reused, and a replaced document's passages get new ids. So the
id sets alone tell every change since a derived index was built: ids it holds that the store lost
were removed, ids the store has that it lacks were added.

Example: a file holds {1, 2, 3}; since then document A (passages 2, 3) was replaced by passages
4, 5 -> removed [2, 3], added [4, 5].
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import numpy as np

from qa.store import LABEL, heading

BATCH = 10_000  # ids per IN (...) query


def stored_ids(db: sqlite3.Connection, after: int = 0) -> np.ndarray:
    """The store's passage ids above `after`, ascending."""
    cursor = db.execute("SELECT id FROM passages WHERE id > ? ORDER BY id", (after,))
    return np.fromiter((row[0] for row in cursor), dtype=np.int64)


def difference(db: sqlite3.Connection, held: np.ndarray, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(removed, added) ids between `held` and the store.

    `exact`: `held` is the store's passages at some earlier generation (an index in memory that has
    followed every write). Every id added since is then above the largest held, and the count tells
    whether any held id went, so the full id list is read only when something was removed."""
    held = np.unique(np.asarray(held, dtype=np.int64))
    if exact:
        added = stored_ids(db, int(held[-1]) if len(held) else 0)
        (count,) = db.execute("SELECT COUNT(*) FROM passages").fetchone()
        if count == len(held) + len(added):
            return np.zeros(0, dtype=np.int64), added
    stored = stored_ids(db)
    return np.setdiff1d(held, stored, assume_unique=True), np.setdiff1d(stored, held, assume_unique=True)


def batches(ids: np.ndarray) -> Iterator[list[int]]:
    for first in range(0, len(ids), BATCH):
        yield [int(i) for i in ids[first:first + BATCH]]


def stored_vectors(db: sqlite3.Connection, ids: np.ndarray, dimension: int) -> np.ndarray:
    """The passages' vectors, in the order of `ids`."""
    found: dict[int, bytes] = {}
    for batch in batches(ids):
        marks = ",".join("?" * len(batch))
        found.update(db.execute(f"SELECT id, vector FROM passages WHERE id IN ({marks})", batch))
    return np.frombuffer(b"".join(found[int(i)] for i in ids), dtype=np.float32).reshape(len(ids), dimension)


def stored_texts(db: sqlite3.Connection, ids: np.ndarray) -> list[tuple[str, str]]:
    """(heading, text) of each passage, in the order of `ids` (what BM25 indexes, qa/store.py heading)."""
    found: dict[int, tuple[str, str]] = {}
    for batch in batches(ids):
        marks = ",".join("?" * len(batch))
        rows = db.execute(f"SELECT p.id, {LABEL}, p.context, p.text FROM passages p JOIN documents d ON d.id = p.document_id "
                          f"WHERE p.id IN ({marks})", batch)
        found.update((row[0], (heading(row[1], row[2]), row[3])) for row in rows)
    return [found[int(i)] for i in ids]
