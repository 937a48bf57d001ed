"""Retrieval quality on an eval set: hit@1, hit@5, MRR@10 and passage length.

An eval set is a folder with `corpus/` (the articles) and `questions.jsonl`, one question a line:
{"id", "question", "answers": [...], "source": "<path under corpus/>", "answerable": true} and, for
paged documents, "pages": [int, ...] (1-based physical pages where the evidence is).
A question is answered at rank r when the passage at rank r comes from `source` and contains one of
the answers, compared case-insensitively with white space folded, and, where the question lists
pages, the passage's cited pages include one of them (an answer string found on the wrong page is
a coincidence, not the evidence).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from qa import settings
from qa.embedding import default_cache_dir, model_name
from qa.index import Index
from qa.ingest import ingest
from qa.search import Answer, Searcher


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    source: str
    pages: list[int] | None = None  # gold 1-based physical pages, for paged documents


@dataclass
class EvalResult:
    set: str
    retriever: str
    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr_at_10: float
    routed_at_1: float  # share of questions whose top passage comes from the right document
    chars_per_passage: float
    seconds: float
    misses: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "misses"}


def load_questions(set_dir: Path) -> list[Question]:
    path = Path(set_dir) / "questions.jsonl"
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [Question(r["id"], r["question"], r["answers"], r["source"], r.get("pages") or None)
            for r in rows if r.get("answerable", True)]


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


def cited_pages(citation: object) -> tuple[int, int] | None:
    """The [first, last] pages a citation names: its `pages`, else its single `page`, else None."""
    pages = getattr(citation, "pages", None)
    if pages:
        return int(pages[0]), int(pages[-1])
    page = getattr(citation, "page", None)
    return (int(page), int(page)) if page is not None else None


def on_gold_page(citation: object, question: Question) -> bool:
    """True when the question names no pages, or the citation's pages include one of them."""
    if not question.pages:
        return True
    cited = cited_pages(citation)
    return cited is not None and any(cited[0] <= page <= cited[1] for page in question.pages)


def answer_rank(answer: Answer, question: Question) -> int | None:
    """The first rank (1-based) whose passage answers the question, per the scorer above."""
    wanted = [fold(a) for a in question.answers]
    for hit in answer.passages:
        if (hit.citation.source == question.source and any(w in fold(hit.text) for w in wanted)
                and on_gold_page(hit.citation, question)):
            return hit.rank
    return None


def cached_index_dir(corpus: Path, model_path: str | None, backend: str) -> Path:
    """One reusable index per corpus folder, model and backend; ingest keeps it in step with the files."""
    key = hashlib.sha256(f"{corpus.resolve()}|{model_name(model_path)}|{backend}".encode()).hexdigest()[:16]
    return default_cache_dir() / "eval" / f"{corpus.parent.name}-{backend}-{key}"


def build_eval_index(set_dir: Path, model_path: str | None = None, progress: bool = True,
                     backend: str | None = None) -> Index:
    corpus = Path(set_dir) / "corpus"
    backend = backend or settings.load().backend
    index = Index(cached_index_dir(corpus, model_path, backend), model_path, create=True, backend=backend)
    ingest(index, [corpus], prune=True, progress=progress)
    return index


def ask_all(searcher: Searcher, questions: list[Question], top_k: int, batch: int = 256) -> Iterator[Answer]:
    """Ask each question as the API does; the question vectors are computed in batches first (the
    embedder remembers them), which is only faster, not different."""
    for first in range(0, len(questions), batch):
        chunk = questions[first : first + batch]
        if searcher.retriever != "bm25":
            searcher.index.embedder.encode_queries([q.question.strip() for q in chunk])
        for question in chunk:
            yield searcher.ask(question.question, top_k)


def evaluate(index: Index, questions: list[Question], retriever: str = "hybrid+maxsim", top_k: int = 10,
             set_name: str = "") -> EvalResult:
    searcher = Searcher(index, retriever=retriever)
    started = time.perf_counter()
    hit1 = hit5 = reciprocal = routed = 0.0
    chars = returned = 0
    misses = []
    for question, answer in zip(questions, ask_all(searcher, questions, top_k)):
        rank = answer_rank(answer, question)
        hit1 += rank == 1
        hit5 += rank is not None and rank <= 5
        routed += bool(answer.passages) and answer.passages[0].citation.source == question.source
        reciprocal += 1.0 / rank if rank and rank <= 10 else 0.0
        chars += sum(len(hit.text) for hit in answer.passages)
        returned += len(answer.passages)
        if rank != 1:
            misses.append({"id": question.id, "question": question.question, "answers": question.answers,
                           "source": question.source, "pages": question.pages, "rank": rank,
                           "returned": [{"source": h.citation.source, "pages": cited_pages(h.citation),
                                         "text": h.text} for h in answer.passages[:3]]})
    n = max(len(questions), 1)
    return EvalResult(set_name, retriever, len(questions), round(hit1 / n, 4), round(hit5 / n, 4),
                      round(reciprocal / n, 4), round(routed / n, 4), round(chars / max(returned, 1), 1),
                      round(time.perf_counter() - started, 2), misses)
