"""Crashes: `qa serve` is SIGKILLed at a random moment while three clients upload documents, 20
times over the same index folder. After each kill the index must open and be consistent, and every
upload that had been answered 201 must be there with its content.

Consistent means: every passage belongs to a document; the FAISS file named after the store's
generation and the BM25 file claiming it hold one entry per passage (files of other generations are
never loaded), and the loaded indexes hold one entry per passage. About a minute: each trial restarts the server.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import faiss
import pytest

from qa.index import DATABASE, LEXICAL, VECTORS, Index
from qa.lexical import LexicalIndex
from tests.conftest import API_TOKEN
from tests.test_load import free_port, start_server

TRIALS = 20
WRITERS = 3
WORDS = "owl hawk falcon kestrel eagle osprey buzzard kite harrier vulture condor".split()


def upload_until_killed(port: int, number: int, trial: int, confirmed: dict[str, str], lock: threading.Lock,
                        cut_off: list[int]) -> None:
    rng = random.Random(trial * 100 + number)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(10_000):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 600))) + f". Trial {trial}, {number}, {i}."
        body = json.dumps({"text": text, "source": f"crash/{trial}/{number}/{i}.txt"})
        try:
            connection.request("POST", "/api/documents", body=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"})
            response = connection.getresponse()
            answer = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError):
            with lock:
                cut_off.append(trial)  # the server died under this request: it was never confirmed
            return
        if response.status == 201:
            with lock:
                confirmed[answer["id"]] = answer["hash"]
        else:
            raise AssertionError(f"upload answered {response.status}: {answer}")


def check_consistent(folder: Path, confirmed: dict[str, str]) -> int:
    with sqlite3.connect(folder / DATABASE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = db.execute("SELECT COUNT(*) FROM passages WHERE document_id NOT IN (SELECT id FROM documents)")
        assert orphans.fetchone()[0] == 0
        passages = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        stored = dict(db.execute("SELECT id, hash FROM documents"))
    for document_id, digest in confirmed.items():
        assert stored.get(document_id) == digest, f"confirmed upload {document_id} lost"
    current = folder / VECTORS.format(generation=generation)
    if current.is_file():  # the file claims to be current: it must be
        assert faiss.read_index(str(current)).ntotal == passages
    if (folder / LEXICAL).is_file():
        lexical, saved_at = LexicalIndex.load(folder / LEXICAL)
        if saved_at == generation:
            assert len(lexical) == passages
    index = Index(folder)
    try:
        assert len(index.vectors) == passages  # loaded, or rebuilt from SQLite
        assert len(index.lexical) == passages
    finally:
        index.close()
    return len(stored)


@pytest.mark.model
def test_killed_server_keeps_every_confirmed_upload(seeds_index_dir, tmp_path):
    folder = tmp_path / "index"
    shutil.copytree(seeds_index_dir, folder)
    rng = random.Random(6)
    confirmed: dict[str, str] = {}
    lock = threading.Lock()
    cut_off: list[int] = []
    for trial in range(TRIALS):
        port = free_port()
        with open(tmp_path / f"server-{trial}.log", "wb") as log:
            server = start_server(folder, port, log)
        writers = [threading.Thread(target=upload_until_killed, args=(port, n, trial, confirmed, lock, cut_off))
                   for n in range(WRITERS)]
        before = len(confirmed)
        for writer in writers:
            writer.start()
        # A random moment once uploads are landing (on a loaded machine the first takes a while), so
        # that every trial kills a server that has confirmed something and is writing more.
        waited = time.monotonic()
        while len(confirmed) == before and time.monotonic() - waited < 60:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        os.killpg(server.pid, signal.SIGKILL)  # the master and its worker processes, as a machine's crash would
        server.wait()
        for writer in writers:
            writer.join()
        documents = check_consistent(folder, confirmed)  # raises on the first inconsistency
    killed_mid_request = len(set(cut_off))
    print(f"\ncrash: {TRIALS} kills, {killed_mid_request} with an upload in flight, {len(confirmed)} confirmed "
          f"uploads all present, {documents} documents")
    # The kills must have hit the server while it was writing, and uploads confirmed before a kill
    # must have been checked after it, or the checks above proved nothing.
    assert killed_mid_request >= TRIALS // 2 and len(confirmed) >= TRIALS // 2


@pytest.mark.model
def test_a_truncated_faiss_file_is_rebuilt_when_the_server_starts(index_dir, tmp_path):
    index = Index(index_dir)
    vectors = index.vectors_file(index.store.generation)
    index.close()
    vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 3])
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server = start_server(index_dir, port, log)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/health")
        health = json.loads(connection.getresponse().read())
        assert health["consistent"] and health["vectors"] == health["passages"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    log_text = log_path.read_text()
    assert "WARNING" in log_text and "rebuilding" in log_text and vectors.name in log_text
