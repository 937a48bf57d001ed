"""bench/scale: FAISS build time, search time, memory and recall@10 against exact search, for 100k and
1M vectors and each index type qa supports (flat, ivf).

    .venv/bin/python bench/scale.py [--sizes 100000 1000000] [--queries 500] [--json]

Goal: 1M vectors, search <= 5 ms a query at recall@10 >= 0.95, resident memory <= 2.5 GB.

Vectors: real all-MiniLM-L6-v2 embeddings of the eval corpora (every passage vector and sentence
vector stored in ~/.cache/qa/eval/<set>-<hash>/qa.sqlite3, i.e. built by `qa eval`), taken as they
are, then topped up to N with perturbed copies: a random real vector plus Gaussian noise of standard
deviation 0.02..0.04 per dimension, re-normalised (cosine 0.93..0.79 to its source; a real passage's
nearest other passage is at 0.74..0.90). Queries: eval questions embedded by the bundled model
(cached in bench/results/), so they are not in the index and sit as far from the passages as real
questions do (best cosine ~0.7). Ground truth: exact inner product over all N (IndexFlatIP).

Each configuration is built in one subprocess and measured in fresh ones, so memory figures are
VmRSS of a process that did nothing else: "mapped" is what the service does (the file is
memory-mapped; anonymous memory stays small, file pages are shared and evictable), "copied" reads
the file into memory. Search is one query per call, as the service asks, single-threaded and with
FAISS's default threads. Timings on a shared 2-core machine: compare rows of the same run.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.vectors import TRAINING_SAMPLE, TYPES, VectorIndex  # noqa: E402

EVAL = ROOT / "tests" / "data" / "eval"
WORK = ROOT / "bench" / "results" / "scale"
DIMENSION = 384
FLAT_TIMED = 100  # exact search over 1M takes ~100 ms a query: time it on this many
PROBES = (8, 16, 32, 64, 128)


def real_vectors() -> np.ndarray:
    """Passage and sentence vectors of the eval indexes `qa eval` built (one folder per eval set)."""
    parts = []
    for database in sorted(glob.glob(os.path.expanduser("~/.cache/qa/eval/*/qa.sqlite3"))):
        match = re.fullmatch(r"(.*)-[0-9a-f]{16}", Path(database).parent.name)
        if not match or not (EVAL / match.group(1)).is_dir():
            continue  # another backend's copy of the same set
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        for vector, sentences in db.execute("SELECT vector, sentence_vectors FROM passages"):
            parts.append(np.frombuffer(vector + sentences, dtype=np.float32).reshape(-1, DIMENSION))
        db.close()
    if not parts:
        sys.exit("no eval index in ~/.cache/qa/eval: run `qa eval tests/data/eval/xquad-en` first")
    return np.concatenate(parts)


def questions(count: int) -> np.ndarray:
    cache = WORK / f"questions-{count}.npy"
    if cache.is_file():
        return np.load(cache)
    from qa.embedding import load_embedder

    texts = [json.loads(line)["question"] for path in sorted(EVAL.glob("*/questions.jsonl"))
             for line in path.read_text().splitlines() if line.strip()]
    picked = np.random.default_rng(0).permutation(len(texts))[:count]
    vectors = load_embedder(None, "auto").encode_queries([texts[i] for i in picked])
    np.save(cache, vectors)
    return vectors


def synthetic(real: np.ndarray, count: int) -> np.ndarray:
    rng = np.random.default_rng(count)
    out = np.empty((count, DIMENSION), dtype=np.float32)
    head = min(count, len(real))
    out[:head] = real[:head]
    for start in range(head, count, 100_000):
        stop = min(count, start + 100_000)
        noise = rng.uniform(0.02, 0.04, (stop - start, 1)).astype(np.float32)
        batch = real[rng.integers(0, len(real), stop - start)]
        batch = batch + noise * rng.standard_normal(batch.shape, dtype=np.float32)
        out[start:stop] = batch / np.linalg.norm(batch, axis=1, keepdims=True)
    return out


def memory() -> dict[str, float]:
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon", "RssFile")}


# -- workers, one configuration each, in a fresh process -------------------------------------------

def build(count: int, kind: str) -> dict:
    vectors = np.load(WORK / f"vectors-{count}.npy", mmap_mode="r")
    ids = np.arange(count, dtype=np.int64)
    start = time.perf_counter()
    sample = None
    if kind == "ivf":  # as Index._training_sample does: a random subset of the stored vectors
        rate, rng = min(1.0, TRAINING_SAMPLE / count), np.random.default_rng(0)
        sample = np.concatenate([vectors[s:s + 50_000][rng.random(min(50_000, count - s)) < rate]
                                 for s in range(0, count, 50_000)])
    index = VectorIndex.create(DIMENSION, kind, count, sample)
    trained = time.perf_counter() - start
    for first in range(0, count, 50_000):
        index.add(ids[first:first + 50_000], vectors[first:first + 50_000])
    seconds = time.perf_counter() - start
    path = WORK / f"{kind}-{count}.faiss"
    index.save(path)
    extra = {"nlist": index.index.nlist, "nprobe": index.index.nprobe} if kind == "ivf" else {}
    return {"build_s": round(seconds, 1), "train_s": round(trained, 1), "file_mb": round(path.stat().st_size / 2**20), **extra}


def timed(index: VectorIndex, queries: np.ndarray, truth: np.ndarray) -> dict:
    times, found = [], []
    for query, expected in zip(queries, truth):
        start = time.perf_counter()
        hits = index.search(query, 10)
        times.append(time.perf_counter() - start)
        found.append(len({i for i, _ in hits} & set(expected[:10].tolist())) / 10)
    return {"p50_ms": round(float(np.median(times)) * 1000, 2), "mean_ms": round(float(np.mean(times)) * 1000, 2),
            "recall10": round(float(np.mean(found)), 4), "timed": len(queries)}


def serve(count: int, kind: str, mmap: bool) -> dict:
    queries, truth = np.load(WORK / "queries.npy"), np.load(WORK / f"truth-{count}.npy")
    if kind == "flat" and count > 200_000:
        queries, truth = queries[:FLAT_TIMED], truth[:FLAT_TIMED]
    before = memory()
    index = VectorIndex.load(WORK / f"{kind}-{count}.faiss", DIMENSION, mmap=mmap)
    loaded = memory()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    single = timed(index, queries, truth)
    faiss.omp_set_num_threads(threads)
    default = timed(index, queries, truth)
    searched = memory()
    faiss.omp_set_num_threads(1)
    found = [len({i for i, _ in index.search(q, 50)} & set(t.tolist())) / 50 for q, t in zip(queries, truth)]
    faiss.omp_set_num_threads(threads)
    result = {
        "threads": threads, "recall50": round(float(np.mean(found)), 4), "single": single, "default": default,
        "load_mb": {key: round(loaded[key] - before[key]) for key in before},
        "after_search_mb": {key: round(searched[key] - before[key]) for key in before},
    }
    if kind == "ivf":
        faiss.omp_set_num_threads(1)
        result["sweep"] = {}
        for nprobe in PROBES:
            index.index.nprobe = nprobe
            result["sweep"][nprobe] = timed(index, queries, truth)
    return result


def subprocess_json(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"worker {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# -- the run ---------------------------------------------------------------------------------------

def run(sizes: list[int], count: int) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    real = real_vectors()
    queries = questions(count)
    np.save(WORK / "queries.npy", queries)
    report = {"vectors": f"{len(real)} real MiniLM vectors (eval passages + sentences) + perturbed copies",
              "queries": f"{len(queries)} eval questions embedded by the bundled model",
              "machine": f"{os.cpu_count()} cores, faiss {faiss.__version__}", "runs": []}
    for size in sizes:
        vectors = synthetic(real, size)
        np.save(WORK / f"vectors-{size}.npy", vectors)
        start = time.perf_counter()
        exact = faiss.IndexFlatIP(DIMENSION)
        exact.add(vectors)
        _, truth = exact.search(queries, 50)
        np.save(WORK / f"truth-{size}.npy", truth)
        print(f"N={size}: ground truth in {time.perf_counter() - start:.1f} s (batched exact search)", file=sys.stderr)
        del exact, vectors
        for kind in TYPES:
            row = {"n": size, "type": kind, **subprocess_json("build", str(size), kind)}
            row["mapped"] = subprocess_json("serve", str(size), kind, "mmap")
            row["copied"] = subprocess_json("serve", str(size), kind, "copy")
            report["runs"].append(row)
            print(f"N={size} {kind}: {json.dumps(row)}", file=sys.stderr)
        for path in WORK.glob(f"*-{size}.*"):
            path.unlink()
    return report


def table(report: dict) -> str:
    lines = [
        "| N | type | build s | ms/query p50 / mean, 1 thread | ms/query p50 / mean, default threads | recall@10 "
        "| recall@50 (k=50, as qa.search asks) | RSS after load+search, mapped: anon + file MB | RSS after load, copied MB | file MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["runs"]:
        mapped, copied = row["mapped"], row["copied"]
        name = row["type"] + (f" (nlist {row['nlist']}, nprobe {row['nprobe']})" if row["type"] == "ivf" else "")
        lines.append(
            f"| {row['n']:,} | {name} | {row['build_s']} | {mapped['single']['p50_ms']} / {mapped['single']['mean_ms']} "
            f"| {mapped['default']['p50_ms']} / {mapped['default']['mean_ms']} | {mapped['single']['recall10']} | {mapped['recall50']} "
            f"| {mapped['after_search_mb']['RssAnon']} + {mapped['after_search_mb']['RssFile']} "
            f"| {copied['load_mb']['VmRSS']} | {row['file_mb']} |")
    lines += ["", "ivf nprobe sweep (mapped, 1 thread): recall@10 / mean ms", "",
              "| N | nlist | " + " | ".join(f"nprobe {p}" for p in PROBES) + " |",
              "|---|---|" + "---|" * len(PROBES)]
    for row in report["runs"]:
        if row["type"] == "ivf":
            sweep = row["mapped"]["sweep"]
            lines.append(f"| {row['n']:,} | {row['nlist']} | "
                         + " | ".join(f"{sweep[str(p)]['recall10']} / {sweep[str(p)]['mean_ms']}" for p in PROBES) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job, size, kind, *mode = args.worker
        result = build(int(size), kind) if job == "build" else serve(int(size), kind, mode == ["mmap"])
        print(json.dumps(result))
        return
    report = json.loads(json.dumps(run(args.sizes, args.queries)))  # the sweep's keys become strings
    (WORK.parent / "scale.json").write_text(json.dumps(report, indent=2))
    if not args.json:
        print(table(report), "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
