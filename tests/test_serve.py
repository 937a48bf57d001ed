"""Serving: how `qa serve` runs questions (threads, worker processes), seen from outside where it can be."""
from __future__ import annotations

import http.client
import json
import os
import random
import signal
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import faiss
import psutil
import pytest
import waitress

from qa.app import create_app
from qa.derived import saved_generation
from qa.index import Index
from tests.conftest import ROOT


@pytest.fixture
def served(built_index_dir):
    """The app behind waitress in this process (its worker threads answer), on a free loopback port."""
    server = waitress.create_server(create_app({"INDEX": str(built_index_dir)}), host="127.0.0.1", port=0,
                                    threads=4, ident="qa")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(5)


def test_every_faiss_search_runs_on_one_openmp_thread_in_the_server_threads(served, monkeypatch):
    """OpenMP's thread count is per thread: `faiss.omp_set_num_threads(1)` in the main thread left
    waitress's worker threads at the core count, so each search spread over every core while other
    questions waited for them (a flat search at 100k: 18.6 ms instead of 5.4). Checked inside the
    search, in the worker thread that runs it."""
    seen: list[tuple[str, int]] = []
    search = faiss.IndexIDMap2.search

    def watched(self, *args, **kwargs):
        seen.append((threading.current_thread().name, faiss.omp_get_max_threads()))
        return search(self, *args, **kwargs)

    monkeypatch.setattr(faiss.IndexIDMap2, "search", watched)
    host, port = served.removeprefix("http://").split(":")
    answers: list[tuple[int, dict]] = []

    def ask(question: str) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            connection.request("POST", "/api/ask", json.dumps({"question": question}),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read())))
        finally:
            connection.close()

    clients = [threading.Thread(target=ask, args=(f"Who is Kaja Kallas? ({n})",)) for n in range(8)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert [status for status, _ in answers] == [200] * 8 and all(body["passages"] for _, body in answers)
    assert len(seen) >= 8
    assert all(name != threading.main_thread().name for name, _ in seen)
    assert {threads for _, threads in seen} == {1}, seen


# -- several worker processes (qa serve --workers N) -----------------------------------------------

API_TOKEN = "serve-test-token"
WAIT_SECONDS = 60  # how long to wait for a server or the watcher (a bound, not a latency goal)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`qa serve --workers N` over an index folder (the hashing test embedder: QA_MODEL is set)."""

    def __init__(self, index: Path, workers: int, log: Path):
        self.port = free_port()
        self.log = open(log, "wb")
        env = {**os.environ, "QA_API_TOKEN": API_TOKEN, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(self.port),
             "--workers", str(workers), "--threads", "4"], env=env, stdout=self.log, stderr=self.log, cwd=ROOT)
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.workers()) < workers or not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"qa serve did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)

    def answers(self) -> bool:
        try:
            return Connection(self).call("GET", "/api/health")[0] == 200
        except OSError:
            return False

    def workers(self) -> set[int]:
        return {child.pid for child in psutil.Process(self.process.pid).children()}

    def connection_to(self, pid: int) -> Connection:
        """A keep-alive connection that the worker `pid` accepted (the kernel picks one per connection)."""
        for _ in range(200):
            connection = Connection(self)
            if connection.worker() == pid:
                return connection
            connection.close()
        raise AssertionError(f"no connection reached worker {pid}")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=WAIT_SECONDS)
        finally:
            self.log.close()


class Connection:
    def __init__(self, server: Server):
        self.server = server
        self.http = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        self.http.connect()
        self.pid: int | None = None

    def worker(self) -> int | None:
        """The worker process holding this connection's other end (found with psutil, as `ss -p` would)."""
        self.call("GET", "/api/health")  # accepted and answered: the connection belongs to a worker now
        local = self.http.sock.getsockname()[1]
        for pid in self.server.workers():
            for found in psutil.Process(pid).net_connections(kind="tcp"):
                if found.raddr and found.raddr.port == local:
                    self.pid = pid
                    return pid
        return None

    def call(self, method: str, path: str, body: dict | None = None, token: bool = False) -> tuple[int, dict | None]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {API_TOKEN}"
        self.http.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = self.http.getresponse()
        raw = response.read()
        if self.pid is not None:  # the worker closed an idle keep-alive connection: this call went elsewhere
            assert not response.will_close or method == "GET", "a keep-alive connection was closed"
        return response.status, json.loads(raw) if raw else None

    def ask(self, question: str) -> list[str]:
        status, body = self.call("POST", "/api/ask", {"question": question, "top_k": 5})
        assert status == 200, body
        return [hit["citation"]["source"] for hit in body["passages"]]

    def close(self) -> None:
        self.http.close()


def unique_words(seed: int, count: int = 3) -> list[str]:
    """Words no other document holds (letters only, so every tokenizer keeps them whole)."""
    rng = random.Random(seed)
    return ["".join(rng.choice(string.ascii_lowercase) for _ in range(12)) for _ in range(count)]


def document_about(seed: int) -> tuple[str, str]:
    words = unique_words(seed)
    return (f"Field notes {seed}. The {words[0]} heron waits by the {words[1]} reeds for the {words[2]} fish. "
            f"Nothing else in these notes is about herons."), " ".join(words)


@pytest.fixture
def two_workers(index_dir, tmp_path):
    server = Server(index_dir, 2, tmp_path / "serve.log")
    try:
        yield server
    finally:
        server.stop()


