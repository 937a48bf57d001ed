"""The MaxSim re-rank's cost per question at 100k distinct passages (issue 15): the time of
`Searcher.ask` with the re-rank and without, in one process over the same index, alternated.

    .venv/bin/python bench/rerank.py [--runs 5] [--questions 300]

The index is bench/corpus.py's (built once, then reused; opened read-only here). Question vectors
are computed first for every question (both variants use the same), so the figures are ranking
time: FAISS + BM25 + fusion, plus, for the re-rank, reading the first 5 candidates' token states from SQLite
and scoring them. Each run asks every question of both variants, in alternating order from run to
run; reported: p50 and p99 of each run's latencies, the median over runs with the spread (min-max),
the added p50 (with - without) per run, and the time inside the re-rank step itself (read the
states, score, fuse), per question: the difference of two p50s moves by ~1 ms from run to run with
FAISS's own noise, the step's own time does not.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.search import Searcher, pipeline  # noqa: E402
from qa.search.rerank import rerank  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(searcher: Searcher, questions: list[str], steps: list[float] | None = None) -> list[float]:
    """Each question's `ask` time; with `steps`, also each one's time inside the re-rank step."""
    if steps is not None:
        def measured(*args):
            started = time.perf_counter()
            try:
                return rerank(*args)
            finally:
                steps.append((time.perf_counter() - started) * 1000)
        pipeline.rerank = measured
    took = []
    for question in questions:
        started = time.perf_counter()
        searcher.ask(question, 5)
        took.append((time.perf_counter() - started) * 1000)
    if steps is not None:
        pipeline.rerank = rerank
    return took


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--passages", type=int, default=100_000)
    args = parser.parse_args()
    folder = corpus.default_folder(args.passages)
    facts = corpus.build(folder, args.passages)
    index = Index(folder / "index")
    lines = (folder / "questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in random.Random(7).sample(lines, args.questions)]
    index.embedder.encode_queries(questions)  # vectors and word states, remembered: both variants reuse them
    on, off = Searcher(index, "hybrid+maxsim"), Searcher(index, "hybrid")
    timed(on, questions[:20]), timed(off, questions[:20])  # warm: FAISS, BM25, SQLite pages
    p50 = {"with": [], "without": []}
    p99 = {"with": [], "without": []}
    added = []
    step_p50, step_p99 = [], []
    for run in range(args.runs):
        order = [("with", on), ("without", off)] if run % 2 == 0 else [("without", off), ("with", on)]
        this = {}
        for name, searcher in order:
            steps = [] if name == "with" else None
            took = timed(searcher, questions, steps)
            if steps:
                step_p50.append(percentile(steps, 0.5))
                step_p99.append(percentile(steps, 0.99))
            this[name] = percentile(took, 0.5)
            p50[name].append(this[name])
            p99[name].append(percentile(took, 0.99))
        added.append(this["with"] - this["without"])
    print(json.dumps({"passages": facts.get("passages"), "questions": len(questions), "runs": args.runs,
                      "p50_ms": {k: spread(v) for k, v in p50.items()}, "p99_ms": {k: spread(v) for k, v in p99.items()},
                      "added_p50_ms": spread(added),
                      "rerank_step_ms": {"p50": spread(step_p50), "p99": spread(step_p99)}}))


if __name__ == "__main__":
    main()
