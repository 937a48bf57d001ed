"""Answer latency over HTTP: `qa serve` beside the plain setup it replaces, in the same run, on the
same indexes; medians of several runs with the spread.

    .venv/bin/python bench/query.py [--runs 3] [--indexes seeds cmu-s08 100k] [--types flat ivf]
                                    [--arms qa plain] [--workers N] [--uploads] [--json]

Arms: "qa" is `qa serve` as a user starts it (a worker process per core, 8 threads each); "plain"
is bench/plain.py, what a user would otherwise build with the same model: a Flask app served by
waitress in one process that encodes the question, searches FAISS (one OpenMP thread a search, set
in each request thread) and returns 5 passages as JSON. Both run the same embedding runtime and the
same FAISS file.

Indexes: the seeds (15 passages), cmu-s08 (the eval cache's, ~1.7k passages) and bench/corpus.py's
100k distinct passages (built once, ~20 minutes, then reused; xquad-en and cmu-s08 kept whole, so
each of their 1,595 questions has its evidence in one document), flat and IVF. A working copy of
each is made (per FAISS type for the 100k: QA_INDEX_TYPE, the FAISS file rebuilt to that type first),
so nothing touches the cached indexes.

Each run, for each index, both arms in turn (their order alternating from run to run), each on a
fresh server on 127.0.0.1 (qa caches question vectors, so no question is asked twice of a server):
300 questions with 1 client, then 1,200 with 8 clients: p50 / p95 / p99 / max and answers/s, the
server's CPU per answer (user + system time of its processes over the phase / answers), the memory
of each server process (RSS, and PSS: shared pages such as a memory-mapped FAISS file counted once
across the processes sharing them), and hit@1 / hit@5 of qa's answers on the 100k (the right
document, with the answer string). The floor, in process while no server runs: one question encode +
one FAISS search. The ratios qa/plain are taken run by run, then their median.

--uploads (qa, 100k): a second qa server (QA_API_TOKEN set) answers half the questions with 1 client
and nothing else, then the other half while another client POSTs a ~3-passage document to
/api/documents once a second (replacing the same few sources, so the index stays the same size):
p99 with and without uploads.

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
from qa import settings  # noqa: E402
from qa.embedding import bundled_model_path, choose_backend, cpu_flags  # noqa: E402
from qa.evaluation import build_eval_index, fold  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import ingest  # noqa: E402

TOKEN = "bench-token"
ONE, EIGHT = 300, 1200  # questions asked by 1 client, then by 8, of server A
UPLOAD_EVERY = 1.0  # seconds between uploads
UPLOAD_SOURCES = 5  # uploads replace these sources in turn
ARMS = ("qa", "plain")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def serve(index: Path, index_type: str, arm: str = "qa", workers: int | None = None) -> tuple[subprocess.Popen, int, float]:
    """Start a server of `arm`; returns the process, its port and seconds until the first answer."""
    port = free_port()
    env = {**os.environ, "QA_INDEX_TYPE": index_type, "QA_API_TOKEN": TOKEN, "QA_LOG_LEVEL": "WARNING"}
    if arm == "qa":
        command = [sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port)]
        command += ["--workers", str(workers)] if workers else []
    else:
        command = [sys.executable, str(ROOT / "bench" / "plain.py"), "--index", str(index), "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if post(connection, "/api/ask", {"question": "Who is Kaja Kallas?"})[1] == 200:
                if arm == "qa" and workers != 1:  # every worker up (each answers once it has loaded)
                    while len(processes(process.pid)) < 1 + (workers or len(os.sched_getaffinity(0))):
                        time.sleep(0.05)
                return process, port, time.perf_counter() - started
        except (RuntimeError, http.client.HTTPException, OSError):
            pass
        if process.poll() is not None or time.perf_counter() - started > 600:
            process.kill()
            raise RuntimeError(f"the {arm} server did not start")
        time.sleep(0.05)


def processes(pid: int) -> list[int]:
    """The server's process and its descendants (qa's gunicorn workers)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def memory(pid: int) -> dict:
    """RSS and PSS (MB) of each serving process: the workers when there is a master, else the process."""
    def figures(of: int) -> tuple[float, float]:
        rss = pss = 0
        for line in Path(f"/proc/{of}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
        return rss / 1024, pss / 1024

    everyone = processes(pid)
    workers = [p for p in everyone if p != pid] or [pid]
    per = [figures(p) for p in workers]
    master = figures(pid) if len(everyone) > 1 else (0.0, 0.0)
    return {"workers": len(workers), "worker_rss_mb": round(statistics.median(r for r, _ in per)),
            "worker_pss_mb": round(statistics.median(p for _, p in per)),
            "total_pss_mb": round(sum(p for _, p in per) + master[1]), "master_rss_mb": round(master[0])}


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
                    if "answers" in question and body["passages"] and "citation" in body["passages"][0]:
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


def measure(arm: str, index_dir: Path, index_type: str, one: list[dict], eight: list[dict],
            workers: int | None) -> dict:
    """One fresh server of `arm`: 1 client, then 8, with the server's CPU per answer; its memory."""
    process, port, cold = serve(index_dir, index_type, arm, workers)
    try:
        pids = processes(process.pid)
        figures = {}
        for key, asked, clients in (("one_client", one, 1), ("eight_clients", eight, 8)):
            before = cpu_seconds(pids)
            figures[key] = load(port, asked, clients)
            used = cpu_seconds(pids) - before
            figures[key]["server_cpu_ms_per_answer"] = round(1000 * used / max(1, figures[key]["requests"]), 2)
        figures["memory"] = memory(process.pid)
    finally:
        stop(process)
    return {"start_s": round(cold, 2), **figures}


def run(index_dir: Path, index_type: str, pool: list[dict], arms: list[str], number: int,
        workers: int | None, texts: list[str]) -> dict:
    """One run over one index: each arm on a fresh server (their order alternating by run), the
    floor, and (with `texts`) qa's p99 with and without an upload a second."""
    row = {"type": index_type, "passages": passages(index_dir), "load_average": os.getloadavg()[0]}
    order = arms if number % 2 == 0 else arms[::-1]
    for arm in order:
        row[arm] = measure(arm, index_dir, index_type, pool[:ONE], pool[ONE : ONE + EIGHT], workers)
    row["floor"] = floor(index_dir, index_type, pool[:ONE])
    if "qa" in row and "plain" in row:  # taken within the run, then their median over the runs
        row["ratio"] = {"one_client_p50": round(row["qa"]["one_client"]["p50_ms"] / row["plain"]["one_client"]["p50_ms"], 2),
                        "eight_clients_answers_per_s": round(row["qa"]["eight_clients"]["answers_per_s"]
                                                             / row["plain"]["eight_clients"]["answers_per_s"], 2)}
    if texts:
        process, port, _ = serve(index_dir, index_type, "qa", workers)
        try:
            quiet = load(port, pool[0::2][:ONE], 1)
            busy, uploads = with_uploads(port, pool[1::2][:ONE], texts)
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


FIGURES = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "answers_per_s", "errors", "passages_per_answer",
           "server_cpu_ms_per_answer")


