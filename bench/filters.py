"""Filters: are they right, and what do they cost?

    python bench/filters.py equivalence [--set /work/shared/eval/cmu-s08]
        Each question asked over the whole eval index with a filter to its own document (and, again,
        to its document's set folder), and over an index of only that document (only that set).
        The small indexes are copies of the eval index's SQLite file with the other documents
        deleted, so their vectors are the same bytes and FAISS and BM25 are rebuilt from them alone.
        Prints hit@1 / hit@5 of each, how many rankings are identical, and any citation outside a filter.

    python bench/filters.py cost [--folder DIR] [--passages 100000] [--runs 5]
        p50 of a question unfiltered, with a filter keeping 1% of the documents and one keeping 50%
        (tags set on the documents), in-process. Builds DIR once: generated documents of real
        sentences (the eval corpora's), embedded by the hashing embedder (qa/hashing_embedder.py), so
        a question's own embedding costs next to nothing and the ratio is that of the search itself.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.evaluation import answer_rank, build_eval_index, load_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.catalog import Scope  # noqa: E402
from qa.schemas import Filter  # noqa: E402
from qa.search import Searcher  # noqa: E402

EVAL = Path("/work/shared/eval")


def only(source: Index, keep: list[str], folder: Path) -> Index:
    """An index of the `keep` documents of `source`: its database copied, the rest deleted."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    source.store.db.execute("PRAGMA wal_checkpoint(FULL)")
    backup = sqlite3.connect(folder / "qa.sqlite3")
    source.store.db.backup(backup)
    backup.execute("PRAGMA foreign_keys=ON")
    marks = ",".join("?" * len(keep))
    backup.execute(f"DELETE FROM documents WHERE id NOT IN ({marks})", keep)
    backup.commit()
    backup.close()
    return Index(folder, source.model_path)


def equivalence(set_dir: Path, work: Path) -> dict:
    index = build_eval_index(set_dir, progress=False)
    questions = load_questions(set_dir)
    documents = {d["source"]: d["id"] for d in index.store.documents()}
    groups = {"document": lambda source: source, "set": lambda source: source.split("/")[0] + "/*"}
    figures = {}
    for name, scope_of in groups.items():
        scopes = sorted({scope_of(q.source) for q in questions})
        small = {scope: only(index, [i for s, i in documents.items() if Path(s).match(scope) or s == scope],
                             work / f"{name}-{n}") for n, scope in enumerate(scopes)}
        hits = {"filtered": [0, 0], "alone": [0, 0]}
        same = outside = 0
        for question in questions:
            scope = scope_of(question.source)
            filtered = Searcher(index).ask(question.question, 10, scope=Filter(source=scope).scope("default"))
            alone = Searcher(small[scope]).ask(question.question, 10)
            for key, answer in (("filtered", filtered), ("alone", alone)):
                rank = answer_rank(answer, question)
                hits[key][0] += rank == 1
                hits[key][1] += rank is not None and rank <= 5
            outside += sum(not re.fullmatch(scope.replace("*", ".*"), h.citation.source) for h in filtered.passages)
            same += ([(h.citation.source, h.citation.passage) for h in filtered.passages]
                     == [(h.citation.source, h.citation.passage) for h in alone.passages])
        n = len(questions)
        figures[name] = {"scopes": len(scopes), "questions": n,
                         "filtered hit@1": round(hits["filtered"][0] / n, 4), "filtered hit@5": round(hits["filtered"][1] / n, 4),
                         "alone hit@1": round(hits["alone"][0] / n, 4), "alone hit@5": round(hits["alone"][1] / n, 4),
                         "identical rankings": same, "citations outside the filter": outside}
        for folder in small.values():
            folder.close()
    return figures


def sentences() -> list[str]:
    found = []
    for path in sorted(EVAL.glob("*/corpus/**/*.txt")):
        found += [s.strip() for s in re.split(r"(?<=[.!?])\s+", path.read_text(errors="replace")) if 40 < len(s.strip()) < 400]
    return found


def build(folder: Path, passages: int) -> Index:
    """Documents of ~12 passages of ~600 characters; 1% tagged "one-percent", 50% "half"."""
    from qa.documents import make_document
    from qa.hashing_embedder import HASHING_MODEL
    from qa.ingest import add_documents

    index = Index(folder, HASHING_MODEL, create=True)
    if index.store.counts()[1] >= passages * 0.9:  # chunking decides the exact count
        return index
    rng, pool = random.Random(1), sentences()
    count = passages // 12
    picks = set(rng.sample(range(count), count // 100)), set(rng.sample(range(count), count // 2))
    batch = []
    for number in range(count):
        paragraphs = []
        for _ in range(12):
            paragraph = ""
            while len(paragraph) < 550:
                paragraph += rng.choice(pool) + " "
            paragraphs.append(paragraph.strip())
        document = make_document("\n\n".join(paragraphs), f"generated/{number:06d}.txt", title=f"Digest {number}")
        document.tags = [tag for tag, chosen in zip(("one-percent", "half"), picks) if number in chosen]
        batch.append(document)
        if len(batch) == 200:
            add_documents(index, batch)
            batch = []
            print(f"\r{number + 1}/{count} documents", end="", file=sys.stderr)
    add_documents(index, batch)
    index.save_vectors()
    print(file=sys.stderr)
    return index


def cost(folder: Path, passages: int, runs: int, questions: int) -> dict:
    index = build(folder, passages)
    asked = [q.question for q in load_questions(EVAL / "cmu-s08")][:questions]
    searcher = Searcher(index)
    scopes = {"unfiltered": Scope(), "1%": Scope(tags=("one-percent",)), "50%": Scope(tags=("half",))}
    started = time.perf_counter()
    searcher.ask(asked[0], 10, scope=scopes["1%"])  # the catalog's first build and the 1% mask
    first = time.perf_counter() - started
    searcher.ask(asked[0], 10)  # load everything
    timings: dict[str, list[float]] = {name: [] for name in scopes}
    for _ in range(runs):
        for question in asked:
            for name, scope in scopes.items():  # interleaved, so load on the machine hits each alike
                began = time.perf_counter()
                answer = searcher.ask(question, 10, scope=scope)
                timings[name].append((time.perf_counter() - began) * 1000)
                assert scope is None or len(answer.passages) == 10
    kept = {name: scope and index.reader.select("default", scope).passages for name, scope in scopes.items()}
    result = {"passages": index.store.counts()[1], "vectors": index.vectors.kind, "first filtered question s": round(first, 3)}
    base = statistics.median(timings["unfiltered"])
    for name, values in timings.items():
        p50 = statistics.median(values)
        result[name] = {"kept passages": kept[name], "p50 ms": round(p50, 2), "ratio": round(p50 / base, 2),
                        "p90 ms": round(statistics.quantiles(values, n=10)[-1], 2)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["equivalence", "cost"])
    parser.add_argument("--set", type=Path, default=EVAL / "cmu-s08")
    parser.add_argument("--folder", type=Path, default=Path.home() / ".cache/qa/bench/filters-100k")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-bench-filters"))
    args = parser.parse_args()
    if args.what == "equivalence":
        print(json.dumps(equivalence(args.set, args.work), indent=2))
    else:
        print(json.dumps(cost(args.folder, args.passages, args.runs, args.questions), indent=2))


if __name__ == "__main__":
    main()
