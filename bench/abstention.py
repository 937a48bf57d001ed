"""Abstention: is the `confident` flag right? Two protocols.

leave-out (the realistic one): from an eval set, the gold articles of a random half of the asked-about
articles (seed SEED) are removed from a copy of the set's index, and every question is asked. A
question whose article is gone must come back not confident; one whose article is there and whose
rank-1 passage is right must come back confident. The full index is built once (cached beside the
model's cache, as `qa eval` does) and the documents are removed from a copy: no re-embedding.

cross-set (the old one): each set's questions asked of its own corpus and of another set's corpus.

    .venv/bin/python bench/abstention.py [--sets cmu-s08 xquad-en ...] [--seeds 13 14 ...] [--json] [--dump rows.jsonl]
    .venv/bin/python bench/abstention.py --fit cmu-s08 --dump rows.jsonl   # refit the weights

Goals (leave-out, each set): >= 85% of left-out questions flagged not confident, <= 5% of rank-1
correct answers flagged; hit@1/hit@5 of the full index unchanged (the flag never reorders).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.search import assess  # noqa: E402
from qa.evaluation import Question, answer_rank, ask_all, build_eval_index, load_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.search import Searcher  # noqa: E402
from qa.search import Query  # noqa: E402

EVAL = Path("/work/shared/eval") if Path("/work/shared/eval").is_dir() else ROOT / "tests" / "data" / "eval"
SETS = ("cmu-s08", "cmu-s08-html", "xquad-en", "pdf-mmlongbench")
CROSS = (("xquad-en", "cmu-s08"), ("cmu-s08", "xquad-en"))
SEED = 13


def left_out_articles(questions: list[Question], seed: int = SEED) -> set[str]:
    """Half of the articles questions are asked about, picked at random with a fixed seed."""
    articles = sorted({q.source for q in questions})
    return set(random.Random(seed).sample(articles, len(articles) // 2))


def leave_out_index(set_dir: Path, left_out: set[str], folder: Path) -> Index:
    """A copy of the set's full index in `folder`, without the documents whose source is in left_out."""
    full = build_eval_index(set_dir, progress=False)
    with full.writing():
        shutil.copytree(full.folder, folder, ignore=shutil.ignore_patterns("write.lock", "originals", "previews"))
    full.close()
    # Removed in SQLite directly (passages and boxes go by cascade); FAISS and BM25 are then rebuilt
    # from what is left when the copy is opened, as after any change made by another process.
    with sqlite3.connect(folder / "qa.sqlite3") as db:
        db.execute("PRAGMA foreign_keys = ON")
        marks = ",".join("?" * len(left_out))
        db.execute(f"DELETE FROM documents WHERE source IN ({marks})", sorted(left_out))
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    for derived in [*folder.glob("vectors*.faiss"), folder / "lexical.npz"]:
        derived.unlink(missing_ok=True)
    return Index(folder)


def ask_rows(searcher: Searcher, questions: list[Question], left_out: set[str]) -> list[dict]:
    """One row a question: left out or not, the rank of the right passage, the flag and the evidence."""
    rows = []
    for question, answer in zip(questions, ask_all(searcher, questions, 10)):
        query = Query.parse(question.question)
        evidence = assess.measure(query, searcher.rank(query), searcher.index)
        rows.append({"id": question.id, "question": question.question, "left_out": question.source in left_out,
                     "rank": answer_rank(answer, question), "confident": answer.confident,
                     "confidence": answer.confidence, "reasons": answer.confidence_reasons,
                     "missing": evidence.missing, "features": evidence.features()})
    return rows


def leave_out(set_name: str, seeds: list[int]) -> tuple[dict, list[dict]]:
    """The leave-out run once per seed (each leaves out another half), the rows pooled: on a small set
    one seed's rank-1-correct answers are few (15 on pdf-mmlongbench), so one answer is 7 points."""
    questions = load_questions(EVAL / set_name)
    rows = []
    for seed in seeds:
        left_out = left_out_articles(questions, seed)
        with tempfile.TemporaryDirectory(prefix=f"abstention-{set_name}-") as folder:
            index = leave_out_index(EVAL / set_name, left_out, Path(folder) / "index")
            seed_rows = ask_rows(Searcher(index), questions, left_out)
            index.close()
        for row in seed_rows:
            row["set"], row["seed"] = set_name, seed
        rows += seed_rows
    flagged = lambda row: not row["confident"]  # noqa: E731
    summary = summarise(set_name, rows, flagged)
    summary["seeds"] = {seed: summarise(set_name, [r for r in rows if r["seed"] == seed], flagged) for seed in seeds}
    return summary, rows


