"""SQLite: documents and passages (with their vectors); conversations are in their own file (qa/history.py).

This database is the source of truth; the FAISS file beside it is derived from the stored vectors.
Every write is one transaction that also bumps `generation`, so a reader can tell whether the
FAISS file was built from the current state.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from qa.cards import Card
from qa.chunking import Passage
from qa.documents import Box, Document, Page, Section
from qa.errors import DocumentConflict, IndexCorrupt, ReadOnlyIndex

log = logging.getLogger(__name__)

# 3: BM25 moved out of SQLite (qa/lexical.py), so version 2's FTS5 tables go.
# 4: documents record their type, pages and sections; passages their pages; PDF line boxes.
# 5: documents have a collection, tags and a date; (collection, origin, source) is unique.
# 6: passages keep their content words' token states (qa/maxsim.py), for re-ranking.
# 7: documents have a card (qa/cards.py) and the label their passages are indexed under; passages a context.
SCHEMA_VERSION = 7

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    hash TEXT NOT NULL,
    text TEXT NOT NULL,
    added_at REAL NOT NULL,
    type TEXT NOT NULL DEFAULT 'txt',    -- txt, md, html, pdf, docx, pptx
    pages TEXT NOT NULL DEFAULT '[]',    -- JSON: [{number, start, end, width, height, read_by, problem}]
    sections TEXT NOT NULL DEFAULT '[]', -- JSON: [[start, heading], ...]
    file_hash TEXT NOT NULL DEFAULT '',  -- SHA-256 of the file's bytes: an unchanged file is not parsed again
    origin TEXT,                         -- the folder ingested ('' for an API upload; NULL: not recorded)
    collection TEXT NOT NULL DEFAULT 'default',  -- a question sees one collection only
    tags TEXT NOT NULL DEFAULT '[]',     -- JSON: ["tag", ...]
    date TEXT,                           -- YYYY-MM-DD: the file's metadata, the upload's, else its mtime
    card TEXT NOT NULL DEFAULT '{}',     -- JSON: issuer, kind, period, title, each with where it was read
    label TEXT NOT NULL DEFAULT '',      -- what its passages are indexed under: the card's label ('' before schema 7)
    UNIQUE (collection, origin, source)
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,            -- float32, the passage's embedding
    sentences BLOB NOT NULL,         -- int32 (start, end) pairs, document offsets of its sentences
    sentence_vectors BLOB NOT NULL,  -- float32, one embedding per sentence
    page_first INTEGER,              -- the pages the passage spans (NULL for documents without pages)
    page_last INTEGER,
    word_states BLOB,                -- int4 token states of its content words (qa/maxsim.py pack); NULL before schema 6
    context TEXT NOT NULL DEFAULT '', -- what it stands under and does not repeat: its table's title and header rows
    UNIQUE (document_id, idx)
);
-- Where each line of a PDF stands on its page (PDF points, top-left origin), for citation boxes.
CREATE TABLE IF NOT EXISTS boxes (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page INTEGER NOT NULL,
    x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS boxes_by_start ON boxes (document_id, start);
DROP TABLE IF EXISTS passages_vocab;
DROP TABLE IF EXISTS passages_fts;
"""

# Columns an older database lacks; added in place (the boxes table comes with SCHEMA). A documents
# table from before schema 5 is copied by migrate_unique_source (its UNIQUE changed), gaining them there.
MIGRATION_COLUMNS = {
    "documents": ["type TEXT NOT NULL DEFAULT 'txt'", "pages TEXT NOT NULL DEFAULT '[]'",
                  "sections TEXT NOT NULL DEFAULT '[]'", "file_hash TEXT NOT NULL DEFAULT ''", "origin TEXT",
                  "collection TEXT NOT NULL DEFAULT 'default'", "tags TEXT NOT NULL DEFAULT '[]'", "date TEXT",
                  "card TEXT NOT NULL DEFAULT '{}'", "label TEXT NOT NULL DEFAULT ''"],
    "passages": ["page_first INTEGER", "page_last INTEGER", "word_states BLOB", "context TEXT NOT NULL DEFAULT ''"],
}
# A longer line than this on one page box is not expected; it bounds the box lookup's index scan.
MAX_BOX_CHARS = 5000



DocumentFields = tuple[str, str, str]  # a document's type, label ('' before schema 7) and collection