def report(name: str, rows: list[dict], arms: list[str]) -> dict:
    out = {"index": name, "type": rows[0]["type"], "runs": len(rows), "passages": rows[-1]["passages"],
           "floor_p50_ms": spread(rows, "floor", "p50_ms"), "load_average": spread(rows, "load_average")}
    for arm in arms:
        out[arm] = {"start_s": spread(rows, arm, "start_s"),
                    "memory": {key: spread(rows, arm, "memory", key) for key in rows[0][arm]["memory"]}}
        for key in ("one_client", "eight_clients"):
            out[arm][key] = {figure: spread(rows, arm, key, figure) for figure in
                             FIGURES + (("hit_at_1", "hit_at_5") if "hit_at_1" in rows[0][arm][key] else ())}
    if "ratio" in rows[0]:
        out["ratio"] = {key: spread(rows, "ratio", key) for key in rows[0]["ratio"]}
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


def table(results: list[dict], arms: list[str]) -> str:
    lines = ["| index | FAISS | passages | clients | arm | p50 ms | p99 ms | answers/s | server CPU ms/answer | "
             "errors | hit@1 / hit@5 | floor p50 ms |", "|" + "---|" * 12]
    for r in results:
        for key in ("one_client", "eight_clients"):
            for arm in arms:
                c = r[arm][key]
                found = f"{c['hit_at_1']['median']:g} / {c['hit_at_5']['median']:g}" if "hit_at_5" in c else "–"
                lines.append(f"| {r['index']} | {r['type']} | {r['passages']:,} | {1 if key == 'one_client' else 8} | "
                             f"{arm} | {cell(c['p50_ms'])} | {cell(c['p99_ms'])} | {cell(c['answers_per_s'])} | "
                             f"{cell(c['server_cpu_ms_per_answer'])} | {c['errors']['max']:g} | {found} | "
                             f"{cell(r['floor_p50_ms'])} |")
    if all("ratio" in r for r in results):
        lines += ["", "| index | FAISS | 1 client: qa p50 / plain p50 | 8 clients: qa answers/s / plain answers/s |",
                  "|" + "---|" * 4]
        for r in results:
            lines.append(f"| {r['index']} | {r['type']} | {cell(r['ratio']['one_client_p50'])} | "
                         f"{cell(r['ratio']['eight_clients_answers_per_s'])} |")
    lines += ["", "| index | FAISS | arm | worker processes | RSS MB a worker | PSS MB a worker | PSS MB in all "
              "(master too) | start to first answer s | load average (2 cores) |", "|" + "---|" * 9]
    for r in results:
        for arm in arms:
            m = r[arm]["memory"]
            lines.append(f"| {r['index']} | {r['type']} | {arm} | {m['workers']['median']:g} | {cell(m['worker_rss_mb'])} | "
                         f"{cell(m['worker_pss_mb'])} | {cell(m['total_pss_mb'])} | {cell(r[arm]['start_s'])} | "
                         f"{cell(r['load_average'])} |")
    if any("uploads" in r for r in results):
        lines += ["", "| index | FAISS | p99 no uploads ms | p99 with uploads ms | ratio | p50 no / with ms | "
                  "uploads a run | upload p50 / max ms |", "|" + "---|" * 8]
        for r in results:
            if "uploads" in r:
                u = r["uploads"]
                lines.append(f"| {r['index']} | {r['type']} | {cell(u['p99_no_uploads_ms'])} | "
                             f"{cell(u['p99_with_uploads_ms'])} | {cell(u['p99_ratio'])} | "
                             f"{u['p50_no_uploads_ms']['median']:g} / {u['p50_with_uploads_ms']['median']:g} | "
                             f"{u['uploads_per_run']['median']:g} | {u['upload_p50_ms']['median']:g} / "
                             f"{u['upload_max_ms']['median']:g} |")
    return "\n".join(lines)


