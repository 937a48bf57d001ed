"""The API's conversations: their turns in their own SQLite file beside the index (conversations.sqlite3).

A question writes a turn; kept in the passages' database, that write would make every reader drop
its page cache on the next question.

What a conversation holds, and what bounds it:

- its owner: the SHA-256 of the token that opened it (none for a caller without a token). Only
  that token reads, continues or deletes it; to any other it is not there (qa/api.py, 404);
- at most `max_turns` turns (ConversationFull, 409, past it), each with the passages it cited;
- kept `max_age_days` after its last turn, at most `max_count` conversations (the newest), pruned
  whenever a new one starts;
- which documents each turn cites (`cited`), so removing a document removes its passages from
  every turn that quoted them (forget_document): a deleted document is never quoted again;
- what the next turn needs, in the conversation's own row: its owner, how many turns it has, the
  collections they asked in, and the topic the last one carries forward (qa/conversation.py). A
  question in a long conversation reads that row, never the earlier turns.

In a folder that cannot be written, conversations live in memory until the process ends.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ConversationFull
from qa.store import Database, statements

log = logging.getLogger(__name__)

CONVERSATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    owner TEXT,                              -- SHA-256 of the token that opened it; NULL: no token
    turns INTEGER NOT NULL DEFAULT 0,
    collections TEXT NOT NULL DEFAULT '[]',  -- JSON: the collections its turns asked in
    topic TEXT,                              -- JSON: what its last turn carries forward
    last_asked REAL                          -- when its last turn was asked (pruning reads it by index)
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    asked_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, idx)
);
-- The documents each turn quotes, so a document removed is found in every turn quoting it.
CREATE TABLE IF NOT EXISTS cited (
    document_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (document_id, conversation_id, idx),
    FOREIGN KEY (conversation_id, idx) REFERENCES turns (conversation_id, idx) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS cited_by_turn ON cited (conversation_id, idx);
"""
# Made by initialise, once last_asked exists (a file from before gains the column first).
PRUNING_INDEXES = """
CREATE INDEX IF NOT EXISTS conversations_by_last_asked ON conversations (last_asked);
CREATE INDEX IF NOT EXISTS conversations_by_created ON conversations (created_at);
"""
PRUNE_COUNT_EVERY = 100  # new conversations between two counts of them (the age limit is kept at each)
# Added to a conversations table from before they were kept there; filled from its turns.
HEAD_COLUMNS = ["owner TEXT", "turns INTEGER NOT NULL DEFAULT 0", "collections TEXT NOT NULL DEFAULT '[]'",
                "topic TEXT"]
FILL_HEADS = """
UPDATE conversations SET
    turns = (SELECT COUNT(*) FROM turns WHERE conversation_id = conversations.id),
    collections = (SELECT json_group_array(DISTINCT coalesce(json_extract(answer, '$.collection'), 'default'))
                   FROM turns WHERE conversation_id = conversations.id),
    topic = (SELECT json_extract(answer, '$.topic') FROM turns WHERE conversation_id = conversations.id
             ORDER BY idx DESC LIMIT 1);
INSERT OR IGNORE INTO cited SELECT json_extract(passage.value, '$.citation.document_id'), conversation_id, idx
    FROM turns, json_each(turns.answer, '$.passages') AS passage;
UPDATE turns SET answer = json_remove(answer, '$.topic') WHERE json_extract(answer, '$.topic') IS NOT NULL;
"""


@dataclass
class Head:
    """What the next turn of a conversation needs."""
    owner: str | None  # SHA-256 of the token that opened it; None: opened without a token
    turns: int
    collections: list[str]  # asked in
    topic: dict | None  # carried forward by the last turn