@dataclass
class ScoringRow:
    """A candidate passage: what the ranker scores and the citation it becomes."""
    id: int
    document_id: str
    title: str
    source: str
    index: int  # position in its document
    start: int  # character offsets into the document's text
    end: int
    text: str
    document_hash: str
    type: str  # the document's format
    page_first: int | None
    page_last: int | None
    label: str  # what the passage is indexed under: its document's card label (qa/cards.py), else its title
    context: str  # its table's title and header rows, when it is part of a table
    vector: np.ndarray
    sentences: np.ndarray  # (n, 2) document offsets
    sentence_vectors: np.ndarray  # (n, dimension)
    collection: str = "default"  # the document's: a question keeps to the collection it asked (qa/search/pipeline.py)
    analysis: Analysis | None = field(default=None, repr=False, compare=False)  # its stems, when read from the arrays


class Analysis(Protocol):
    """A passage's words as the ranker compares them, computed once when it was saved (qa/passage_arrays.py)
    rather than on every question (qa/lexical.py has what each is)."""

    def labels(self) -> list[list[str]]:
        """lexical.row_labels of its text."""

    def sentence_stems(self) -> list[set[str]]:
        """lexical.sentence_stems of it: each sentence's stemmed words."""


@dataclass
class Change:
    """What one write did, so the FAISS and BM25 indexes can follow it: passages removed and added
    (with their vectors, titles and texts), and the generation the database reached."""
    removed: list[int]
    added: list[int]
    vectors: np.ndarray
    generation: int
    texts: list[tuple[str, str]] = field(default_factory=list)  # (heading, text) of each added passage (qa/policy.py)
    replaced: bool = False  # the document was there before, in an earlier version


