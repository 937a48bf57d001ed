"""Answer latency over HTTP against `qa serve`, beside the in-process floor, on the seeds index and on
an index of 100,000 passages.

    .venv/bin/python bench/query.py [--json] [--passages 100000]

The large index reuses real passages (with their vectors and sentences) of the cmu-s08 corpus under
new document ids, so it builds in seconds. Questions are the eval sets' questions, each asked once
per server (the server caches question vectors, so repeats would flatter it). Reported: p50 / p95 /
p99 / max per /api/ask with 1 client and with 8 concurrent clients (and answers/s), cold start
(process start to the first answer on the seeds), and the floor: one encode of the question plus
one FAISS search, in process.
"""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation import build_eval_index, load_questions  # noqa: E402
from qa.index import DATABASE, Index  # noqa: E402
from qa.ingest import ingest  # noqa: E402

EVAL = ROOT / "tests" / "data" / "eval"


def questions() -> list[str]:
    return [q.question for s in ("cmu-s08", "xquad-en") for q in load_questions(EVAL / s)]


def build_large(folder: Path, target: int) -> Path:
    """Copies of the cmu-s08 passages under new document ids until `target` passages."""
    source = build_eval_index(EVAL / "cmu-s08", progress=False)
    source_db = source.folder / DATABASE
    Index(folder, create=True).store.close()
    db = sqlite3.connect(folder / DATABASE)
    db.execute("ATTACH ? AS src", (str(source_db),))
    db.execute("INSERT OR REPLACE INTO meta SELECT * FROM src.meta WHERE key IN ('model', 'dimension', 'chunking')")
    per_copy = db.execute("SELECT COUNT(*) FROM src.passages").fetchone()[0]
    for copy in range(-(-target // per_copy)):
        db.execute("INSERT INTO documents SELECT id || ?1, title, source || '#' || ?1, hash, text, added_at "
                   "FROM src.documents", (str(copy),))
        db.execute("INSERT INTO passages (document_id, idx, start, end, text, vector, sentences, sentence_vectors) "
                   "SELECT document_id || ?1, idx, start, end, text, vector, sentences, sentence_vectors "
                   "FROM src.passages ORDER BY id", (str(copy),))
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    db.commit()
    db.close()
    index = Index(folder)
    index.save_vectors()  # as an ingest leaves it: the FAISS and BM25 files written
    index.close()
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(connection: http.client.HTTPConnection, question: str) -> float:
    body = json.dumps({"question": question, "top_k": 5})
    started = time.perf_counter()
    connection.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"/api/ask answered {response.status}")
    return elapsed


def serve(index: Path) -> tuple[subprocess.Popen, int, float]:
    """Start `qa serve`; returns the process, its port and seconds until the first answer."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            ask(http.client.HTTPConnection("127.0.0.1", port, timeout=60), "Who is Kaja Kallas?")
            return process, port, time.perf_counter() - started
        except (ConnectionRefusedError, RuntimeError, http.client.HTTPException, OSError):
            if process.poll() is not None or time.perf_counter() - started > 300:
                raise RuntimeError("qa serve did not start")
            time.sleep(0.02)


def summary(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
    return {"requests": len(ordered), "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "max_ms": round(ordered[-1], 2)}


def load(port: int, asked: list[str], clients: int) -> dict:
    latencies: list[float] = []
    errors = []
    lock = threading.Lock()

    def client(share: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for question in share:
            try:
                elapsed = ask(connection, question)
                with lock:
                    latencies.append(elapsed)
            except Exception as error:  # counted, not raised: the figure is the error count
                errors.append(str(error))
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    threads = [threading.Thread(target=client, args=(asked[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {**summary(latencies), "clients": clients, "answers_per_s": round(len(latencies) / elapsed, 1),
            "errors": len(errors)}


def floor(index_dir: Path, asked: list[str]) -> dict:
    """One question encode + one FAISS search, in process, each question once."""
    index = Index(index_dir)
    index.embedder.encode_documents(["warm up"])
    index.vectors  # load
    times = []
    for question in asked:
        started = time.perf_counter()
        index.vectors.search(index.embedder.encode_documents([question])[0], 50)
        times.append((time.perf_counter() - started) * 1000)
    return summary(times)


def run(name: str, index_dir: Path, pool: list[str]) -> dict:
    process, port, cold = serve(index_dir)
    try:
        one = load(port, pool[:300], 1)
        eight = load(port, pool[300:1500], 8)
        rss = int(next(line.split()[1] for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS")))
    finally:
        process.terminate()
        process.wait()
    base = floor(index_dir, pool[:300])
    return {"index": name, "passages": Index(index_dir).store.counts()[1], "cold_start_s": round(cold, 2),
            "one_client": one, "eight_clients": eight, "floor": base,
            "one_client_p50_over_floor": round(one["p50_ms"] / base["p50_ms"], 2), "server_rss_mb": rss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--passages", type=int, default=100_000)
    args = parser.parse_args()
    pool = questions()
    with tempfile.TemporaryDirectory() as work:
        seeds = Path(work) / "seeds"
        ingest(Index(seeds, create=True), [ROOT / "seeds"], progress=False)
        rows = [run("seeds", seeds, pool)]
        rows.append(run(f"{args.passages:,} passages", build_large(Path(work) / "large", args.passages), pool[::-1]))
    if args.json:
        print(json.dumps(rows))
        return
    print("index | passages | clients | p50 ms | p95 ms | p99 ms | max ms | answers/s | errors | floor p50 ms | cold start s")
    for r in rows:
        for key in ("one_client", "eight_clients"):
            c = r[key]
            print(f"{r['index']} | {r['passages']} | {c['clients']} | {c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} | "
                  f"{c['max_ms']} | {c['answers_per_s']} | {c['errors']} | {r['floor']['p50_ms']} | {r['cold_start_s']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