def machine() -> dict:
    """What the figures depend on: the CPU's vector units and the embedding backend."""
    flags = cpu_flags()
    return {"cores": len(os.sched_getaffinity(0)),
            "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile"}),
            "backend": choose_backend(settings.load().backend, bundled_model_path())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--indexes", nargs="+", default=["seeds", "cmu-s08", "100k"], choices=["seeds", "cmu-s08", "100k"])
    parser.add_argument("--types", nargs="+", default=["flat", "ivf"], choices=["flat", "ivf"],
                        help="FAISS types of the 100k index.")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--workers", type=int, help="qa serve --workers (default: qa's, one per core).")
    parser.add_argument("--uploads", action="store_true", help="Also qa's p99 under an upload a second (100k).")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    large = corpus.default_folder(args.passages)
    built = corpus.build(large, args.passages) if "100k" in args.indexes else None
    questions = corpus.default_folder(100_000) / "questions.jsonl"
    if questions.is_file():
        pool = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines()]
    else:  # the small indexes alone, before the corpus is built: the eval sets' questions
        from qa.evaluation import load_questions
        pool = [{"question": q.question} for name in ("xquad-en", "cmu-s08")
                for q in load_questions(ROOT / "tests" / "data" / "eval" / name)]
    random.Random(0).shuffle(pool)  # both sets mixed through every phase
    latency_only = [{"question": q["question"]} for q in pool]  # asked of an index not built for them
    results = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as work:
        indexes = []
        if "seeds" in args.indexes:
            seeds = Path(work) / "seeds"
            ingest(Index(seeds, create=True), [ROOT / "seeds"], progress=False)
            indexes.append(("seeds", seeds, "flat", latency_only))
        if "cmu-s08" in args.indexes:
            cached = build_eval_index(ROOT / "tests" / "data" / "eval" / "cmu-s08", progress=False)
            cmu = Path(work) / "cmu-s08"
            shutil.copytree(cached.folder, cmu)
            cached.close()
            indexes.append(("cmu-s08", cmu, "flat", latency_only))
        if "100k" in args.indexes:
            for index_type in args.types:
                copy = Path(work) / f"large-{index_type}"
                shutil.copytree(large / "index", copy)
                indexes.append((f"{built['passages']:,} distinct", copy, index_type, pool))
        for name, folder, index_type, asked in indexes:
            prepare(folder, index_type)
            rows = []
            for number in range(args.runs):
                texts = upload_texts(large, UPLOAD_SOURCES * 2) if args.uploads and "distinct" in name else []
                rows.append(run(folder, index_type, asked, args.arms, number, args.workers, texts))
                print(f"{name} {index_type} run {number + 1}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
            results.append(report(name, rows, args.arms))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    output = {"commit": commit, "machine": machine(), "corpus": built, "results": results}
    if not args.json:
        print(table(results, args.arms))
    print(json.dumps(output))


if __name__ == "__main__":
    main()
