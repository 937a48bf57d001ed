"""The API's conversations: their turns in their own SQLite file beside the index (conversations.sqlite3).

A question writes a turn; kept in the passages' database, that write would make every reader drop
its page cache on the next question."""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

from qa.store import Database, statements

log = logging.getLogger(__name__)

CONVERSATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    asked_at REAL NOT NULL,
    PRIMARY KEY (conversation_id, idx)
);
"""


class ConversationStore(Database):
    """Conversations and their turns, in their own file: a question writes a turn, and a write to
    the passages' database would make every reader drop its page cache on the next question.
    Turns are stored as JSON: the question, the passages cited, and the context carried forward.

    Kept for `max_age_days` after their last turn and at most `max_count` of them (the newest):
    older ones are deleted, with their turns, whenever a new conversation starts. In a folder that
    cannot be written, conversations live in memory until the process ends."""

    def __init__(self, path: Path, max_age_days: float = 30, max_count: int = 10_000):
        self.max_age_days, self.max_count = max_age_days, max_count
        super().__init__(path, CONVERSATION_SCHEMA)

    def unwritable(self, schema: str, error: sqlite3.OperationalError) -> None:
        log.warning("conversations are kept in memory: %s cannot be written (%s)", self.path, error)
        self._uri = f"file:conversations-{id(self)}?mode=memory&cache=shared"
        self._keeper = self.db  # a shared in-memory database lives while one connection is open
        with self.transaction() as db:
            for statement in statements(schema):
                db.execute(statement)

    def conversation_exists(self, conversation_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is not None

    def add_turn(self, conversation_id: str, question: str, answer: dict) -> None:
        """Append a turn, creating the conversation with its first one."""
        with self.transaction() as db:
            if db.execute("INSERT OR IGNORE INTO conversations VALUES (?, ?)", (conversation_id, time.time())).rowcount:
                self._prune(db)
            (count,) = db.execute("SELECT COUNT(*) FROM turns WHERE conversation_id = ?", (conversation_id,)).fetchone()
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?)",
                       (conversation_id, count, question, json.dumps(answer, ensure_ascii=False), time.time()))

    def turns(self, conversation_id: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT answer, asked_at FROM turns WHERE conversation_id = ? ORDER BY idx", (conversation_id,))
        return [{**json.loads(answer), "asked_at": asked_at} for answer, asked_at in rows]

    def delete_conversation(self, conversation_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0

    def _prune(self, db: sqlite3.Connection) -> None:
        """Delete conversations idle for longer than max_age_days, then all but the newest max_count
        (their turns go by cascade: foreign keys are on for every connection)."""
        cutoff = time.time() - self.max_age_days * 86400
        db.execute("DELETE FROM conversations WHERE created_at < ? AND NOT EXISTS "
                   "(SELECT 1 FROM turns WHERE conversation_id = conversations.id AND asked_at >= ?)", (cutoff, cutoff))
        db.execute("DELETE FROM conversations WHERE id IN "
                   "(SELECT id FROM conversations ORDER BY created_at DESC LIMIT -1 OFFSET ?)", (self.max_count,))
