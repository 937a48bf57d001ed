"""Where a question's time goes, in process: timers around each stage of `Searcher.ask`.

Asks the bench corpus's questions (bench/corpus.py) of an index, after 20 others to warm up, and
prints `ask` at p50 and each stage's mean time a question, per run, then the medians over the runs
with their spread. Each run asks questions no earlier run asked (a question asked again would find
its vector in the embedder's cache). "floor" is what the plain setup pays for the same question (one encode and one FAISS
search); "ask minus floor" is what qa adds (issue 24's goal: <= 2 ms at p50 at 100k).

    .venv/bin/python bench/stages.py ~/.cache/qa/bench/distinct-100k/index --runs 3

Opening an index with this code migrates its store: time a copy of one that older code must still read.
Its derived files (FAISS, BM25, the passage arrays) are brought up to date first, as a server does
in the background, and that is not timed.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.index import Index  # noqa: E402
from qa.search import Searcher, pipeline, retrieve  # noqa: E402

QUESTIONS = Path.home() / ".cache/qa/bench/distinct-100k/questions.jsonl"
WARM_UP = 20
TIMED: list[tuple[object, str, object]] = []  # (owner, name, what owner.__dict__ held before)


def untimed() -> None:
    while TIMED:
        owner, name, before = TIMED.pop()
        if before is None:
            delattr(owner, name)  # the class's own method shows through again
        else:
            setattr(owner, name, before)


def timed(owner: object, name: str, label: str, times: dict[str, list[float]]) -> None:
    """Replace owner.name with the same call, timed into times[label] (`untimed` puts it back)."""
    call = getattr(owner, name)
    TIMED.append((owner, name, owner.__dict__.get(name)))

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            times[label].append((time.perf_counter() - started) * 1000)

    setattr(owner, name, wrapper)


def one_run(folder: Path, warm_up: list[str], questions: list[str]) -> dict[str, float]:
    """ms a question by stage (means), and ask's p50, on the index opened afresh."""
    index = Index(folder)
    searcher = Searcher(index)
    for question in warm_up:
        searcher.ask(question)
    times: dict[str, list[float]] = defaultdict(list)
    reader = index.reader
    timed(index.embedder, "encode_query", "encode", times)
    timed(reader, "search", "FAISS", times)
    timed(reader, "bm25", "BM25", times)
    timed(reader, "scoring_rows", "candidate rows", times)  # passage arrays, SQLite before them
    timed(reader, "document_frequencies", "term frequencies", times)
    timed(reader, "word_states", "token states (SQLite)", times)
    timed(reader.catalog, "route", "document stage (route)", times)
    timed(retrieve.Retriever, "label_matches", "table-row label match", times)
    timed(pipeline, "rerank", "re-rank (sentence match, MaxSim)", times)
    timed(pipeline, "assess", "confidence", times)
    timed(pipeline, "cite", "citations", times)
    asked = []
    for question in questions:
        started = time.perf_counter()
        searcher.ask(question)
        asked.append((time.perf_counter() - started) * 1000)
    untimed()
    index.close()
    figures = {label: sum(values) / len(questions) for label, values in times.items()}
    figures["ask p50"] = statistics.median(asked)
    figures["floor"] = figures["encode"] + figures["FAISS"]
    figures["ask minus floor"] = figures["ask p50"] - figures["floor"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path, help="An index folder (a copy: it is migrated to this code's schema).")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="JSON lines with a 'question' each.")
    parser.add_argument("--count", type=int, default=300, help="Questions a run (shuffled, seed 1).")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.questions.open()]
    random.Random(1).shuffle(questions)
    if len(questions) < WARM_UP + args.count * args.runs:
        parser.error(f"{len(questions)} questions: too few for {args.runs} runs of {args.count} and {WARM_UP} to warm up")
    warm_up, questions = questions[:WARM_UP], questions[WARM_UP:]
    ready = Index(args.index)  # its derived files current (the passage arrays, as a server writes them), not timed
    ready.save_vectors()
    ready.close()
    runs = []
    for run in range(args.runs):
        runs.append(one_run(args.index, warm_up, questions[run * args.count:(run + 1) * args.count]))
        print(f"run {run + 1}: " + ", ".join(f"{label} {ms:.2f}" for label, ms in runs[-1].items()), flush=True)
    print(f"\n| stage | ms a question, median of {args.runs} (min-max) |\n|---|---|")
    for label in sorted(runs[0], key=lambda label: -statistics.median(run.get(label, 0.0) for run in runs)):
        values = [run.get(label, 0.0) for run in runs]
        print(f"| {label} | {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) |")


if __name__ == "__main__":
    main()