def test_an_upload_through_one_worker_is_cited_by_the_next_answer_of_the_other(two_workers):
    """Each process keeps FAISS and BM25 in memory; a write through one must be seen by the next
    question through another (it catches up with the store before it answers), and a delete too."""
    first, second = sorted(two_workers.workers())
    a, b = two_workers.connection_to(first), two_workers.connection_to(second)
    text, question = document_about(1)
    assert "notes-1.txt" not in b.ask(question)  # b has answered before: it must catch up, not load
    status, created = a.call("POST", "/api/documents", {"text": text, "source": "notes-1.txt"}, token=True)
    assert status == 201
    assert b.ask(question)[0] == "notes-1.txt"
    assert b.call("GET", "/api/health")[1]["consistent"] and a.call("GET", "/api/health")[1]["consistent"]
    status, _ = b.call("DELETE", f"/api/documents/{created['id']}", token=True)
    assert status == 204
    assert "notes-1.txt" not in a.ask(question)
    assert "notes-1.txt" not in b.ask(question)
    assert a.pid == first and b.pid == second  # each call went to the worker meant


def test_a_stream_of_uploads_and_deletes_with_several_workers_loses_nothing_and_serves_nothing_stale(
        two_workers, index_dir, test_embedder):
    """One client uploads (and deletes older uploads) through either worker while clients on both
    ask about the newest upload and the newest delete: every question is answered, an upload that
    returned is cited by every question asked after it, a delete that returned by none. Then the
    server stops, and the FAISS and BM25 files its workers saved hold the store as it is."""
    workers = sorted(two_workers.workers())
    writer = {pid: two_workers.connection_to(pid) for pid in workers}
    uploaded: list[tuple[int, str]] = []  # (seed, document id), in the order their uploads returned
    deleted: list[int] = []
    errors: list[str] = []
    done = threading.Event()
    asked = [0]

    def write() -> None:
        try:
            for seed in range(100, 124):
                connection = writer[workers[seed % 2]]
                text, _ = document_about(seed)
                status, body = connection.call("POST", "/api/documents", {"text": text, "source": f"notes-{seed}.txt"},
                                               token=True)
                assert status == 201, body
                uploaded.append((seed, body["id"]))
                if len(uploaded) >= 4 and seed % 3 == 0:  # delete an older one through the other worker
                    old_seed, old_id = uploaded[-4]
                    status, _ = writer[workers[(seed + 1) % 2]].call("DELETE", f"/api/documents/{old_id}", token=True)
                    assert status == 204
                    deleted.append(old_seed)
        except Exception as error:  # noqa: BLE001 - reported by the test below
            errors.append(f"writer: {error!r}")
        finally:
            done.set()

    def ask(pid: int) -> None:
        connection = two_workers.connection_to(pid)
        try:
            while not done.is_set():
                if uploaded:
                    seed, _ = uploaded[-1]  # returned before this question is sent
                    if seed not in deleted:
                        cited = connection.ask(document_about(seed)[1])
                        if not cited or cited[0] != f"notes-{seed}.txt":
                            errors.append(f"worker {pid}: notes-{seed}.txt uploaded, answer cites {cited}")
                if deleted:
                    seed = deleted[-1]
                    cited = connection.ask(document_about(seed)[1])
                    if f"notes-{seed}.txt" in cited:
                        errors.append(f"worker {pid}: notes-{seed}.txt deleted, still cited")
                asked[0] += 1
        except Exception as error:  # noqa: BLE001
            errors.append(f"worker {pid}: {error!r}")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=ask, args=(pid,)) for pid in workers * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(uploaded) == 24 and deleted and asked[0] > 24
    assert two_workers.stop() == 0

    index = Index(index_dir, test_embedder)
    generation = index.store.generation
    assert index.files.vectors_file(generation).is_file()  # saved at the store's last write: no catch-up to do
    assert saved_generation(index.files.lexical) == generation
    documents, passages = index.store.counts()
    assert len(index.vectors) == len(index.lexical) == passages
    assert documents == 2 + len(uploaded) - len(deleted)
    index.close()


def test_a_folder_watcher_beside_several_workers(index_dir, tmp_path):
    """`qa ingest --watch` is a third process writing: both workers answer from what it synced, and
    stop citing a file once it is deleted."""
    folder = tmp_path / "notes"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "watch.log", "wb") as log:
        watcher = subprocess.Popen([sys.executable, "-m", "qa.cli", "ingest", "--watch", "--index", str(index_dir),
                                    str(folder)], env=env, stdout=log, stderr=log, cwd=ROOT)
    server = Server(index_dir, 2, tmp_path / "serve.log")
    try:
        connections = [server.connection_to(pid) for pid in sorted(server.workers())]
        text, question = document_about(7)
        (folder / "heron.txt").write_text(text, encoding="utf-8")
        for connection in connections:
            wait_until(lambda: connection.ask(question)[:1] == ["heron.txt"], "the watcher's sync, seen by each worker")
        (folder / "heron.txt").unlink()
        for connection in connections:
            wait_until(lambda: "heron.txt" not in connection.ask(question), "the deletion, seen by each worker")
    finally:
        server.stop()
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=WAIT_SECONDS)


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS}s for {what}")
        time.sleep(0.1)
