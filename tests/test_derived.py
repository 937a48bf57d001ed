"""FAISS and BM25 following the store (qa/derived.py): a write holds the question lock only while
the in-memory indexes change, the files are saved off the request path, and a file left behind by a
crash is caught up by the passage-id difference, never served as it is."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from qa.catchup import difference
from qa.documents import make_document
from qa.index import Index
from qa.ingest import add_documents
from qa.lexical import LexicalIndex
from qa.store import Store
from qa.terms import stem
from qa.vectors import VectorIndex
from tests.conftest import ROOT

HERONS = "Grey herons stand still in shallow water for hours, waiting for fish to swim past."


def question_lock_is_free(index: Index) -> bool:
    """Whether a question could take the lock it searches under right now (asked from another thread)."""
    free = []

    def probe() -> None:
        if index.derived.reading.acquire(timeout=0):
            index.derived.reading.release()
            free.append(True)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return bool(free)


def stored_ids(index: Index) -> set[int]:
    return {row[0] for row in index.store.db.execute("SELECT id FROM passages")}


def test_questions_are_not_held_up_while_a_write_commits_or_the_files_are_saved(index_dir, test_embedder, monkeypatch):
    """Before, an upload held the question lock through its SQLite write and the rewrite of both files."""
    index = Index(index_dir, test_embedder)
    index.refresh()
    seen: dict[str, bool] = {}

    def watching(name, original):
        def wrapper(*args, **kwargs):
            seen[name] = question_lock_is_free(index)
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(Store, "replace_document", watching("commit", Store.replace_document))
    monkeypatch.setattr(VectorIndex, "save", watching("faiss file", VectorIndex.save))
    monkeypatch.setattr(LexicalIndex, "save", watching("bm25 file", LexicalIndex.save))
    add_documents(index, [make_document(HERONS, "herons.txt")])
    index.save_vectors()
    assert seen == {"commit": True, "faiss file": True, "bm25 file": True}


def test_files_are_saved_by_the_saver_not_by_the_request(index_dir, test_embedder, monkeypatch):
    index = Index(index_dir, test_embedder)
    index.refresh()
    savers = []
    original = VectorIndex.save
    monkeypatch.setattr(VectorIndex, "save", lambda self, path: savers.append(threading.current_thread().name)
                        or original(self, path))
    add_documents(index, [make_document(HERONS, "herons.txt")])
    assert stem("herons") in index.lexical.vocabulary  # the next question sees the write at once
    deadline = time.monotonic() + 60
    while not index.vectors_file(index.store.generation).is_file() and time.monotonic() < deadline:
        time.sleep(0.05)  # the saver's first save starts at once; later ones wait out SAVE_INTERVAL
    assert savers and all(name.startswith("qa-saver") for name in savers)
    assert len(VectorIndex.load(index.vectors_file(index.store.generation), index.dimension)) == len(stored_ids(index))


CRASH_AFTER_WRITES = """
import os, sys
from qa.documents import make_document
from qa.index import Index
from qa.ingest import add_documents
index = Index(sys.argv[1], sys.argv[2])
add_documents(index, [make_document("Kingfishers dive for small fish from a branch above the stream.", "kingfisher.txt")])
index.derived.saver.flush()  # saved once, as the saver would after the first write
first = index.store.documents()[0]["id"]
add_documents(index, [make_document("Grey herons stand still in shallow water for hours, waiting.", "herons.txt")])
add_documents(index, [make_document("Kingfishers nest in tunnels they dig in sandy river banks.", "kingfisher.txt")])
index.remove_document(first)
os._exit(0)  # killed before the next save (and before the exit handlers)
"""


def test_a_crash_between_saves_costs_a_catch_up_not_a_rebuild(index_dir, test_embedder, caplog):
    """The files on disk are a few writes behind (a replaced document with as many passages, an
    addition, a removal): the next load catches them up exactly, and never serves them as they are."""
    caplog.set_level("INFO")
    result = subprocess.run([sys.executable, "-c", CRASH_AFTER_WRITES, str(index_dir), test_embedder], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    index = Index(index_dir, test_embedder)
    generation = index.store.generation
    assert not index.vectors_file(generation).is_file()  # the crash left the files behind
    current = stored_ids(index)
    assert {i for i, _ in index.search(index.embedder.encode_query("kingfisher"), 100)} == current
    assert {i for i, _ in index.bm25([stem("kingfishers")], 10)} == {
        row[0] for row in index.store.db.execute("SELECT id FROM passages WHERE text LIKE 'Kingfishers nest%'")}
    assert {i for i, _ in index.bm25([stem("herons")], 10)}
    assert "catching up" in caplog.text and "rebuilding" not in caplog.text
    index.close()
    assert index.vectors_file(generation).is_file()  # and saved for the next start


def test_a_write_by_another_process_is_caught_up_in_memory(index_dir, test_embedder):
    index = Index(index_dir, test_embedder)
    index.refresh()
    other = Index(index_dir, test_embedder)
    removed = other.store.documents()[0]["id"]
    other.remove_document(removed)
    add_documents(other, [make_document(HERONS, "herons.txt")])
    other.close()
    vectors, lexical = index.refresh()
    assert set(lexical.live_ids().tolist()) == set(vectors.ids().tolist()) == stored_ids(index)
    assert index.bm25([stem("herons")], 5)


def test_difference_reads_the_full_id_list_only_when_needed(tmp_path):
    db = sqlite3.connect(tmp_path / "ids.sqlite3")
    db.execute("CREATE TABLE passages (id INTEGER PRIMARY KEY AUTOINCREMENT)")
    db.executemany("INSERT INTO passages (id) VALUES (?)", [(i,) for i in (1, 2, 3, 4, 5)])
    db.execute("DELETE FROM passages WHERE id IN (2, 3)")
    db.executemany("INSERT INTO passages (id) VALUES (?)", [(6,), (7,)])
    for exact in (True, False):
        removed, added = difference(db, np.array([1, 2, 3, 4, 5]), exact=exact)
        assert removed.tolist() == [2, 3] and added.tolist() == [6, 7]
    removed, added = difference(db, np.array([1, 4, 5]), exact=True)
    assert removed.tolist() == [] and added.tolist() == [6, 7]


@pytest.mark.parametrize("behind", ["flat", "lexical"])
def test_a_file_from_another_database_is_rebuilt(index_dir, test_embedder, behind, caplog):
    """A file of a higher generation than the store was built from another database: never loaded."""
    caplog.set_level("INFO")
    index = Index(index_dir, test_embedder)
    generation = index.store.generation
    if behind == "flat":
        index.vectors_file(generation).rename(index.vectors_file(generation + 5))
    else:
        lexical, _ = LexicalIndex.load(index.files.lexical)
        lexical.add([10**9], [("Other", "a passage of another database")])
        lexical.save(index.files.lexical, generation + 5)
    vectors, lexical = Index(index_dir, test_embedder).refresh()
    assert set(vectors.ids().tolist()) == set(lexical.live_ids().tolist()) == stored_ids(index)
    assert "rebuilding" in caplog.text and "catching up" not in caplog.text


def test_searches_asked_together_of_a_large_flat_index_read_it_once_and_find_what_they_find_alone(
        index_dir, test_embedder, monkeypatch):
    """Unfiltered searches queued while one runs go to FAISS as one call (its vectors read once for
    all: 8 queries at 98,606 vectors, 72 ms one by one, 20 ms together). Each finds the passages it
    finds alone; a score may differ in its last bit."""
    import qa.derived

    monkeypatch.setattr(qa.derived, "BATCH_SEARCH_FROM", 1)  # the seeds' 14 passages count as large
    index = Index(index_dir, test_embedder)
    vectors, _ = index.refresh()
    questions = ["Who is Kaja Kallas?", "rare earth metals", "NATO peacekeeping troops", "What did Zelensky say?",
                 "Why were people protesting?", "Greek president", "Hegseth", "Ukraine minerals deal"]
    queries = [index.embedder.encode_query(q) for q in questions]
    alone = [vectors.search(query, 10) for query in queries]
    found: dict[int, list] = {}

    def search(number: int) -> None:
        found[number] = index.derived.search(queries[number], 10)

    with index.derived.reading:  # the first search waits for it; the others queue behind that one
        threads = [threading.Thread(target=search, args=(n,)) for n in range(len(queries))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(index.derived._flat_searches._queue) < len(queries) - 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    for thread in threads:
        thread.join(10)
    searches = index.derived._flat_searches
    assert (searches.items, searches.passes) == (len(queries), 2)  # the first alone, then seven together
    for number, hits in enumerate(alone):
        assert [pid for pid, _ in found[number]] == [pid for pid, _ in hits]
        assert np.allclose([s for _, s in found[number]], [s for _, s in hits], atol=1e-6)
    index.close()
