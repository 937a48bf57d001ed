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
from qa.conversation import Topic, contextual_question, is_follow_up, next_topic
from qa.terms import query_terms, stem, words

CANDIDATES = 50  # taken from each retriever; the 50th score is each side's zero point
DENSE_WEIGHT = 0.5  # fused = w * dense + (1 - w) * bm25, each min-max normalised over its candidates
TOPIC_BOOST = 0.15  # added to passages of the conversation's topic document on a follow-up
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
    confident: bool
    passages: list[Hit]
    took_ms: float
    topic: Topic | None = None  # what a conversation carries into its next question


class Searcher:
    def __init__(self, index: Index, retriever: str = "hybrid"):
        self.index = index
        self.retriever = retriever

    def ask(self, question: str, top_k: int = 5, topic: Topic | None = None) -> Answer:
        started = time.perf_counter()
        question = clean_question(question)
        if self.index.store.counts()[1] == 0:
            raise IndexNotBuilt(str(self.index.folder))
        follow_up = topic is not None and is_follow_up(question)
        searched = contextual_question(question, topic) if follow_up else question
        terms = query_terms(searched)
        ranked, confident = self.rank(searched, terms, topic.document_id if follow_up else None)
        hits = self.cite(ranked, query_terms(question) or terms, top_k)
        top = hits[0].citation if hits else None
        next_ = next_topic(question, topic, top.title if top else "", top.document_id if top else None)
        return Answer(question, confident, hits, round((time.perf_counter() - started) * 1000, 2), next_)

    def rank(self, question: str, terms: list[str], boost_document: str | None = None) -> tuple[list[tuple[int, float]], bool]:
        """Passage ids with fused scores, best first, and whether the best one is a confident answer."""
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if self.retriever in ("hybrid", "dense"):
            query = self.index.embedder.encode_query(question)
            dense = self.index.vectors.search(query, CANDIDATES)
        if self.retriever in ("hybrid", "bm25"):
            lexical = self.index.store.bm25(fts_query(terms), CANDIDATES)
        weight = {"hybrid": DENSE_WEIGHT, "dense": 1.0, "bm25": 0.0}[self.retriever]
        fused = fuse(dense, lexical, weight)
        if boost_document:
            documents = {pid: p.document_id for pid, p in self.index.store.passages(list(fused)).items()}
            fused = {pid: score + TOPIC_BOOST * (documents.get(pid) == boost_document) for pid, score in fused.items()}
        ranked = sorted(fused.items(), key=lambda item: -item[1])
        return ranked, is_confident(dense, lexical, terms)

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


def normalise(ranking: list[tuple[int, float]], floor: float | None = None) -> dict[int, float]:
    """Min-max over the candidates: the best becomes 1, the last candidate 0. With fewer candidates
    than asked for, everything else scored `floor` (BM25's 0 for passages sharing no word)."""
    if not ranking:
        return {}
    scores = [score for _, score in ranking]
    low, high = min(scores), max(scores)
    if floor is not None and len(ranking) < CANDIDATES:
        low = min(low, floor)
    return {pid: (score - low) / (high - low + 1e-9) for pid, score in ranking}


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], dense_weight: float) -> dict[int, float]:
    """Weighted sum of normalised scores; a passage missing from one side scores 0 there (it ranked
    below that side's last candidate). Unlike reciprocal rank fusion, this keeps how far ahead the
    best passage is, which matters when one side is sure and the other is not."""
    fused: dict[int, float] = {}
    for ranking, weight, floor in ((dense, dense_weight, None), (lexical, 1.0 - dense_weight, 0.0)):
        for pid, score in normalise(ranking, floor).items():
            fused[pid] = fused.get(pid, 0.0) + weight * score
    return fused


def is_confident(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], terms: list[str]) -> bool:
    """Calibrated on questions asked of the wrong corpus (see bench/README.md)."""
    return bool(dense) and dense[0][1] >= 0.35 or not dense and bool(lexical)


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
