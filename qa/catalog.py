"""Which passages a question may see: its scope (a collection, and the documents a filter keeps), as
a mask over passage ids.

The search runs inside the mask (qa/vectors.py hands it to FAISS as an IDSelector, qa/lexical.py
masks the BM25 postings with it), so a narrow filter returns up to top_k passages all inside it,
ranked as if the rest of the index did not exist. The collection is part of every mask: a question
never sees another collection's passages.

The catalog keeps the documents' metadata in memory (numpy arrays, one row a document) and the
owner of every passage id, rebuilt when the store changes (its generation, or its `metadata`
counter for tag and date edits). Building it reads two columns of every passage (about 0.1 s at
100k passages); a question that needs no mask (one collection, no filter) never builds it. Masks
of recent (collection, filter) pairs are kept, so a filter asked again costs nothing to resolve.

Example: Scope("default", source="set1/*", type=("txt",)) -> Selection(mask with True at the ids of
the passages of default's txt documents under set1/, documents=10, passages=160).

The API's Filter (qa/schemas.py) is translated into a Scope at the door: search knows nothing of HTTP.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from qa.cards import Card
from qa.metadata import DEFAULT_COLLECTION
from qa.routing import Directory, Route
from qa.store import Store

if TYPE_CHECKING:
    from qa.search.query import Query

CACHED_SELECTIONS = 32
CACHED_PAGES = 256  # documents whose page labels are kept in memory for citations


@dataclass(frozen=True)
class Scope:
    """Where a search runs: one collection, and of it the documents every given field keeps."""
    collection: str = DEFAULT_COLLECTION
    source: str | None = None  # a glob over the source ("reports/*.pdf")
    document_ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    tags_match: str = "any"  # any: a document with at least one of the tags; all: with every one
    type: tuple[str, ...] | None = None  # formats: txt, html, pdf, ...
    after: dt.date | None = None  # documents dated on or after (undated ones left out)
    before: dt.date | None = None
    issuer: str | None = None  # by the card (qa/routing.py Directory)
    period: str | None = None
    kind: str | None = None

    @property
    def filtered(self) -> bool:
        """Whether it keeps less than the whole collection."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name not in ("collection", "tags_match"))

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)


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
        # The cards routing reads, kept up to date document by document (by rowid: a document stored
        # again gets a new one): a write costs a read of its own card, not a walk of every document.
        self._cards_lock = threading.Lock()
        self._cards: dict[int, tuple[str, str, Card]] = {}
        self._fields: dict[str, tuple[str, str, str]] = {}  # document id -> type, label, collection (qa/store.py)
        self._card_of: dict[str, Card] = {}  # document id -> its card, as citations show it
        # document id -> its pages' (number, printed label), read once a document is cited (a page
        # column stands after the text in its row); forgotten when the catalog's version changes
        self._pages: OrderedDict[str, list[tuple[int | None, str | None]]] = OrderedDict()
        self._directory: Directory | None = None
        self._cards_at = -1

    def collections(self) -> dict[str, int]:
        """Each collection holding documents, with how many (as of the store now)."""
        self._follow()
        return self._collections

    def select(self, scope: Scope) -> Selection:
        """The passages of the scope's collection that its filter keeps."""
        self._follow()
        if not scope.filtered and set(self._collections) <= {scope.collection}:  # the whole index: no mask
            documents = self._collections.get(scope.collection, 0)
            return Selection(None, documents, None)
        key = scope.key()
        with self._lock:
            found = self._selections.get(key)
            if found is not None:
                self._selections.move_to_end(key)
                return found
            if self._tables is None:
                self._tables = Tables(self.store)
            tables = self._tables
        found = tables.select(scope)
        with self._lock:
            if tables is self._tables:
                self._selections[key] = found
                while len(self._selections) > CACHED_SELECTIONS:
                    self._selections.popitem(last=False)
        return found

    def route(self, scope: Scope, query: Query) -> tuple[Route, np.ndarray | None, str | None]:
        """The documents of the scope that the question names by their cards (qa/routing.py): the
        route, its passages as a mask (None: no route), and a company the question names that issued
        none of them (the reason, else None). A question that names no year, kind or issuer (most)
        costs a look at the cards' names; nothing is built for it."""
        directory = self.directory()
        if not directory.may_name(query):
            return Route(), None, None
        if scope.filtered:  # the filter's documents, as the catalog's tables keep them
            tables = self._tables_now()
            kept = {tables.ids[row] for row in np.flatnonzero(tables.kept(scope)).tolist()}
            allowed = np.array([document_id in kept for document_id in directory.ids], dtype=bool)
        else:
            allowed = directory.collections == scope.collection
        route = directory.route(query, allowed)
        stranger = directory.organisations_missing(query, route, allowed)
        if not route.documents:
            return route, None, stranger
        ids = self.store.passages_of([directory.ids[row] for row in route.documents])
        mask = np.zeros(max(ids, default=0) + 1, dtype=bool)
        mask[ids] = True
        return route, mask, stranger

    def directory(self) -> Directory:
        """The documents' cards indexed for routing, caught up with the store's last write."""
        generation = self.store.generation
        if self._directory is not None and self._cards_at == generation:
            return self._directory
        with self._cards_lock:
            if self._directory is None or self._cards_at != generation:
                present = self.store.document_rowids()
                for rowid in [rowid for rowid in self._cards if rowid not in present]:
                    document_id = self._cards.pop(rowid)[0]
                    self._fields.pop(document_id, None)
                    self._card_of.pop(document_id, None)
                for rowid, document_id, collection, card, kind, label in self.store.cards(
                        [r for r in present if r not in self._cards]):
                    self._cards[rowid] = (document_id, collection, Card.from_json(json.loads(card)))
                    self._fields[document_id] = (kind, label, collection)
                    self._card_of[document_id] = self._cards[rowid][2]
                self._directory, self._cards_at = Directory(list(self._cards.values())), generation
        return self._directory

    def document_fields(self, document_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """The type, label and collection of these documents, from memory (those it lacks are left out)."""
        self.directory()
        found = {document_id: self._fields.get(document_id) for document_id in document_ids}
        return {document_id: fields for document_id, fields in found.items() if fields is not None}

    def card(self, document_id: str) -> Card | None:
        """A document's card, from memory (None for a document the store does not hold)."""
        self.directory()
        return self._card_of.get(document_id)

    def page_labels(self, document_id: str, numbers: list[int]) -> list[str | None]:
        """The printed numbers of these pages of a document (None where a page has none, or where the
        stored pages do not number it), from memory after the document's first citation."""
        pages = self._pages.get(document_id)
        if pages is None:
            pages = self.store.pages(document_id)
            with self._lock:
                self._pages[document_id] = pages
                while len(self._pages) > CACHED_PAGES:
                    self._pages.popitem(last=False)
        return [pages[number - 1][1] if 0 < number <= len(pages) and pages[number - 1][0] == number else None
                for number in numbers]

    def _tables_now(self) -> Tables:
        self._follow()
        with self._lock:
            if self._tables is None:
                self._tables = Tables(self.store)
            return self._tables

    def _follow(self) -> None:
        version = self.store.catalog_version()
        if version != self._version:
            collections = self.store.collections()
            with self._lock:
                self._version, self._collections, self._tables = version, collections, None
                self._selections.clear()
                self._pages.clear()  # a file read again may bring its pages' printed numbers (Store.record_reading)


class Tables:
    """The documents' metadata as arrays, and each passage id's document (-1: none)."""

    def __init__(self, store: Store):
        rows, passages, owners = store.catalog_rows()
        self._cards = [(row[1], row[2], row[7]) for row in rows]
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
            self._directory = Directory([(document_id, collection, Card.from_json(json.loads(card)))
                                         for document_id, collection, card in self._cards])
        return self._directory

    def kept(self, scope: Scope) -> np.ndarray:
        """The documents (bool by row) of the scope's collection that its filter keeps."""
        keep = self.collections == scope.collection
        if scope.filtered:
            keep &= self.matching(scope)
        return keep

    def select(self, scope: Scope) -> Selection:
        keep = self.kept(scope)
        mask = np.append(keep, False)[self.owner]  # owner -1 -> the False appended
        return Selection(mask, int(keep.sum()), int(mask.sum()))

    def matching(self, scope: Scope) -> np.ndarray:
        keep = np.ones(len(self.ids), dtype=bool)
        if scope.document_ids is not None:
            keep &= self.flags(self.position[i] for i in scope.document_ids if i in self.position)
        if scope.source is not None:
            pattern = re.compile(fnmatch.translate(scope.source))
            keep &= np.fromiter((pattern.match(source) is not None for source in self.sources), bool, len(self.sources))
        if scope.type is not None:
            keep &= np.isin(self.types, list(scope.type))
        if scope.after is not None:
            keep &= (self.dates != "") & (self.dates >= scope.after.isoformat())
        if scope.before is not None:
            keep &= (self.dates != "") & (self.dates <= scope.before.isoformat())
        if scope.tags is not None:
            having = [self.flags(self.by_tag.get(tag, ())) for tag in scope.tags]
            keep &= np.logical_or.reduce(having) if scope.tags_match == "any" else np.logical_and.reduce(having)
        if scope.issuer is not None:
            keep &= self.directory.issued_by(scope.issuer)
        if scope.period is not None:
            keep &= self.directory.covering(scope.period)
        if scope.kind is not None:
            keep &= self.directory.of_kind(scope.kind)
        return keep

    def flags(self, positions) -> np.ndarray:
        found = np.zeros(len(self.ids), dtype=bool)
        found[list(positions)] = True
        return found
