"""Micro-batching of question encodes (qa/batching.py), in process: does it slow a lone question, and
does it help 8 threads asking at once?

    .venv/bin/python bench/batching.py [--runs 3] [--questions 400]

Each run, both arms over the same questions (cmu-s08's and xquad-en's, each encoded once per arm,
arms alternated): "batched" is Embedder.encode_query as served; "alone" encodes each question in a
pass of its own (the code before micro-batching). One thread asking in turn: p50 / p99 ms a
question; then 8 threads asking at once: questions/s. Medians of the runs with the spread.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embedding import Embedder, cpu_flags  # noqa: E402
from qa.evaluation import load_questions  # noqa: E402


def one_thread(arms: dict, questions: list[str]) -> dict:
    """Each question asked of both arms in turn (the order alternating), so the machine's load drifts
    over both alike: p50 / p99 ms of each arm."""
    times: dict[str, list[float]] = {name: [] for name in arms}
    for number, question in enumerate(questions):
        for name in (list(arms) if number % 2 else list(arms)[::-1]):
            started = time.perf_counter()
            arms[name](question)
            times[name].append((time.perf_counter() - started) * 1000)
    out = {}
    for name, found in times.items():
        found.sort()
        out[name] = {"p50_ms": round(found[len(found) // 2], 3), "p99_ms": round(found[int(0.99 * len(found))], 3)}
    return out


def eight_threads(encode, questions: list[str]) -> float:
    threads = [threading.Thread(target=lambda share=questions[i::8]: [encode(q) for q in share]) for i in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(len(questions) / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--questions", type=int, default=150)
    args = parser.parse_args()
    pool = [q.question for name in ("cmu-s08", "xquad-en")
            for q in load_questions(ROOT / "tests" / "data" / "eval" / name)]
    rows = []
    for run in range(args.runs):
        embedders = {"alone": Embedder(), "batched": Embedder()}  # fresh question caches: every question is encoded
        for embedder in embedders.values():
            embedder.encode_query("warm up")
        arms = {"alone": lambda text, e=embedders["alone"]: e.encode([text], None, words=True),
                "batched": embedders["batched"].encode_query}
        offset = run * 3 * args.questions  # no question repeats within a run
        row = {name: dict(figures) for name, figures in
               one_thread(arms, pool[offset : offset + args.questions]).items()}
        for turn, name in enumerate(("alone", "batched", "alone", "batched")):  # two turns each, in between
            first = offset + args.questions * (1 + turn // 2) + (turn % 2) * (args.questions // 2)
            crowd = pool[first : first + args.questions // 2]
            row[name].setdefault("eight_threads_per_s", []).append(eight_threads(arms[name], crowd))
        for name in arms:
            row[name]["eight_threads_per_s"] = round(statistics.mean(row[name]["eight_threads_per_s"]), 1)
        batches = embedders["batched"]._question_batches
        row["batched"]["questions_per_pass"] = round(batches.items / max(1, batches.passes), 2)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    out = {"backend": Embedder().backend, "bf16": bool(cpu_flags() & {"avx512_bf16", "amx_bf16"}), "runs": len(rows)}
    for arm in ("alone", "batched"):
        out[arm] = {key: {"median": statistics.median(r[arm][key] for r in rows),
                          "min": min(r[arm][key] for r in rows), "max": max(r[arm][key] for r in rows)}
                    for key in rows[0][arm]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
