"""Re-rank: the head of each group re-ordered by how many of the question's words one sentence holds
together (qa/lexical.py sentence_match) and by MaxSim over the model's token states (qa/maxsim.py)."""
from __future__ import annotations

import numpy as np

from qa.index import Index
from qa.lexical import idf, sentence_match
from qa.maxsim import RERANK_CANDIDATES, Match, evidence, fuse, idf_weights, scores, stack, unpack
from qa.search.retrieve import Candidate
from qa.terms import stem

SENTENCE_MATCH_WEIGHT = 0.6  # + this x the best sentence's IDF-weighted share of the question's terms


def rerank(index: Index, question: str, terms: list[str], ranked: list[Candidate],
           within: np.ndarray | None = None) -> list[Candidate]:
    """The first RERANK_CANDIDATES re-ordered by their fused score plus their sentence match
    (`sentence_match`), and their MaxSim over stored token states (qa/maxsim.py); the rest keep
    their order below them. A head's new scores stay in its old range, so scores still fall with
    rank. Skipped when any of them has no stored states (an index from before they were kept,
    until its next ingest). The terms' IDF counts the passages in `within`, as BM25 does: a
    filtered search ranks as an index of only those documents would."""
    head = ranked[:RERANK_CANDIDATES]
    if len(head) < 2:
        return ranked
    packed = index.reader.word_states([c.row.id for c in head])
    question_words = index.embedder.encode_query_words(question)
    if len(packed) < len(head) or not question_words.words:
        return ranked
    term_stems = list(dict.fromkeys(stem(term) for term in terms))
    frequencies, passages = index.reader.document_frequencies(
        list(dict.fromkeys(term_stems + [stem(w) for w in question_words.words])), within)
    weights = idf_weights(question_words, frequencies, passages)
    late = scores(question_words.vectors, weights, stack([packed[c.row.id] for c in head], index.dimension))
    term_weights = {s: idf(frequencies.get(s, 0), passages) for s in term_stems}
    first = np.array([c.score for c in head])
    matched = np.array([sentence_match(c.row, term_weights) for c in head])
    fused = fuse(first + SENTENCE_MATCH_WEIGHT * matched, late)
    low, high = first.min(), first.max()
    for candidate, value, late_score, match in zip(head, fused, late, matched):
        candidate.score = float(low + value * (high - low))
        candidate.late, candidate.matched = float(late_score), float(match)
    return sorted(head, key=lambda c: -c.score) + ranked[len(head):]


def word_evidence(index: Index, question: str, candidate: Candidate) -> list[Match]:
    """Which of the question's content words the passage matches, and how well (cosine of their
    token states, with each word's IDF): a signal for abstention. Empty when the passage has no
    stored states."""
    packed = index.reader.word_states([candidate.row.id]).get(candidate.row.id)
    question_words = index.embedder.encode_query_words(question)
    if packed is None or not question_words.words:
        return []
    frequencies, passages = index.reader.document_frequencies([stem(w) for w in question_words.words])
    vectors, spans = unpack(packed, index.dimension)
    row = candidate.row
    text = index.policy.embedding_text(row.label, row.context, row.text)  # the text the spans point into
    return evidence(question_words, idf_weights(question_words, frequencies, passages), vectors, spans, text)
