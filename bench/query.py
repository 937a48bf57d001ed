"""Answer latency over HTTP against `qa serve`: 100k distinct passages on both FAISS paths, medians
of several runs, and p99 while a client uploads a document every second.

    .venv/bin/python bench/query.py [--runs 5] [--types flat ivf] [--no-seeds] [--json]

The large index is bench/corpus.py's (built once, ~20 minutes, then reused): ~100k passages, no two
the same, with xquad-en and cmu-s08 kept whole, so each of their 1,595 questions has its evidence in
one document. A working copy of it is made per FAISS type (QA_INDEX_TYPE: the first server start
rebuilds the FAISS file to that type) so uploads never touch the cached index.

Each run, for each type, starts fresh servers (the server caches question vectors, so no question is
asked twice of one server) on 127.0.0.1:

- server A: 300 questions with 1 client, then 1,200 with 8 clients: p50 / p95 / p99 / max and
  answers/s; hit@1 and hit@5 of the answers (the right document, with the answer string) and how
  many passages an answer carries, so a degenerate index shows; the server's resident memory;
- the floor, in process while no server runs: one question encode + one FAISS search;
- server B (QA_API_TOKEN set): half the questions with 1 client and nothing else, then the other
  half while another client POSTs a ~3-passage document to /api/documents once a second (replacing
  the same few sources, so the index stays the same size): p99 with and without uploads.

Reported: the median of the runs with the spread (min-max), never the best run. Every loop is
bounded by its question list; the upload client stops with its phase.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
from qa.evaluation import fold  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import ingest  # noqa: E402

TOKEN = "bench-token"
ONE, EIGHT = 300, 1200  # questions asked by 1 client, then by 8, of server A
UPLOAD_EVERY = 1.0  # seconds between uploads
UPLOAD_SOURCES = 5  # uploads replace these sources in turn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(connection: http.client.HTTPConnection, path: str, body: dict,
         token: str | None = None) -> tuple[float, int, bytes]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    started = time.perf_counter()
    connection.request("POST", path, json.dumps(body), headers)
    response = connection.getresponse()
    data = response.read()
    return (time.perf_counter() - started) * 1000, response.status, data


def serve(index: Path, index_type: str) -> tuple[subprocess.Popen, int, float]:
    """Start `qa serve`; returns the process, its port and seconds until the first answer."""
    port = free_port()
    env = {**os.environ, "QA_INDEX_TYPE": index_type, "QA_API_TOKEN": TOKEN, "QA_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if post(connection, "/api/ask", {"question": "Who is Kaja Kallas?"})[1] == 200:
                return process, port, time.perf_counter() - started
        except (RuntimeError, http.client.HTTPException, OSError):
            pass
        if process.poll() is not None or time.perf_counter() - started > 600:
            process.kill()
            raise RuntimeError("qa serve did not start")
        time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rank(body: dict, question: dict) -> int | None:
    """The eval scorer on the API's JSON: the first rank from the right document holding an answer."""
    wanted = [fold(a) for a in question["answers"]]
    for hit in body["passages"]:
        if hit["citation"]["source"] == question["source"] and any(w in fold(hit["text"]) for w in wanted):
            return hit["rank"]
    return None


def percentile(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "p50_ms": percentile(ordered, 0.50), "p95_ms": percentile(ordered, 0.95),
            "p99_ms": percentile(ordered, 0.99), "max_ms": round(ordered[-1], 2)}


