"""Abstention: is the `confident` flag right? Each eval set's questions are asked of its own corpus
and of the other set's corpus (which cannot answer them).

    .venv/bin/python bench/abstention.py [--json]

Goal: >= 80% of out-of-corpus questions flagged not confident, while <= 5% of in-corpus questions
answered at rank 1 are flagged not confident.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation import answer_rank, ask_all, build_eval_index, load_questions  # noqa: E402
from qa.search import Searcher  # noqa: E402

EVAL = ROOT / "tests" / "data" / "eval"
SETS = ("xquad-en", "cmu-s08")


def measure(corpus_set: str, other_set: str) -> dict:
    searcher = Searcher(build_eval_index(EVAL / corpus_set, progress=False))
    own = load_questions(EVAL / corpus_set)
    foreign = load_questions(EVAL / other_set)
    right_but_unsure = right = 0
    for question, answer in zip(own, ask_all(searcher, own, 10)):
        if answer_rank(answer, question) == 1:
            right += 1
            right_but_unsure += not answer.confident
    flagged = sum(not answer.confident for answer in ask_all(searcher, foreign, 10))
    return {"corpus": corpus_set, "out_of_corpus_questions": other_set,
            "rank1_correct": right, "rank1_correct_not_confident": round(right_but_unsure / max(right, 1), 4),
            "out_of_corpus": len(foreign), "out_of_corpus_not_confident": round(flagged / max(len(foreign), 1), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(SETS[0], SETS[1]), measure(SETS[1], SETS[0])]
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'corpus':<10} {'rank-1 correct':>15} {'of those not confident':>23} {'out-of-corpus':>14} {'flagged not confident':>22}")
    for r in rows:
        print(f"{r['corpus']:<10} {r['rank1_correct']:>15} {r['rank1_correct_not_confident']:>23.1%} "
              f"{r['out_of_corpus']:>14} {r['out_of_corpus_not_confident']:>22.1%}")


if __name__ == "__main__":
    main()
