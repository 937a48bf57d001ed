"""Serving: how `qa serve` runs questions (threads, worker processes), seen from outside where it can be."""
from __future__ import annotations

import threading

import faiss
import pytest
import waitress

from qa.app import create_app


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
    import http.client
    import json

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