class Database:
    """One SQLite file; one connection per thread (sqlite3 connections are not shareable); one
    writer at a time (threads here, processes through SQLite's lock).

    A file this process cannot write (a read-only disk or mount, another user's folder) is opened
    read-only: reads work, a write raises ReadOnlyIndex."""

    def __init__(self, path: Path, schema: str):
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self.read_only = False
        self._uri: str | None = None  # set for a read-only (or in-memory) database
        try:
            try:
                with self.transaction() as db:
                    for statement in statements(schema):
                        db.execute(statement)
                    self.initialise(db)
            except sqlite3.OperationalError as error:
                if not cannot_write(error):
                    raise
                self.close()
                self.unwritable(schema, error)
        except sqlite3.DatabaseError as error:
            raise IndexCorrupt(f"{self.path} is not a readable qa index database ({error})") from error

    def unwritable(self, schema: str, error: sqlite3.OperationalError) -> None:
        """The file cannot be written: read it if it exists."""
        if not self.path.is_file():
            raise error
        self.open_read_only()

    def open_read_only(self) -> None:
        """Read through `mode=ro`, which still sees another process's writes; a database in WAL mode
        whose -shm file cannot be created is read as immutable (nobody can be writing it then)."""
        self.read_only = True
        for query in ("mode=ro", "mode=ro&immutable=1"):
            self._uri = f"{self.path.resolve().as_uri()}?{query}"
            try:
                self.db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                break
            except sqlite3.OperationalError:
                self.close()
        log.warning("%s cannot be written: it is opened read-only (questions only)", self.path)

    def initialise(self, db: sqlite3.Connection) -> None:
        """Rows a new database starts with."""

    @property
    def db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._uri is not None:
                connection = sqlite3.connect(self._uri, uri=True, timeout=30, isolation_level=None,
                                             check_same_thread=False)
            else:
                connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash
            connection.execute("PRAGMA foreign_keys=ON")  # per connection: deletes cascade
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write: all or nothing."""
        if self.read_only:
            raise ReadOnlyIndex(f"{self.path} cannot be written (a read-only disk or folder); "
                                f"it answers questions only. Make it writable to add or remove documents.")
        with self._write_lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class Store(Database):
    """The index's content: documents, passages with their vectors, and meta (model, chunking, and
    the generation counter every content write bumps)."""

    def __init__(self, path: Path):
        migrate_unique_source(Path(path))
        super().__init__(path, SCHEMA)

    def initialise(self, db: sqlite3.Connection) -> None:
        """A new database gets the current schema; an older one is migrated in place; a newer one
        (written by a later qa) is refused rather than misread."""
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        found = int(row[0]) if row else SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise IndexCorrupt(f"{self.path} was written by a newer qa (schema {found}; this qa reads up to "
                               f"{SCHEMA_VERSION}). Upgrade qa, or rebuild the index with `qa ingest` into a new folder.")
        if found < SCHEMA_VERSION:
            for table, columns in MIGRATION_COLUMNS.items():
                present = {info[1] for info in db.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column.split()[0] not in present:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        db.execute("CREATE INDEX IF NOT EXISTS documents_by_collection ON documents (collection)")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('metadata', '0')")

    @contextmanager
    def write(self, bump: bool = True) -> Iterator[sqlite3.Connection]:
        """A write; `bump` marks the content as changed, which makes the FAISS and BM25 files stale."""
        with self.transaction() as db:
            if bump:
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            yield db

    # -- metadata ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, values: dict[str, str]) -> None:
        with self.write(bump=False) as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    # -- documents ----------------------------------------------------------------------------------

    def replace_document(self, document: Document, passages: list[Passage], vectors: np.ndarray,
                         sentence_vectors: list[np.ndarray], word_states: list[bytes] | None = None) -> Change:
        """Store a document with its passages, replacing any earlier version with the same source.
        `word_states`: each passage's packed content-word states (qa/maxsim.py), if computed."""
        with self.write() as db:
            # The same file (origin and source) replaces itself; a document from before origins were
            # recorded (NULL) with the same source is this file's earlier version.
            where = "(origin = ? OR origin IS NULL) AND source = ? AND collection = ?"
            key = (document.origin, document.source, document.collection)
            replaced = db.execute(f"SELECT tags FROM documents WHERE {where}", key).fetchone()
            removed = self._delete(db, where, *key)
            tags = document.tags if document.tags is not None else json.loads(replaced[0]) if replaced else []
            if db.execute("SELECT 1 FROM documents WHERE id = ?", (document.id,)).fetchone():
                # Left after deleting this source's own earlier version: the id is another document's.
                raise DocumentConflict(f"Another document already has the id {document.id}; nothing was stored "
                                       f"and the other document is unchanged. Give this one another source.")
            db.execute(
                "INSERT INTO documents (id, title, source, hash, text, added_at, type, pages, sections, file_hash, origin, "
                "collection, tags, date, card, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (document.id, document.title, document.source, document.hash, document.text, time.time(),
                 document.type, json.dumps([asdict(page) for page in document.pages]),
                 json.dumps([[section.start, section.title] for section in document.sections]), document.file_hash,
                 document.origin, document.collection, json.dumps(tags), document.date,
                 json.dumps(document.card.to_json() if document.card else {}), document.label),
            )
            db.executemany("INSERT INTO boxes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [(document.id, b.start, b.end, b.page, b.x0, b.y0, b.x1, b.y1) for b in document.boxes])
            added = []
            spans = document.page_spans([(passage.start, passage.end) for passage in passages])
            states = word_states if word_states is not None else [None] * len(passages)
            for passage, vector, sentences, span, packed in zip(passages, vectors, sentence_vectors, spans, states):
                first, last = span or (None, None)
                cursor = db.execute(
                    "INSERT INTO passages (document_id, idx, start, end, text, vector, sentences, sentence_vectors, "
                    "page_first, page_last, word_states, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (document.id, passage.index, passage.start, passage.end, passage.text,
                     np.asarray(vector, dtype=np.float32).tobytes(),
                     np.asarray(passage.sentences, dtype=np.int32).tobytes(),
                     np.asarray(sentences, dtype=np.float32).tobytes(), first, last, packed, passage.context),
                )
                added.append(cursor.lastrowid)
            texts = [(heading(document.label, passage.context), passage.text) for passage in passages]
            return Change(removed, added, vectors, self._generation(db), texts, replaced is not None)

    def load_document(self, document_id: str) -> Document | None:
        """A stored document as it was read (text, pages, line boxes, sections, card), to be indexed
        again: its passages under an edited card. Its tags stay as they are (tags None)."""
        row = self.db.execute(
            "SELECT id, title, source, hash, text, type, pages, sections, file_hash, origin, collection, date, card "
            "FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            return None
        boxes = [Box(*box) for box in self.db.execute(
            "SELECT start, end, page, x0, y0, x1, y1 FROM boxes WHERE document_id = ? ORDER BY start", (document_id,))]
        return Document(row[0], row[1], row[2], row[4], row[3], type=row[5],
                        pages=[Page(**page) for page in json.loads(row[6])], boxes=boxes,
                        sections=[Section(start, title) for start, title in json.loads(row[7])], file_hash=row[8],
                        origin=row[9] or "", date=row[11], collection=row[10], card=Card.from_json(json.loads(row[12])))

    def edited_card(self, collection: str, origin: str, source: str) -> Card | None:
        """The card of the stored version of a file, when fields of it were edited (PATCH): a new
        reading of the file keeps them."""
        row = self.db.execute("SELECT card FROM documents WHERE collection = ? AND (origin = ? OR origin IS NULL) "
                              "AND source = ?", (collection, origin, source)).fetchone()
        card = Card.from_json(json.loads(row[0])) if row else None
        return card if card is not None and card.edited else None

    def remove_document(self, document_id: str) -> Change:
        """Delete a document and its passages (nothing removed if the id is unknown)."""
        with self.write() as db:
            removed = self._delete(db, "id = ?", document_id)
            return Change(removed, [], np.zeros((0, 0), np.float32), self._generation(db))

    @staticmethod
    def _generation(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    @staticmethod
    def _delete(db: sqlite3.Connection, where: str, *values: str) -> list[int]:
        ids = [row[0] for row in db.execute(
            f"SELECT id FROM passages WHERE document_id IN (SELECT id FROM documents WHERE {where})", values)]
        db.execute(f"DELETE FROM documents WHERE {where}", values)  # passages go by cascade
        return ids

    def document_hashes(self, collection: str = "default") -> dict[tuple[str | None, str], tuple[str, str]]:
        """(origin, source) -> (text hash, file hash) in a collection, to skip files that have not
        changed. The origin is None for documents stored before origins were recorded."""
        return {(origin, source): (text_hash, file_hash) for origin, source, text_hash, file_hash
                in self.db.execute("SELECT origin, source, hash, file_hash FROM documents WHERE collection = ?",
                                   (collection,))}

    def record_reading(self, document_id: str, file_hash: str, pages: list[Page]) -> None:
        """Record that the document's text is what these bytes read as (the content is unchanged), with
        the pages as the reader now describes them (a newer reader may add their printed numbers)."""
        with self.write(bump=False) as db:
            db.execute("UPDATE documents SET file_hash = ?, pages = ? WHERE id = ?",
                       (file_hash, json.dumps([asdict(page) for page in pages]), document_id))
            # The pages' printed numbers may be new: what keeps them in memory reads them again.
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'metadata'")

    def documents_from(self, origin: str, collection: str = "default") -> list[tuple[str, str]]:
        """(id, source) of the documents of a collection ingested from the folder `origin`."""
        return self.db.execute("SELECT id, source FROM documents WHERE origin = ? AND collection = ?",
                               (origin, collection)).fetchall()

    def documents(self, collection: str | None = None) -> list[dict]:
        """Summaries of a collection's documents (every collection's with None), by source."""
        rows = self.db.execute(
            f"SELECT {SUMMARY_COLUMNS}, COUNT(p.id) FROM documents d LEFT JOIN passages p ON p.document_id = d.id "
            "WHERE ? IS NULL OR d.collection = ? GROUP BY d.id ORDER BY d.source", (collection, collection)
        )
        return [summary(row) for row in rows]

    def document(self, document_id: str) -> dict | None:
        """A document's summary with its text, pages and sections."""
        row = self.db.execute(
            f"SELECT {SUMMARY_COLUMNS}, (SELECT COUNT(*) FROM passages WHERE document_id = d.id), d.text, d.sections "
            "FROM documents d WHERE d.id = ?", (document_id,)
        ).fetchone()
        if row is None:
            return None
        return {**summary(row[:-2]), "text": row[-2], "pages": json.loads(row[6]),
                "sections": [{"start": start, "title": title} for start, title in json.loads(row[-1])]}

    def update_metadata(self, document_id: str, tags: list[str] | None = None, date: str | None = None,
                        set_date: bool = False) -> bool:
        """Change a document's tags and/or date (`set_date` to change the date, to None too); False
        for an unknown id. The passages do not change, so the generation stays; `metadata` counts these."""
        with self.write(bump=False) as db:
            if db.execute("SELECT 1 FROM documents WHERE id = ?", (document_id,)).fetchone() is None:
                return False
            if tags is not None:
                db.execute("UPDATE documents SET tags = ? WHERE id = ?", (json.dumps(tags), document_id))
            if set_date:
                db.execute("UPDATE documents SET date = ? WHERE id = ?", (date, document_id))
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'metadata'")
            return True

    def retag(self, document_ids: list[str], tags: list[str]) -> int:
        """Give these documents these tags (one transaction); how many changed."""
        value = json.dumps(tags)
        with self.write(bump=False) as db:
            changed = sum(db.execute("UPDATE documents SET tags = ? WHERE id = ? AND tags != ?",
                                     (value, document_id, value)).rowcount for document_id in document_ids)
            if changed:
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'metadata'")
            return changed

    def collections(self) -> dict[str, int]:
        """Each collection that holds documents, with how many."""
        return dict(self.db.execute("SELECT collection, COUNT(*) FROM documents GROUP BY collection ORDER BY collection"))

    def catalog_version(self) -> tuple[int, int]:
        """(generation, metadata): changes whenever a document or its metadata does."""
        rows = dict(self.db.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'metadata')"))
        return int(rows.get("generation", 0)), int(rows.get("metadata", 0))

    def catalog_rows(self) -> tuple[list[tuple], np.ndarray, np.ndarray]:
        """What filters and routing look at, in one snapshot: (rowid, id, collection, source, type, tags JSON, date, card JSON)
        of every document, and the passages' ids with their document's rowid."""
        with self.snapshot():
            documents = self.db.execute("SELECT rowid, id, collection, source, type, tags, date, card FROM documents").fetchall()
            pairs = self.db.execute("SELECT p.id, d.rowid FROM passages p JOIN documents d ON d.id = p.document_id").fetchall()
        passages = np.fromiter((pair[0] for pair in pairs), dtype=np.int64, count=len(pairs))
        owners = np.fromiter((pair[1] for pair in pairs), dtype=np.int64, count=len(pairs))
        return documents, passages, owners

    def boxes(self, document_id: str, start: int, end: int) -> list[tuple[int, int, int, float, float, float, float]]:
        """(start, end, page, x0, y0, x1, y1) of the line boxes overlapping document.text[start:end]."""
        return self.db.execute(
            "SELECT start, end, page, x0, y0, x1, y1 FROM boxes WHERE document_id = ? AND start >= ? AND start < ? "
            "AND end > ? ORDER BY start", (document_id, start - MAX_BOX_CHARS, end, start)).fetchall()

    def document_rowids(self) -> dict[int, str]:
        """rowid -> id of every document (the first columns of its row: no walk past its text). A
        document stored again gets a new rowid, so a change shows as one gone and one new."""
        return dict(self.db.execute("SELECT rowid, id FROM documents"))

    def cards(self, rowids: list[int]) -> list[tuple[int, str, str, str, str, str]]:
        """(rowid, id, collection, card JSON, type, label) of these documents."""
        found = []
        for first in range(0, len(rowids), 500):
            batch = rowids[first : first + 500]
            found += self.db.execute(f"SELECT rowid, id, collection, card, type, label FROM documents WHERE rowid IN "
                                     f"({','.join('?' * len(batch))})", batch).fetchall()
        return found

    def passages_of(self, document_ids: list[str]) -> list[int]:
        """The ids of these documents' passages (a route may name thousands: in batches under SQLite's
        limit on a statement's parameters)."""
        found: list[int] = []
        for first in range(0, len(document_ids), 500):
            batch = document_ids[first:first + 500]
            found += [row[0] for row in self.db.execute(
                f"SELECT id FROM passages WHERE document_id IN ({','.join('?' * len(batch))})", batch)]
        return found

    def sections(self, document_id: str) -> list[tuple[int, str]]:
        row = self.db.execute("SELECT sections FROM documents WHERE id = ?", (document_id,)).fetchone()
        return [tuple(section) for section in json.loads(row[0])] if row else []

    def pages(self, document_id: str) -> list[tuple[int | None, str | None]]:
        """(number, printed label) of each page of a document, in order ([] for an unknown one)."""
        row = self.db.execute("SELECT pages FROM documents WHERE id = ?", (document_id,)).fetchone()
        return [(page.get("number"), page.get("label")) for page in json.loads(row[0])] if row else []

    def existing(self, document_ids: list[str]) -> set[str]:
        """Which of these document ids the store holds."""
        found: set[str] = set()
        for first in range(0, len(document_ids), 500):
            batch = document_ids[first:first + 500]
            found.update(row[0] for row in self.db.execute(
                f"SELECT id FROM documents WHERE id IN ({','.join('?' * len(batch))})", batch))
        return found

    def existing_passages(self, ids: list[int]) -> list[int]:
        """Which of these passage ids the store holds."""
        found: list[int] = []
        for first in range(0, len(ids), 500):
            batch = [int(i) for i in ids[first:first + 500]]
            found += [row[0] for row in self.db.execute(
                f"SELECT id FROM passages WHERE id IN ({','.join('?' * len(batch))})", batch)]
        return found

    def counts(self) -> tuple[int, int]:
        documents = self.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        passages = self.db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return documents, passages

    # -- passages -----------------------------------------------------------------------------------

    def scoring_rows(self, ids: list[int], dimension: int,
                     known: Callable[[list[str]], dict[str, DocumentFields]] | None = None) -> list[ScoringRow]:
        """The candidates' rows. A document's type, label and collection stand after its text in its
        row, and reading them walks the text's overflow pages (a long report's hundreds): `known`
        gives them from memory (the catalog keeps them), and only a document it lacks is read here."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT p.id, p.document_id, d.title, d.source, p.idx, p.start, p.end, p.text, d.hash, "
            "p.page_first, p.page_last, p.context, p.vector, p.sentences, p.sentence_vectors "
            f"FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id IN ({marks})",
            [int(i) for i in ids]).fetchall()
        documents = list({row[1] for row in rows})
        fields = known(documents) if known else {}
        if missing := [document for document in documents if document not in fields]:
            fields.update(self.document_fields(missing))
        # A document deleted (by another process) between the two reads is gone: its rows are dropped,
        # as they would be had the question come a moment later.
        rows = [row for row in rows if row[1] in fields]
        # One conversion per column for all rows (a question reads ~100 rows), then views per row.
        vectors = np.frombuffer(b"".join(row[12] for row in rows), dtype=np.float32).reshape(len(rows), dimension)
        spans = np.frombuffer(b"".join(row[13] for row in rows), dtype=np.int32).reshape(-1, 2)
        sentence_vectors = np.frombuffer(b"".join(row[14] for row in rows), dtype=np.float32).reshape(-1, dimension)
        ends = np.cumsum([len(row[13]) // 8 for row in rows]).tolist()
        found = []
        for i, (row, end) in enumerate(zip(rows, ends)):
            kind, label, collection = fields[row[1]]
            count = len(row[13]) // 8
            found.append(ScoringRow(*row[:9], kind, row[9], row[10], label or row[2], row[11], vectors[i],
                                    spans[end - count : end], sentence_vectors[end - count : end], collection))
        return found

    def document_fields(self, document_ids: list[str]) -> dict[str, DocumentFields]:
        """id -> (type, label, collection) of these documents, read from their rows."""
        marks = ",".join("?" * len(document_ids))
        return {row[0]: tuple(row[1:]) for row in self.db.execute(
            f"SELECT id, type, label, collection FROM documents WHERE id IN ({marks})", document_ids)}

    def passages_on_pages(self, numbers: list[int]) -> list[int]:
        """Ids of the passages on any of these pages, counted as a viewer counts them or as the page
        itself is numbered (its label, qa/documents.py Page)."""
        if not numbers:
            return []
        numbers = [int(n) for n in numbers]
        spans = " OR ".join("(page_first <= ? AND page_last >= ?)" for _ in numbers)
        physical = self.db.execute(f"SELECT id FROM passages WHERE page_first IS NOT NULL AND ({spans})",
                                   [n for n in numbers for _ in (0, 1)]).fetchall()
        marks = ",".join("?" * len(numbers))
        labelled = self.db.execute(
            "SELECT p.id FROM documents d, json_each(d.pages) page JOIN passages p ON p.document_id = d.id "
            "AND p.page_first <= json_extract(page.value, '$.number') "
            "AND p.page_last >= json_extract(page.value, '$.number') "
            f"WHERE json_extract(page.value, '$.label') IN ({marks})", [str(n) for n in numbers]).fetchall()
        return sorted({row[0] for row in physical + labelled})

    def word_states(self, ids: list[int]) -> dict[int, bytes]:
        """The packed content-word states of these passages (qa/maxsim.py), by id; a passage stored
        before they were kept has none."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return dict(self.db.execute(f"SELECT id, word_states FROM passages WHERE id IN ({marks}) "
                                    "AND word_states IS NOT NULL", [int(i) for i in ids]))

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state, e.g. the generation and the vectors agree."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def all_vectors(self, dimension: int, batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in batches, to rebuild the FAISS index without re-embedding."""
        cursor = self.db.execute("SELECT id, vector FROM passages ORDER BY id")
        while rows := cursor.fetchmany(batch):
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), dimension)
            yield ids, vectors

    def all_texts(self, batch: int = 10_000) -> Iterator[tuple[list[int], list[tuple[str, str]]]]:
        """(ids, (heading, text) pairs) in batches, to rebuild the BM25 index."""
        cursor = self.db.execute(f"SELECT p.id, {LABEL}, p.context, p.text FROM passages p "
                                 "JOIN documents d ON d.id = p.document_id ORDER BY p.id")
        while rows := cursor.fetchmany(batch):
            yield [row[0] for row in rows], [(heading(row[1], row[2]), row[3]) for row in rows]


