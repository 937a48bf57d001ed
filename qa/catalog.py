"""Which passages a question may see: its collection and its filter, as a mask over passage ids.

The search runs inside the mask (qa/vectors.py hands it to FAISS as an IDSelector, qa/lexical.py
masks the BM25 postings with it), so a narrow filter returns up to top_k passages all inside it,
ranked as if the rest of the index did not exist. The collection is part of every mask: a question
never sees another collection's passages.

The catalog keeps the documents' metadata in memory (numpy arrays, one row a document) and the
owner of every passage id, rebuilt when the store changes (its generation, or its `metadata`
counter for tag and date edits). Building it reads two columns of every passage (about 0.1 s at
100k passages); a question that needs no mask (one collection, no filter) never builds it. Masks
of recent (collection, filter) pairs are kept, so a filter asked again costs nothing to resolve.

Example: collection "default", filter {"source": "set1/*", "type": "txt"} -> Selection(mask with
True at the ids of the passages of default's txt documents under set1/, documents=10, passages=160).
"""
from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from qa.cards import Card
from qa.routing import Directory, Route
from qa.schemas import Filter
from qa.store import Store

CACHED_SELECTIONS = 32


@dataclass
class Selection:
    """The passages a question may see. `mask` is None when that is every passage in the index."""
    mask: np.ndarray | None  # bool, indexed by passage id
    documents: int  # documents kept
    passages: int | None  # passages kept (None: all of them)

    @property
    def everything(self) -> bool:
        return self.mask is None


class Catalog:
    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._collections: dict[str, int] = {}
        self._tables: Tables | None = None
        self._selections: OrderedDict[str, Selection] = OrderedDict()

    def collections(self) -> dict[str, int]:
        """Each collection holding documents, with how many (as of the store now)."""
        self._follow()
        return self._collections

    def select(self, collection: str, filter: Filter | None = None) -> Selection:
        """The passages of `collection` that `filter` keeps."""
        self._follow()
        filter = None if filter is None or filter.empty else filter
        if filter is None and set(self._collections) <= {collection}:  # the whole index: no mask
            documents = self._collections.get(collection, 0)
            return Selection(None, documents, None)
        key = json.dumps([collection, None if filter is None else filter.model_dump(mode="json")], sort_keys=True)
        with self._lock:
            found = self._selections.get(key)
            if found is not None:
                self._selections.move_to_end(key)
                return found
            if self._tables is None:
                self._tables = Tables(self.store)
            tables = self._tables
        found = tables.select(collection, filter)
        with self._lock:
            if tables is self._tables:
                self._selections[key] = found
                while len(self._selections) > CACHED_SELECTIONS:
                    self._selections.popitem(last=False)
        return found

    def route(self, collection: str, filter: Filter | None, question: str) -> tuple[Route, np.ndarray | None, str | None]:
        """The documents of the selection that the question names by their cards (qa/routing.py):
        the route, its passages as a mask (None: no route), and a company the question names that
        issued none of them (the reason, else None)."""
        self._follow()
        with self._lock:
            if self._tables is None:
                self._tables = Tables(self.store)
            tables = self._tables
        allowed = tables.kept(collection, None if filter is None or filter.empty else filter)
        route = tables.directory.route(question, allowed)
        stranger = tables.directory.organisations_missing(question, route, allowed)
        return route, tables.passages_of(route.documents) if route.documents else None, stranger

    def _follow(self) -> None:
        version = self.store.catalog_version()
        if version != self._version:
            collections = self.store.collections()
            with self._lock:
                self._version, self._collections, self._tables = version, collections, None
                self._selections.clear()


class Tables:
    """The documents' metadata as arrays, and each passage id's document (-1: none)."""

    def __init__(self, store: Store):
        rows, passages, owners = store.catalog_rows()
        self._cards = [row[7] for row in rows]
        self._directory: Directory | None = None
        self.ids = [row[1] for row in rows]
        self.position = {document_id: i for i, document_id in enumerate(self.ids)}
        self.collections = np.array([row[2] for row in rows], dtype=object)
        self.sources = [row[3] for row in rows]
        self.types = np.array([row[4] for row in rows], dtype=object)
        self.dates = np.array([row[6] or "" for row in rows], dtype="<U10")
        self.by_tag: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            for tag in json.loads(row[5]):
                self.by_tag.setdefault(tag, []).append(i)
        by_rowid = np.full(max((row[0] for row in rows), default=0) + 1, -1, dtype=np.int64)
        by_rowid[[row[0] for row in rows]] = np.arange(len(rows))
        self.owner = np.full(int(passages.max(initial=0)) + 1, -1, dtype=np.int64)
        self.owner[passages] = by_rowid[owners]

    @property
    def directory(self) -> Directory:
        """The documents' cards, indexed for routing (parsed on first use)."""
        if self._directory is None:
            self._directory = Directory([Card.from_json(json.loads(card)) for card in self._cards])
        return self._directory

    def kept(self, collection: str, filter: Filter | None) -> np.ndarray:
        """The documents (bool by row) of the collection that the filter keeps."""
        keep = self.collections == collection
        if filter is not None:
            keep &= self.matching(filter)
        return keep

    def select(self, collection: str, filter: Filter | None) -> Selection:
        keep = self.kept(collection, filter)
        mask = np.append(keep, False)[self.owner]  # owner -1 -> the False appended
        return Selection(mask, int(keep.sum()), int(mask.sum()))

    def passages_of(self, rows: list[int]) -> np.ndarray:
        """The passages of these documents (rows), as a mask by passage id."""
        return np.append(self.flags(rows), False)[self.owner]

    def matching(self, filter: Filter) -> np.ndarray:
        keep = np.ones(len(self.ids), dtype=bool)
        if filter.document_ids is not None:
            keep &= self.flags(self.position[i] for i in filter.document_ids if i in self.position)
        if filter.source is not None:
            pattern = re.compile(fnmatch.translate(filter.source))
            keep &= np.fromiter((pattern.match(source) is not None for source in self.sources), bool, len(self.sources))
        if filter.type is not None:
            keep &= np.isin(self.types, list(filter.type))
        if filter.after is not None:
            keep &= (self.dates != "") & (self.dates >= filter.after.isoformat())
        if filter.before is not None:
            keep &= (self.dates != "") & (self.dates <= filter.before.isoformat())
        if filter.tags is not None:
            having = [self.flags(self.by_tag.get(tag, ())) for tag in filter.tags]
            keep &= np.logical_or.reduce(having) if filter.tags_match == "any" else np.logical_and.reduce(having)
        if filter.issuer is not None:
            keep &= self.directory.issued_by(filter.issuer)
        if filter.period is not None:
            keep &= self.directory.covering(filter.period)
        if filter.kind is not None:
            keep &= self.directory.of_kind(filter.kind)
        return keep

    def flags(self, positions) -> np.ndarray:
        found = np.zeros(len(self.ids), dtype=bool)
        found[list(positions)] = True
        return found