class ConversationStore(Database):
    """Conversations and their turns (see the module docstring)."""

    def __init__(self, path: Path, max_age_days: float = 30, max_count: int = 10_000, max_turns: int = 100):
        self.max_age_days, self.max_count, self.max_turns = max_age_days, max_count, max_turns
        self._started = 0  # conversations started by this process: the count limit is kept every PRUNE_COUNT_EVERY
        super().__init__(path, CONVERSATION_SCHEMA)

    def initialise(self, db: sqlite3.Connection) -> None:
        """A file from before owners, heads and citations were kept gains them, filled from its turns
        (those conversations had no owner recorded: a caller without a token reaches them)."""
        present = {info[1] for info in db.execute("PRAGMA table_info(conversations)")}
        if "owner" not in present:
            for column in HEAD_COLUMNS:
                db.execute(f"ALTER TABLE conversations ADD COLUMN {column}")
            for statement in statements(FILL_HEADS):
                db.execute(statement)
        if "last_asked" not in present:
            db.execute("ALTER TABLE conversations ADD COLUMN last_asked REAL")
        if "last_asked" not in present or "owner" not in present:
            db.execute("UPDATE conversations SET last_asked = coalesce((SELECT max(asked_at) FROM turns "
                       "WHERE conversation_id = conversations.id), created_at)")
        for statement in statements(PRUNING_INDEXES):
            db.execute(statement)

    def unwritable(self, schema: str, error: sqlite3.OperationalError) -> None:
        log.warning("conversations are kept in memory: %s cannot be written (%s)", self.path, error)
        self._uri = f"file:conversations-{id(self)}?mode=memory&cache=shared"
        self._keeper = self.db  # a shared in-memory database lives while one connection is open
        with self.transaction() as db:
            for statement in statements(schema):
                db.execute(statement)
            self.initialise(db)

    def conversation_exists(self, conversation_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is not None

    def head(self, conversation_id: str) -> Head | None:
        """The conversation's own row (one read, whatever its length), or None."""
        row = self.db.execute("SELECT owner, turns, collections, topic FROM conversations WHERE id = ?",
                              (conversation_id,)).fetchone()
        if row is None:
            return None
        return Head(row[0], row[1], json.loads(row[2]), json.loads(row[3]) if row[3] else None)

    def check_room(self, turns: int) -> None:
        """The one check of the turn limit: raise ConversationFull when `turns` leaves no room."""
        if turns >= self.max_turns:
            raise ConversationFull(f"This conversation has reached its limit of {self.max_turns} questions; "
                                   f"start a new one (ask without a conversation_id).")

    def add_turn(self, conversation_id: str, question: str, answer: dict, topic: dict | None = None,
                 collection: str = "default", owner: str | None = None) -> None:
        """Append a turn (the documents its passages cite recorded with it), creating the conversation,
        owned by `owner`, with its first one. ConversationFull when it has max_turns already."""
        documents = {passage["citation"]["document_id"] for passage in answer.get("passages", [])}
        now = time.time()
        with self.transaction() as db:
            if db.execute("INSERT OR IGNORE INTO conversations (id, created_at, owner, last_asked) VALUES (?, ?, ?, ?)",
                          (conversation_id, now, owner, now)).rowcount:
                self._prune(db)
            turns, collections = db.execute("SELECT turns, collections FROM conversations WHERE id = ?",
                                            (conversation_id,)).fetchone()
            self.check_room(turns)
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?)",
                       (conversation_id, turns, question, json.dumps(answer, ensure_ascii=False), time.time()))
            db.executemany("INSERT OR IGNORE INTO cited VALUES (?, ?, ?)",
                           [(document, conversation_id, turns) for document in sorted(documents)])
            collections = json.loads(collections)
            db.execute("UPDATE conversations SET turns = ?, collections = ?, topic = ?, last_asked = ? WHERE id = ?",
                       (turns + 1, json.dumps(collections + [collection] if collection not in collections
                                              else collections), json.dumps(topic) if topic else None, now,
                        conversation_id))

    def turns(self, conversation_id: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT answer, asked_at FROM turns WHERE conversation_id = ? ORDER BY idx", (conversation_id,))
        return [{**json.loads(answer), "asked_at": asked_at} for answer, asked_at in rows]

    def delete_conversation(self, conversation_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0

    def forget_document(self, document_id: str) -> int:
        """Remove a document's passages from every turn that quoted them, and from the topic a
        conversation carries forward; how many turns changed."""
        with self.transaction() as db:
            rows = db.execute("SELECT t.conversation_id, t.idx, t.answer FROM cited c JOIN turns t "
                              "ON t.conversation_id = c.conversation_id AND t.idx = c.idx WHERE c.document_id = ?",
                              (document_id,)).fetchall()
            for conversation_id, idx, answer in rows:
                answer = json.loads(answer)
                answer["passages"] = [passage for passage in answer.get("passages", [])
                                      if passage["citation"]["document_id"] != document_id]
                db.execute("UPDATE turns SET answer = ? WHERE conversation_id = ? AND idx = ?",
                           (json.dumps(answer, ensure_ascii=False), conversation_id, idx))
            db.execute("DELETE FROM cited WHERE document_id = ?", (document_id,))
            db.execute("UPDATE conversations SET topic = json_set(topic, '$.document_id', NULL, '$.title', '') "
                       "WHERE json_extract(topic, '$.document_id') = ?", (document_id,))
            return len(rows)

    def _prune(self, db: sqlite3.Connection) -> None:
        """Delete conversations idle for longer than max_age_days (by the index on last_asked: what is
        due, not a scan), and every PRUNE_COUNT_EVERY new ones, all but the newest max_count (their
        turns go by cascade: foreign keys are on for every connection)."""
        db.execute("DELETE FROM conversations WHERE last_asked < ?", (time.time() - self.max_age_days * 86400,))
        self._started += 1
        if self._started % PRUNE_COUNT_EVERY == 1 or self.max_count < PRUNE_COUNT_EVERY:
            db.execute("DELETE FROM conversations WHERE created_at < (SELECT created_at FROM conversations "
                       "ORDER BY created_at DESC LIMIT 1 OFFSET ?)", (self.max_count - 1,))