def statements(script: str) -> list[str]:
    """A schema's statements, one by one (a ';' inside a comment or a string does not end one)."""
    found, pending = [], ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                found.append(pending)
            pending = ""
    return found


def cannot_write(error: sqlite3.OperationalError) -> bool:
    """SQLITE_READONLY or SQLITE_CANTOPEN (and their extended codes): a file or folder we may not write."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)


def migrate_unique_source(path: Path) -> None:
    """Before schema 4 a source was unique across the index, so two folders' "notes.txt" replaced
    each other; in schema 4 (origin, source) was; from 5 (collection, origin, source) is. SQLite cannot
    change a constraint in place: the table is copied (gaining the newer columns with their defaults),
    with foreign keys off so that dropping the old one does not cascade to the passages.
    Documents from before keep a NULL origin: the next ingest of their folder adopts them."""
    if not path.is_file():
        return
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
    except sqlite3.Error:
        return  # unreadable or read-only: Database reports it
    try:
        try:
            row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'documents'").fetchone()
        except sqlite3.DatabaseError:
            return  # not a database: Database reports it, naming the file
        if row is None or "UNIQUE (collection, origin, source)" in row[0]:
            return
        columns = [info[1] for info in db.execute("PRAGMA table_info(documents)")]
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("BEGIN IMMEDIATE")
        create = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS documents"):SCHEMA.index("CREATE TABLE IF NOT EXISTS passages")]
        db.execute(create.rstrip().rstrip(";").replace("IF NOT EXISTS documents", "documents_new", 1))
        db.execute(f"INSERT INTO documents_new ({', '.join(columns)}) SELECT {', '.join(columns)} FROM documents")
        db.execute("DROP TABLE documents")
        db.execute("ALTER TABLE documents_new RENAME TO documents")
        db.execute("COMMIT")
    except sqlite3.OperationalError as error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        log.warning("%s: could not migrate the documents table (%s); it is read as it is", path, error)
    finally:
        db.close()


SUMMARY_COLUMNS = "d.id, d.title, d.source, d.hash, d.type, d.collection, d.pages, d.tags, d.date, d.card"
# A document's label; one stored before schema 7 has none, and its title stands in.
LABEL = "CASE WHEN d.label != '' THEN d.label ELSE d.title END"


def heading(label: str, context: str) -> str:
    """What BM25 indexes a passage under, as its title: its document's label and its context."""
    return f"{label}. {context}" if context else label


def summary(row: tuple) -> dict:
    """A row of SUMMARY_COLUMNS and the passage count -> the API's summary."""
    pages = json.loads(row[6])
    unread = [{"number": page["number"], "problem": page["problem"]} for page in pages if page.get("problem")]
    return {"id": row[0], "title": row[1], "source": row[2], "passages": row[10], "hash": row[3], "type": row[4],
            "page_count": len(pages), "unread_pages": unread, "collection": row[5], "tags": json.loads(row[7]),
            "date": row[8], **card_fields(Card.from_json(json.loads(row[9])), row[1])}


def card_fields(card: Card, title: str) -> dict:
    """A document's name and card as the API lists them (edited fields are marked in each fact)."""
    public = {key: value for key, value in card.to_json().items() if key != "edited_values"}
    return {"name": card.name or title, "card": public}
