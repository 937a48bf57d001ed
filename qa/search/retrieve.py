"""Retrieve: a question's candidates from both retrievers inside its scope, each with its fused score.

Two retrievers look at every question: dense (FAISS over the model's vectors, which finds
paraphrases) and BM25 (qa/lexical.py, which finds the rare names and numbers questions hinge on).
A candidate's dense score blends its passage vector with its best sentence vector; both sides are
min-max normalised and summed; passages of a document that has a strong passage get a lift, and a
table row the question names by its label (qa/lexical.py label_match) another.

The places a question names are searched first, each alone, and what is found there ranks higher:
- the documents it names by their cards (a route, qa/routing.py), searched without the words that
  named them (inside "AMD's 2015 10-K", "AMD", "2015" and "10-K" tell no passage from another) and
  ranked as an index of them alone would rank them, ROUTE_BOOST higher;
- the pages it names ("on page 17", qa/page_references.py), scored on the same scale as the rest,
  PAGE_BOOST higher: "the table on page 12" means that page's table.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.index import Index
from qa.lexical import idf, label_match, labels_of
from qa.search.query import Query
from qa.store import ScoringRow
from qa.terms import stem

# Tuned on xquad-en and checked on cmu-s08 (bench/README.md has the figures for each lever).
CANDIDATES = 50  # taken from each retriever; each side's 50th score is its zero point
DENSE_WEIGHT = 0.4  # fused = w * dense + (1 - w) * bm25 (0.5 before sentence vectors were pooled)
SENTENCE_WEIGHT = 0.5  # dense = (1 - s) * cos(question, passage) + s * max cos(question, sentence)
DOCUMENT_WEIGHT = 0.2  # + this share of the best fused score in the same document
LABEL_WEIGHT = 0.6  # + this x the share of a table row's label that the question names (qa/lexical.py label_match)
TOPIC_BOOST = 0.15  # on a follow-up, added to passages of the conversation's topic document
PAGE_BOOST = 0.5  # added to the passages on the pages a question names ("on page 17")
ROUTE_BOOST = 2.0  # added to the passages of the documents a question names by their cards (qa/routing.py)
COMMON_TERM_SHARE = 0.15  # BM25 skips terms found in more than this share of passages
WEIGHTS = {"hybrid": DENSE_WEIGHT, "dense": 1.0, "bm25": 0.0}  # the dense side's weight, by retriever
Bounds = tuple[tuple[float, float], tuple[float, float]]  # (low, high) of the dense and BM25 scores


@dataclass
class Candidate:
    row: ScoringRow
    score: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0  # normalised BM25 score (0 when BM25 did not find it)
    sentence_cosines: np.ndarray | None = None  # one per sentence of row.sentences
    late: float | None = None  # MaxSim over token states, when re-ranked (qa/maxsim.py)
    matched: float | None = None  # its best sentence's share of the question's terms, when re-ranked

    @property
    def best_sentence_cosine(self) -> float:
        return float(self.sentence_cosines.max()) if self.sentence_cosines is not None else 0.0


@dataclass
class Place:
    """Passages a question names (its documents, its pages), searched first and ranked above the rest."""
    mask: np.ndarray | None  # bool by passage id
    boost: float  # added to their scores
    named_documents: bool  # documents named by their cards: searched without the words that named them


@dataclass
class Group:
    """Candidates ranked together (a place's, or the rest), and the terms they were searched for."""
    candidates: list[Candidate]
    terms: list[str]


class Retriever:
    def __init__(self, index: Index, kind: str = "hybrid"):
        self.index = index
        self.kind = kind  # hybrid, dense or bm25

    def groups(self, query: Query, within: np.ndarray | None, route: np.ndarray | None = None,
               route_words: frozenset[str] | set[str] = frozenset(),
               boost_document: str | None = None) -> list[Group]:
        """The candidates of each place the question names, then the rest, each group sorted best
        first. `within` is the scope's mask (None: every passage), `route` the named documents' mask."""
        embedder = None if self.kind == "bm25" else self.index.embedder
        vector = None if embedder is None else embedder.encode_query(query.text)
        terms = query.search
        stems = [] if self.kind == "dense" else [stem(t) for t in self.selective(terms, within)]
        candidates, bounds = self.fused(vector, stems, within, boost_document)
        route = None if route is None else intersect(route, within)
        inside = [term for term in terms if term not in route_words] or terms
        # Inside the documents named, the words that named them match every passage's label alike:
        # the model reads the question without them, or the passages with least text of their own win.
        stripped = query.without(route_words) if route is not None else query.text
        inside_vector = vector if vector is None or stripped == query.text else embedder.encode_query(stripped)
        on_pages = self.page_mask(query.pages, within)
        places = [Place(intersect(on_pages, route), PAGE_BOOST + ROUTE_BOOST, True) if on_pages is not None else None,
                  Place(route, ROUTE_BOOST, True), Place(on_pages, PAGE_BOOST, False)] if route is not None else \
                 [Place(on_pages, PAGE_BOOST, False)]
        groups: list[Group] = []
        seen: set[int] = set()
        for place in places:
            if place is None or place.mask is None or not place.mask.any():
                continue
            if place.named_documents:
                place_stems = [] if self.kind == "dense" else [stem(t) for t in self.selective(inside, place.mask)]
                found, _ = self.fused(inside_vector, place_stems, place.mask, boost_document)
                group = Group(found, inside)
            else:
                found, _ = self.fused(vector, stems, place.mask, boost_document, bounds)
                group = Group(found, terms)
            group.candidates = [candidate for candidate in found if candidate.row.id not in seen]
            for candidate in group.candidates:
                candidate.score += place.boost
            seen |= {candidate.row.id for candidate in group.candidates}
            groups.append(group)
        groups.append(Group([candidate for candidate in candidates if candidate.row.id not in seen], terms))
        for group in groups:
            group.candidates.sort(key=lambda c: -c.score)
        return [group for group in groups if group.candidates]

    def fused(self, vector: np.ndarray | None, stems: list[str], within: np.ndarray | None,
              boost_document: str | None, bounds: Bounds | None = None) -> tuple[list[Candidate], Bounds]:
        """Both retrievers' candidates inside `within`, each with its fused score (unsorted), and the
        bounds each side was normalised by. Given `bounds` (another run's), these are scored on that
        run's scale, with the whole index's BM25 statistics."""
        reader = self.index.reader
        dense_ids = [] if vector is None else [pid for pid, _ in reader.search(vector, CANDIDATES, within)]
        lexical = reader.bm25(stems, CANDIDATES, within, whole_index=bounds is not None) if stems else []
        ids = list(dict.fromkeys(dense_ids + [pid for pid, _ in lexical]))
        candidates = [Candidate(row) for row in reader.scoring_rows(ids)]
        if vector is not None:
            score_dense(candidates, vector)

        dense_scores = {c.row.id: c.dense for c in candidates} if vector is not None else {}
        dense_bounds = bounds[0] if bounds else score_bounds(dense_scores)
        bm25_bounds = bounds[1] if bounds else score_bounds(dict(lexical), floor=0.0)
        dense, bm25 = normalise(dense_scores, dense_bounds), normalise(dict(lexical), bm25_bounds)
        weight = WEIGHTS[self.kind]
        best_in_document: dict[str, float] = {}
        for candidate in candidates:
            pid = candidate.row.id
            candidate.lexical = bm25.get(pid, 0.0)
            candidate.score = weight * dense.get(pid, 0.0) + (1 - weight) * candidate.lexical
            document = candidate.row.document_id
            best_in_document[document] = max(best_in_document.get(document, 0.0), candidate.score)
        labels = self.label_matches(candidates, stems, within)
        for candidate, named in zip(candidates, labels):
            candidate.score += DOCUMENT_WEIGHT * best_in_document[candidate.row.document_id] + LABEL_WEIGHT * named
            if boost_document and candidate.row.document_id == boost_document:
                candidate.score += TOPIC_BOOST
        return candidates, (dense_bounds, bm25_bounds)

    def label_matches(self, candidates: list[Candidate], stems: list[str], within: np.ndarray | None) -> list[float]:
        """Each candidate's label match (qa/lexical.py): how fully the question names one of its
        table rows, the label's words weighted by their IDF among the passages searched."""
        question = set(stems)
        # Only a label holding one of the question's words can match (any other scores 0): the IDF of
        # its words alone is looked up, not that of every label of every candidate (a financial
        # statement's passage has dozens).
        labels = [[label for label in labels_of(candidate.row) if not question.isdisjoint(label)]
                  for candidate in candidates]
        if not stems or not any(labels):
            return [0.0] * len(candidates)
        vocabulary = list({term for found in labels for label in found for term in label})
        frequencies, passages = self.index.reader.document_frequencies(vocabulary, within)
        weights = {term: idf(frequencies.get(term, 0), passages) for term in vocabulary}
        return [label_match(found, question, weights) for found in labels]

    def page_mask(self, pages: list[int], within: np.ndarray | None) -> np.ndarray | None:
        """The passages on the named pages that the question may see, as a mask; None when there are none."""
        ids = self.index.reader.passages_on_pages(pages) if pages else []
        if not ids:
            return None
        mask = np.zeros(max(ids) + 1, dtype=bool)
        mask[ids] = True
        mask = intersect(mask, within)
        return mask if mask.any() else None

    def selective(self, terms: list[str], within: np.ndarray | None = None) -> list[str]:
        """The terms BM25 searches: those in at most COMMON_TERM_SHARE of the passages (a word in
        most passages adds almost nothing to BM25 but costs the time of scoring every row holding
        it), or the two rarest when all are common."""
        frequencies, passages = self.index.reader.document_frequencies([stem(term) for term in terms], within)
        limit = COMMON_TERM_SHARE * max(passages, 1)
        kept = [term for term in terms if frequencies[stem(term)] <= limit]
        return kept or sorted(terms, key=lambda term: frequencies[stem(term)])[:2]


def intersect(mask: np.ndarray | None, other: np.ndarray | None) -> np.ndarray | None:
    """Two masks by passage id (None: every passage) as one."""
    if mask is None or other is None:
        return other if mask is None else mask
    size = min(len(mask), len(other))
    return mask[:size] & other[:size]


def score_dense(candidates: list[Candidate], query: np.ndarray) -> None:
    """A passage's dense score blends its own cosine with its best sentence's (one product for all,
    each passage's best sentence by one reduction)."""
    if not candidates:
        return
    passage_cosines = np.stack([c.row.vector for c in candidates]) @ query
    lengths = np.array([len(c.row.sentence_vectors) for c in candidates])
    every_sentence = np.concatenate([c.row.sentence_vectors for c in candidates]) @ query
    ends = np.cumsum(lengths)
    starts = ends - lengths
    held = lengths > 0
    best = np.zeros(len(candidates), dtype=np.float32)
    if held.any():
        best[held] = np.maximum.reduceat(every_sentence, starts[held])
    # In float64, as the Python floats it was computed in before: the same values to the last bit.
    dense = (1 - SENTENCE_WEIGHT) * passage_cosines.astype(np.float64) + SENTENCE_WEIGHT * best.astype(np.float64)
    for candidate, start, end, has, value in zip(candidates, starts.tolist(), ends.tolist(), held.tolist(), dense.tolist()):
        candidate.sentence_cosines = every_sentence[start:end] if has else None
        candidate.dense = value


def score_bounds(scores: dict[int, float], floor: float | None = None) -> tuple[float, float]:
    """(low, high) for min-max: the best score and the CANDIDATES-th best. With fewer candidates
    than that, the rest scored `floor` (BM25's 0 for passages sharing no word)."""
    if not scores:
        return 0.0, 0.0
    ordered = sorted(scores.values(), reverse=True)
    low = ordered[min(CANDIDATES, len(ordered)) - 1]
    if floor is not None and len(ordered) < CANDIDATES:
        low = min(low, floor)
    return low, ordered[0]


def normalise(scores: dict[int, float], bounds: tuple[float, float]) -> dict[int, float]:
    """Min-max by `bounds` (score_bounds): high becomes 1, low 0 (lower ones clip at 0)."""
    low, high = bounds
    return {pid: max(0.0, (score - low) / (high - low + 1e-9)) for pid, score in scores.items()}
