"""Conversations are not kept forever: pruned by age and count when a new one starts, turns with them."""
from __future__ import annotations

import sqlite3
import time

from qa.app import create_app
from qa.history import ConversationStore

DAY = 86400


def rows(path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_deleting_a_conversation_deletes_its_turns(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    store = ConversationStore(path)
    for turn in range(3):
        store.add_turn("a" * 32, f"question {turn}", {"passages": []})
    store.add_turn("b" * 32, "another", {"passages": []})
    assert store.delete_conversation("a" * 32)
    assert rows(path, "turns") == 1 and rows(path, "conversations") == 1
    assert store.turns("a" * 32) == [] and len(store.turns("b" * 32)) == 1


def test_conversations_idle_past_the_age_limit_go_when_a_new_one_starts(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    store = ConversationStore(path)  # the defaults: 30 days
    store.add_turn("a" * 32, "old", {"passages": []})
    store.add_turn("a" * 32, "old again", {"passages": []})
    store.add_turn("b" * 32, "old, but asked again yesterday", {"passages": []})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE conversations SET created_at = ?", (time.time() - 40 * DAY,))
        db.execute("UPDATE turns SET asked_at = ?", (time.time() - 31 * DAY,))
        db.execute("UPDATE turns SET asked_at = ? WHERE conversation_id = ?", (time.time() - DAY, "b" * 32))
    store.add_turn("c" * 32, "new", {"passages": []})
    assert not store.conversation_exists("a" * 32)
    assert store.conversation_exists("b" * 32) and store.conversation_exists("c" * 32)
    assert rows(path, "turns") == 2


def test_only_the_newest_conversations_are_kept_through_the_api(index_dir):
    client = create_app({"INDEX": str(index_dir), "CONVERSATION_MAX_COUNT": 2, "TESTING": True}).test_client()
    ids = [client.post("/api/ask", json={"question": f"Who is Kaja Kallas? ({n})"}).get_json()["conversation_id"]
           for n in range(3)]
    assert [client.get(f"/api/conversations/{i}").status_code for i in ids] == [404, 200, 200]
    assert rows(index_dir / "conversations.sqlite3", "turns") == 2
