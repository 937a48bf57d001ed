"""Follow-up questions: top-1 / top-3 success of the last turn asked in its conversation vs alone,
and the topic-change check (cmu-s08 questions asked after an unrelated xquad-en question).

    .venv/bin/python bench/followups.py [--json]

The follow-up set is tests/data/followups.jsonl, over one index of the seeds and both eval corpora.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation import answer_rank, build_eval_index, fold, load_questions  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import ingest  # noqa: E402
from qa.search import Searcher  # noqa: E402

EVAL = ROOT / "tests" / "data" / "eval"
CORPORA = {"seeds": ROOT / "seeds", "cmu-s08": EVAL / "cmu-s08" / "corpus", "xquad-en": EVAL / "xquad-en" / "corpus"}


def combined_index(folder: Path) -> Index:
    index = Index(folder, create=True)
    ingest(index, list(CORPORA.values()), progress=False)
    return index


def rank_of(answer, answers: list[str], source: str) -> int | None:
    wanted = [fold(a) for a in answers]
    for hit in answer.passages:
        if hit.citation.source == source and any(w in fold(hit.text) for w in wanted):
            return hit.rank
    return None


def followups(index: Index, path: Path) -> dict:
    conversations = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    searcher = Searcher(index)
    with_context = {1: 0, 3: 0}
    alone = {1: 0, 3: 0}
    failures = []
    for conversation in conversations:
        topic = None
        for question in conversation["turns"]:
            answer = searcher.ask(question, 10, topic=topic)
            topic = answer.topic
        rank = rank_of(answer, conversation["answers"], conversation["source"])
        rank_alone = rank_of(searcher.ask(conversation["turns"][-1], 10), conversation["answers"], conversation["source"])
        for k in (1, 3):
            with_context[k] += rank is not None and rank <= k
            alone[k] += rank_alone is not None and rank_alone <= k
        if rank is None or rank > 3:
            failures.append({"id": conversation["id"], "turns": conversation["turns"], "rank": rank,
                             "searched_top": answer.passages[0].citation.source if answer.passages else None})
    n = len(conversations)
    return {"conversations": n,
            "with_context": {"top1": round(with_context[1] / n, 3), "top3": round(with_context[3] / n, 3)},
            "alone": {"top1": round(alone[1] / n, 3), "top3": round(alone[3] / n, 3)},
            "failures": failures}


def topic_change(seed: int = 0) -> dict:
    """hit@5 of cmu-s08 asked fresh vs asked as the second turn after an unrelated xquad-en question,
    both over the cmu-s08 corpus (the first question's answer comes from the wrong corpus: a change of topic)."""
    index = build_eval_index(EVAL / "cmu-s08", progress=False)
    searcher = Searcher(index)
    questions = load_questions(EVAL / "cmu-s08")
    openers = [q.question for q in load_questions(EVAL / "xquad-en")]
    random.Random(seed).shuffle(openers)
    fresh = after = 0
    for question, opener in zip(questions, openers):
        rank = answer_rank(searcher.ask(question.question, 10), question)
        fresh += rank is not None and rank <= 5
        first = searcher.ask(opener, 10)
        rank = answer_rank(searcher.ask(question.question, 10, topic=first.topic), question)
        after += rank is not None and rank <= 5
    n = len(questions)
    return {"questions": n, "hit_at_5_fresh": round(fresh / n, 4), "hit_at_5_after_unrelated": round(after / n, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--index", type=Path, default=Path.home() / ".cache" / "qa" / "bench" / "followups-index")
    args = parser.parse_args()
    result = {"followups": followups(combined_index(args.index), ROOT / "tests" / "data" / "followups.jsonl"),
              "topic_change": topic_change()}
    if args.json:
        print(json.dumps(result))
        return
    f = result["followups"]
    print(f"follow-ups ({f['conversations']} conversations)   top-1   top-3")
    print(f"  with the conversation            {f['with_context']['top1']:.3f}   {f['with_context']['top3']:.3f}")
    print(f"  last question alone              {f['alone']['top1']:.3f}   {f['alone']['top3']:.3f}")
    t = result["topic_change"]
    print(f"topic change (cmu-s08 hit@5, {t['questions']} questions): fresh {t['hit_at_5_fresh']:.4f}, "
          f"after an unrelated question {t['hit_at_5_after_unrelated']:.4f}")
    for failure in f["failures"]:
        print("  missed:", failure)


if __name__ == "__main__":
    main()