def load(port: int, asked: list[dict], clients: int) -> dict:
    """Each question once, shared among `clients` threads with a connection each."""
    latencies, ranks, returned, errors = [], [], [], []
    lock = threading.Lock()

    def client(share: list[dict]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for question in share:
            try:
                elapsed, status, data = post(connection, "/api/ask", {"question": question["question"], "top_k": 5})
                if status != 200:
                    raise RuntimeError(f"/api/ask answered {status}")
                body = json.loads(data)
                with lock:
                    latencies.append(elapsed)
                    if "answers" in question:
                        ranks.append(rank(body, question))
                    returned.append(len(body["passages"]))
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
    found = {"hit_at_1": round(sum(r == 1 for r in ranks) / len(ranks), 3),
             "hit_at_5": round(sum(r is not None for r in ranks) / len(ranks), 3)} if ranks else {}
    return {**summary(latencies), "clients": clients, "answers_per_s": round(len(latencies) / elapsed, 1),
            "errors": len(errors), "passages_per_answer": round(statistics.mean(returned), 2), **found}


def upload_texts(folder: Path, count: int) -> list[str]:
    """Small documents (~3 passages) of real sentences, reshuffled from digests so none repeats one."""
    rng = random.Random(7)
    digests = sorted((folder / "corpus" / "digests").rglob("*.txt"))[-count:]
    texts = []
    for i, path in enumerate(digests):
        sentences = [s for paragraph in path.read_text(encoding="utf-8").split("\n\n")[1:]
                     for s in corpus.split_sentences(paragraph)]
        rng.shuffle(sentences)
        body = [" ".join(sentences[j : j + 4]) for j in range(0, min(len(sentences), 16), 4)]
        texts.append(f"Upload {i}\n\n" + "\n\n".join(body))
    return texts


def with_uploads(port: int, asked: list[dict], texts: list[str]) -> tuple[dict, dict]:
    """Ask the questions with 1 client while another uploads a document every UPLOAD_EVERY seconds."""
    done = threading.Event()
    uploads: list[float] = []
    failures: list[str] = []

    def uploader() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        due = time.perf_counter() + UPLOAD_EVERY / 2
        count = 0
        while not done.is_set():
            if done.wait(max(0.0, due - time.perf_counter())):
                break
            text = texts[count % len(texts)]
            try:
                elapsed, status, data = post(connection, "/api/documents",
                                             {"text": text, "source": f"bench-upload-{count % UPLOAD_SOURCES}.txt"}, TOKEN)
                if status != 201:
                    raise RuntimeError(f"/api/documents answered {status}: {data[:200]!r}")
                uploads.append(elapsed)
            except Exception as error:  # counted, not raised
                failures.append(str(error))
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            count += 1
            due = max(due + UPLOAD_EVERY, time.perf_counter())  # late: the next one goes at once, no backlog

    thread = threading.Thread(target=uploader)
    thread.start()
    try:
        asked_figures = load(port, asked, 1)
    finally:
        done.set()
        thread.join()
    ordered = sorted(uploads) or [0.0]
    return asked_figures, {"uploads": len(uploads), "errors": len(failures), "p50_ms": percentile(ordered, 0.5),
                           "max_ms": round(ordered[-1], 2), "failures": failures[:3]}


def floor(index_dir: Path, index_type: str, asked: list[dict]) -> dict:
    """One question encode + one FAISS search, in process, each question once."""
    index = Index(index_dir, index_type=index_type)
    index.embedder.encode_documents(["warm up"])
    vectors = index.vectors  # load (the server saved the file of this type)
    if vectors.kind != index_type:
        raise RuntimeError(f"the floor loaded a {vectors.kind} index, not {index_type}")
    times = []
    for question in asked:
        started = time.perf_counter()
        vectors.search(index.embedder.encode_documents([question["question"]])[0], 50)
        times.append((time.perf_counter() - started) * 1000)
    index.close()
    return summary(times)


def prepare(index_dir: Path, index_type: str) -> None:
    """The FAISS file rebuilt to this type and saved now, so run 1's start is a start like the others."""
    index = Index(index_dir, index_type=index_type)
    index.refresh()
    index.save_vectors()
    index.close()


def rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith("VmRSS"))) // 1024


def run(index_dir: Path, index_type: str, pool: list[dict], texts: list[str]) -> dict:
    process, port, cold = serve(index_dir, index_type)
    try:
        one = load(port, pool[:ONE], 1)
        eight = load(port, pool[ONE : ONE + EIGHT], 8)
        rss = rss_mb(process.pid)
    finally:
        stop(process)
    base = floor(index_dir, index_type, pool[:ONE])
    row = {"type": index_type, "passages": passages(index_dir), "start_s": round(cold, 2), "server_rss_mb": rss,
           "load_average": os.getloadavg()[0],  # other jobs on the machine: read with the figures
           "one_client": one, "eight_clients": eight, "floor": base}
    if texts:
        process, port, _ = serve(index_dir, index_type)
        try:
            quiet = load(port, pool[0::2], 1)
            busy, uploads = with_uploads(port, pool[1::2], texts)
        finally:
            stop(process)
        row.update(no_uploads=quiet, with_uploads=busy, uploads=uploads,
                   p99_ratio=round(busy["p99_ms"] / quiet["p99_ms"], 2))
    return row


def passages(index_dir: Path) -> int:
    index = Index(index_dir)
    try:
        return index.store.counts()[1]
    finally:
        index.close()


def spread(rows: list[dict], *path: str) -> dict:
    """Median and min-max of one figure over the runs."""
    values = []
    for row in rows:
        for key in path:
            row = row[key]
        values.append(row)
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}