def summarise(set_name: str, rows: list[dict], flagged) -> dict:
    gone = [r for r in rows if r["left_out"]]
    right = [r for r in rows if not r["left_out"] and r["rank"] == 1]
    return {"set": set_name, "left_out_questions": len(gone),
            "left_out_flagged": round(sum(map(flagged, gone)) / max(len(gone), 1), 4),
            "rank1_correct": len(right), "rank1_correct_flagged": round(sum(map(flagged, right)) / max(len(right), 1), 4)}


def cross_set(corpus_set: str, other_set: str) -> dict:
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


def fit(rows: list[dict], fit_set: str, features: list[str]) -> dict[str, float]:
    """Logistic regression on one set's rows: left-out questions (label 0) against kept questions
    answered at rank 1 (label 1); the others (right article missed) say nothing about the flag."""
    from sklearn.linear_model import LogisticRegression

    train = [r for r in rows if r["set"] == fit_set and (r["left_out"] or r["rank"] == 1)]
    x = [[r["features"][name] for name in features] for r in train]
    y = [0 if r["left_out"] else 1 for r in train]
    model = LogisticRegression(C=1.0, class_weight="balanced").fit(x, y)
    return {"bias": round(float(model.intercept_[0]), 2),
            **{name: round(float(w), 2) for name, w in zip(features, model.coef_[0])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS), help="Leave-out sets (none: only the cross-set).")
    parser.add_argument("--seeds", nargs="+", type=int, default=[SEED],
                        help="Run the leave-out once per seed and pool the rows (default: %(default)s).")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-cross", action="store_true", help="Skip the cross-set measure.")
    parser.add_argument("--dump", type=Path, help="Write (or, with --fit, read) one row a question.")
    parser.add_argument("--fit", metavar="SET", help="Fit the weights on SET's rows in --dump; print them and "
                        "what they give on every set.")
    parser.add_argument("--features", nargs="+", default=[n for n in assess.WEIGHTS if n != "bias"])
    args = parser.parse_args()
    if args.fit:
        rows = [json.loads(line) for line in args.dump.read_text().splitlines()]
        weights = fit(rows, args.fit, args.features)
        print(json.dumps(weights))
        for name in dict.fromkeys(r["set"] for r in rows):
            subset = [r for r in rows if r["set"] == name]
            print(summarise(name, subset, lambda r: probability(weights, r["features"]) < assess.THRESHOLD))
        return
    results, dumped = [], []
    for name in args.sets:
        summary, rows = leave_out(name, args.seeds)
        results.append(summary)
        dumped += rows
        if not args.json:
            print(f"{name:<16} left-out flagged {summary['left_out_flagged']:6.1%} of {summary['left_out_questions']:4d}"
                  f"   rank-1 correct flagged {summary['rank1_correct_flagged']:6.1%} of {summary['rank1_correct']:4d}",
                  flush=True)
            for seed, each in summary["seeds"].items() if len(args.seeds) > 1 else ():
                print(f"  seed {seed:<9} left-out flagged {each['left_out_flagged']:6.1%} of {each['left_out_questions']:4d}"
                      f"   rank-1 correct flagged {each['rank1_correct_flagged']:6.1%} of {each['rank1_correct']:4d}")
    if args.dump:
        args.dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in dumped))
    cross = [] if args.no_cross else [cross_set(a, b) for a, b in CROSS]
    if args.json:
        print(json.dumps({"leave_out": results, "cross_set": cross}))
        return
    for r in cross:
        print(f"cross-set: {r['out_of_corpus_questions']} asked of {r['corpus']}: flagged "
              f"{r['out_of_corpus_not_confident']:.1%} of {r['out_of_corpus']};  own rank-1 correct flagged "
              f"{r['rank1_correct_not_confident']:.1%} of {r['rank1_correct']}")


def probability(weights: dict[str, float], features: dict[str, float]) -> float:
    import math
    z = weights["bias"] + sum(w * features[name] for name, w in weights.items() if name != "bias")
    return 1 / (1 + math.exp(-z))


if __name__ == "__main__":
    main()
