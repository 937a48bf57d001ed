"""Question -> ranked, fused, cited hits. The one place retrieval logic lives.

Two retrievers look at every question: dense (FAISS over the model's vectors, which finds
paraphrases) and BM25 (SQLite FTS5, which finds the rare names and numbers questions hinge on).
Their rankings are fused, near-duplicate passages are dropped, and the sentence of each passage
that best matches the question is marked as its highlight.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from qa.chunking import sentence_spans
from qa.errors import EmptyQuestion, IndexNotBuilt
from qa.index import Index
from qa.store import StoredPassage
from qa.terms import query_terms, stem, words

CANDIDATES = 50  # taken from each retriever before fusion
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
RETRIEVERS = ("hybrid", "dense", "bm25")


@dataclass
class Citation:
    document_id: str
    title: str
    source: str
    passage: int  # the passage's position in its document
    start: int  # character offsets into the document's text
    end: int


@dataclass
class Span:
    start: int
    end: int


@dataclass
class Hit:
    rank: int
    score: float
    text: str
    citation: Citation
    highlight: Span


@dataclass
class Answer:
    question: str
    passages: list[Hit]
    took_ms: float


class Searcher:
    def __init__(self, index: Index, retriever: str = "hybrid"):
        self.index = index
        self.retriever = retriever

    def ask(self, question: str, top_k: int = 5) -> Answer:
        started = time.perf_counter()
        question = clean_question(question)
        if self.index.store.counts()[1] == 0:
            raise IndexNotBuilt(str(self.index.folder))
        terms = query_terms(question)
        ranked = self.rank(question, terms)
        hits = self.cite(ranked, terms, top_k)
        return Answer(question, hits, round((time.perf_counter() - started) * 1000, 2))

    def rank(self, question: str, terms: list[str]) -> list[tuple[int, float]]:
        """Passage ids with fused scores, best first."""
        rankings = []
        if self.retriever in ("hybrid", "dense"):
            query = self.index.embedder.encode_query(question)
            rankings.append(self.index.vectors.search(query, CANDIDATES))
        if self.retriever in ("hybrid", "bm25"):
            rankings.append(self.index.store.bm25(fts_query(terms), CANDIDATES))
        return reciprocal_rank_fusion(rankings)

    def cite(self, ranked: list[tuple[int, float]], terms: list[str], top_k: int) -> list[Hit]:
        """Turn ranked ids into hits, skipping passages that repeat one already returned."""
        passages = self.index.store.passages([pid for pid, _ in ranked[: top_k * 4 + 10]])
        hits: list[Hit] = []
        seen: list[set[str]] = []
        for pid, score in ranked:
            passage = passages.get(pid)
            if passage is None:
                continue
            vocabulary = set(words(passage.text))
            if any(is_near_duplicate(vocabulary, other) for other in seen):
                continue
            seen.append(vocabulary)
            hits.append(Hit(
                rank=len(hits) + 1,
                score=round(score, 6),
                text=passage.text,
                citation=Citation(passage.document_id, passage.title, passage.source, passage.index,
                                  passage.start, passage.end),
                highlight=best_sentence(passage, terms),
            ))
            if len(hits) == top_k:
                break
        return hits


def clean_question(question: str) -> str:
    if not question.strip():
        raise EmptyQuestion("The question is empty.")
    return question.strip()


def reciprocal_rank_fusion(rankings: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: any of the terms, each quoted so no word is read as syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in dict.fromkeys(terms))


def is_near_duplicate(vocabulary: set[str], other: set[str], threshold: float = 0.9) -> bool:
    """Word-set Jaccard similarity: catches the same paragraph published twice with small edits."""
    if not vocabulary or not other:
        return vocabulary == other
    return len(vocabulary & other) / len(vocabulary | other) >= threshold


def best_sentence(passage: StoredPassage, terms: list[str]) -> Span:
    """The passage's sentence sharing the most (stemmed) question terms; the first on a tie."""
    wanted = {stem(term) for term in terms}
    best, best_score = None, -1.0
    for sentence in sentence_spans(passage.text):
        score = len({stem(w) for w in words(passage.text[sentence.start : sentence.end])} & wanted)
        if score > best_score:
            best, best_score = sentence, score
    if best is None:
        return Span(passage.start, passage.end)
    return Span(passage.start + best.start, passage.start + best.end)