def report(name: str, rows: list[dict]) -> dict:
    out = {"index": name, "type": rows[0]["type"], "runs": len(rows), "passages": rows[-1]["passages"],
           "start_s": spread(rows, "start_s"), "server_rss_mb": spread(rows, "server_rss_mb"),
           "floor_p50_ms": spread(rows, "floor", "p50_ms"), "load_average": spread(rows, "load_average")}
    for key in ("one_client", "eight_clients"):
        out[key] = {figure: spread(rows, key, figure) for figure in
                    ("p50_ms", "p95_ms", "p99_ms", "max_ms", "answers_per_s", "errors", "passages_per_answer")
                    + (("hit_at_1", "hit_at_5") if "hit_at_1" in rows[0][key] else ())}
    if "p99_ratio" in rows[0]:
        out["uploads"] = {"p99_no_uploads_ms": spread(rows, "no_uploads", "p99_ms"),
                          "p99_with_uploads_ms": spread(rows, "with_uploads", "p99_ms"),
                          "p99_ratio": spread(rows, "p99_ratio"),
                          "p50_no_uploads_ms": spread(rows, "no_uploads", "p50_ms"),
                          "p50_with_uploads_ms": spread(rows, "with_uploads", "p50_ms"),
                          "uploads_per_run": spread(rows, "uploads", "uploads"),
                          "upload_errors": spread(rows, "uploads", "errors"),
                          "upload_p50_ms": spread(rows, "uploads", "p50_ms"),
                          "upload_max_ms": spread(rows, "uploads", "max_ms")}
    return out


def cell(figure: dict) -> str:
    low, high = figure["min"], figure["max"]
    return f"{figure['median']:g} ({low:g}–{high:g})"


def table(results: list[dict]) -> str:
    lines = ["| index | FAISS | passages | clients | p50 ms | p95 ms | p99 ms | answers/s | errors | "
             "passages/answer | hit@1 / hit@5 | floor p50 ms |", "|" + "---|" * 12]
    for r in results:
        for key in ("one_client", "eight_clients"):
            c = r[key]
            found = f"{c['hit_at_1']['median']:g} / {c['hit_at_5']['median']:g}" if "hit_at_5" in c else "–"
            lines.append(f"| {r['index']} | {r['type']} | {r['passages']:,} | {1 if key == 'one_client' else 8} | "
                         f"{cell(c['p50_ms'])} | {cell(c['p95_ms'])} | {cell(c['p99_ms'])} | {cell(c['answers_per_s'])} | "
                         f"{c['errors']['max']:g} | {c['passages_per_answer']['median']:g} | {found} | "
                         f"{cell(r['floor_p50_ms'])} |")
    lines += ["", "| index | FAISS | p99 no uploads ms | p99 with uploads ms | ratio | p50 no / with ms | "
              "uploads a run | upload p50 / max ms |", "|" + "---|" * 8]
    for r in results:
        if "uploads" in r:
            u = r["uploads"]
            lines.append(f"| {r['index']} | {r['type']} | {cell(u['p99_no_uploads_ms'])} | {cell(u['p99_with_uploads_ms'])} | "
                         f"{cell(u['p99_ratio'])} | {u['p50_no_uploads_ms']['median']:g} / {u['p50_with_uploads_ms']['median']:g} | "
                         f"{u['uploads_per_run']['median']:g} | {u['upload_p50_ms']['median']:g} / {u['upload_max_ms']['median']:g} |")
    lines += ["", "| index | FAISS | start to first answer s | server MB | load average (2 cores) |", "|" + "---|" * 5]
    for r in results:
        lines.append(f"| {r['index']} | {r['type']} | {cell(r['start_s'])} | {cell(r['server_rss_mb'])} | "
                     f"{cell(r['load_average'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--types", nargs="+", default=["flat", "ivf"], choices=["flat", "ivf"])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--no-seeds", action="store_true", help="Skip the seeds index (16 passages).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    large = corpus.default_folder(args.passages)
    built = corpus.build(large, args.passages)
    pool = [json.loads(line) for line in (large / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    random.Random(0).shuffle(pool)  # both sets mixed through every phase
    texts = upload_texts(large, UPLOAD_SOURCES * 2)
    results = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as work:
        if not args.no_seeds:
            seeds = Path(work) / "seeds"
            ingest(Index(seeds, create=True), [ROOT / "seeds"], progress=False)
            questions = [{"question": q["question"]} for q in pool]  # asked of the seeds: latency only
            rows = [run(seeds, "flat", questions, []) for _ in range(args.runs)]
            results.append(report("seeds", rows))
        for index_type in args.types:
            copy = Path(work) / f"large-{index_type}"
            shutil.copytree(large / "index", copy)
            prepare(copy, index_type)
            rows = []
            for number in range(args.runs):
                rows.append(run(copy, index_type, pool, texts))
                print(f"{index_type} run {number + 1}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
            results.append(report(f"{built['passages']:,} distinct", rows))
            shutil.rmtree(copy)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    output = {"commit": commit, "corpus": built, "results": results}
    if not args.json:
        print(table(results))
    print(json.dumps(output))


if __name__ == "__main__":
    main()
