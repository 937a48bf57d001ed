"""Question -> ranked, fused, cited hits. The one place retrieval logic lives.

Two retrievers look at every question: dense (FAISS over the model's vectors, which finds
paraphrases) and BM25 (qa/lexical.py, which finds the rare names and numbers questions hinge on).
A candidate's dense score blends its passage vector with its best sentence vector; both sides are
min-max normalised and summed, passages of a document that has a strong passage get a lift, and the
first few are re-ranked by how many of the question's words one sentence holds together and by
MaxSim (qa/maxsim.py). qa/citations.py turns the ranking into cited hits.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from qa.citations import Hit, cite
from qa.confidence import Confidence, assess
from qa.conversation import Topic, contextual_question, is_follow_up, next_topic
from qa.errors import EmptyQuestion, IndexNotBuilt
from qa.index import Index
from qa.lexical import idf, label_match, row_labels, sentence_match
from qa.maxsim import RERANK_CANDIDATES, Match, evidence, fuse, idf_weights, scores, stack, unpack
from qa.metadata import DEFAULT_COLLECTION
from qa.page_references import named_pages, without_mentions
from qa.schemas import Filter
from qa.store import ScoringRow
from qa.terms import query_terms, stem, words

# Tuned on xquad-en and checked on cmu-s08 (bench/README.md has the figures for each lever).
CANDIDATES = 50  # taken from each retriever; each side's 50th score is its zero point
DENSE_WEIGHT = 0.4  # fused = w * dense + (1 - w) * bm25 (0.5 before sentence vectors were pooled)
SENTENCE_WEIGHT = 0.5  # dense = (1 - s) * cos(question, passage) + s * max cos(question, sentence)
DOCUMENT_WEIGHT = 0.2  # + this share of the best fused score in the same document
TOPIC_BOOST = 0.15  # on a follow-up, added to passages of the conversation's topic document
Bounds = tuple[tuple[float, float], tuple[float, float]]  # (low, high) of the dense and BM25 scores
PAGE_BOOST = 0.5  # added to the passages on the pages a question names ("on page 17")
ROUTE_BOOST = 2.0  # added to the passages of the documents a question names by their cards (qa/routing.py)
SENTENCE_MATCH_WEIGHT = 0.6  # re-rank: + this x the best sentence's IDF-weighted share of the question's terms
LABEL_WEIGHT = 0.6  # + this x the share of a table row's label that the question names (qa/lexical.py label_match)
COMMON_TERM_SHARE = 0.15  # BM25 skips terms found in more than this share of passages
RETRIEVERS = ("hybrid", "dense", "bm25")
RERANKERS = ("maxsim",)  # a retriever may be followed by one: "hybrid+maxsim" (qa/maxsim.py)
VARIANTS = tuple(f"{r}{'+' + late if late else ''}" for r in RETRIEVERS for late in ("", *RERANKERS))

# numpy's OpenBLAS to one thread: a question's matrix products are small, and OpenBLAS's idle
# threads spin after each one, taking the cores FAISS and the model need. Measured at 100k
# passages: a question 59 ms -> 25 ms at p50 (bench/README.md). Other BLAS (torch's MKL) untouched.
ThreadpoolController().select(internal_api="openblas").limit(limits=1)


@dataclass
class Answer:
    question: str
    confident: bool
    passages: list[Hit]
    took_ms: float
    topic: Topic | None = None  # what a conversation carries into its next question
    confidence: float = 0.0  # in [0, 1]: how likely the top passage answers (qa/confidence.py)
    confidence_reasons: list[str] = field(default_factory=list)  # why not, when not confident
    collection: str = DEFAULT_COLLECTION  # the collection searched
    filter_matched: int | None = None  # documents the filter kept (None: no filter)
    message: str | None = None  # why nothing came back, when the filter kept nothing


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


class Searcher:
    def __init__(self, index: Index, retriever: str = "hybrid+maxsim", rerank: bool | None = None):
        """`retriever` is one of VARIANTS ("hybrid", "hybrid+maxsim", ...); the default is what the
        service runs. `rerank`, when given, turns the MaxSim re-ranking on or off whatever the
        retriever's name says (setting RERANK)."""
        if retriever not in VARIANTS:
            raise ValueError(f"retriever must be one of {', '.join(VARIANTS)}")
        self.index = index
        self.retriever, _, late = retriever.partition("+")
        self.rerank = bool(late) if rerank is None else rerank

    def ask(self, question: str, top_k: int = 5, topic: Topic | None = None, collection: str = DEFAULT_COLLECTION,
            filter: Filter | None = None) -> Answer:
        """The passages of `collection` that `filter` keeps which best answer the question. The search
        runs inside them (qa/catalog.py): a narrow filter still returns up to top_k passages."""
        started = time.perf_counter()
        question = clean_question(question)
        if self.index.reader.refresh() == 0:
            raise IndexNotBuilt(str(self.index.folder))
        filter = None if filter is None or filter.empty else filter
        selection = self.index.reader.select(collection, filter)
        matched = None if filter is None else selection.documents
        if selection.documents == 0:
            why = (f"The collection {collection!r} holds no documents yet." if filter is None else
                   f"No document in the collection {collection!r} matches the filter, so nothing was searched. "
                   "Widen the filter: GET /api/documents (qa documents) shows each document's source, type, "
                   "tags and date.")
            return Answer(question, False, [], round((time.perf_counter() - started) * 1000, 2), topic, 0.0,
                          [], collection, matched, why)
        within = selection.mask
        terms = query_terms(question)
        route, routed, stranger = self.index.reader.catalog.route(collection, filter, question)
        ranked = inside(self.rank(question, terms, within=within, route=routed, route_words=route.words), collection)
        certainty = self.certainty(question, ranked, terms)
        if topic is not None and is_follow_up(question):
            # Leaning on the conversation: search again with the topic's words, and keep whichever
            # reading of the question finds the surer answer. After a change of subject the old
            # topic's words match nothing near the answer, so the question alone wins.
            searched = contextual_question(question, topic)
            searched_terms = query_terms(searched)
            in_context = inside(self.rank(searched, searched_terms, topic.document_id, within, routed, route.words),
                                collection)
            in_context_certainty = self.certainty(searched, in_context, searched_terms)
            if in_context_certainty.score >= certainty.score:
                ranked, terms, certainty = in_context, searched_terms, in_context_certainty
        for doubt in (route.missing, stranger):  # the question names a document the collection lacks
            if doubt:
                certainty = certainty.doubted(doubt)
        hits = cite(self.index.store, ranked, top_k, terms)
        top = hits[0].citation if hits else None
        next_ = next_topic(question, topic, top.title if top else "", top.document_id if top else None)
        return Answer(question, certainty.confident, hits, round((time.perf_counter() - started) * 1000, 2), next_,
                      certainty.score, certainty.reasons, collection, matched)

    def rank(self, question: str, terms: list[str], boost_document: str | None = None,
             within: np.ndarray | None = None, route: np.ndarray | None = None,
             route_words: set[str] | frozenset[str] = frozenset()) -> list[Candidate]:
        """Candidates from both retrievers, scored and sorted best first; with `within` (a Selection's
        mask), both retrievers search only those passages. Two kinds of place a question may name are
        searched first, each alone, and what is found there ranks higher than the rest:
        - the documents its words name by their cards (`route`, a mask from qa/routing.py), searched
          without those words (inside "AMD's 2015 10-K", "AMD", "2015" and "10-K" tell no passage
          from another), ROUTE_BOOST higher;
        - the pages it names ("on page 17", qa/page_references.py), PAGE_BOOST higher: "the table
          on page 12" means that page's table."""
        query = None if self.retriever == "bm25" else self.index.embedder.encode_query(question)
        pages = named_pages(question)
        terms = without_mentions(terms, question)
        stems = [] if self.retriever == "dense" else [stem(t) for t in self.selective(terms, within)]
        candidates, bounds = self.fused(query, stems, within, boost_document)
        route = None if route is None else intersect(route, within)
        inside = [term for term in terms if term not in route_words] or terms
        # Inside the documents named, the words that named them match every passage's label alike:
        # the model reads the question without them, or the passages with least text of their own win.
        inside_query = query
        if route is not None and query is not None:
            stripped = without_words(question, route_words)
            inside_query = self.index.embedder.encode_query(stripped) if stripped != question else query
        on_pages = self.page_mask(pages, within)
        places = [Place(intersect(on_pages, route), PAGE_BOOST + ROUTE_BOOST, True) if on_pages is not None else None,
                  Place(route, ROUTE_BOOST, True), Place(on_pages, PAGE_BOOST, False)] if route is not None else \
                 [Place(on_pages, PAGE_BOOST, False)]
        groups: list[tuple[list[Candidate], list[str]]] = []
        seen: set[int] = set()
        for place in places:
            if place is None or place.mask is None or not place.mask.any():
                continue
            # Named pages are scored on the same scale as the rest (the whole index's BM25 statistics,
            # the main run's normalisation), so their passages stand where their own merit puts them,
            # plus the boost. Named documents are ranked as an index of them alone would rank them,
            # with the question stripped of the words that named them.
            if place.named_documents:
                place_terms = inside
                place_stems = [] if self.retriever == "dense" else [stem(t) for t in self.selective(inside, place.mask)]
                found, _ = self.fused(inside_query, place_stems, place.mask, boost_document)
            else:
                place_terms = terms
                found, _ = self.fused(query, stems, place.mask, boost_document, bounds)
            found = [candidate for candidate in found if candidate.row.id not in seen]
            for candidate in found:
                candidate.score += place.boost
            seen |= {candidate.row.id for candidate in found}
            groups.append((found, place_terms))
        groups.append(([candidate for candidate in candidates if candidate.row.id not in seen], terms))
        groups = [(sorted(group, key=lambda c: -c.score), group_terms) for group, group_terms in groups if group]
        if self.rerank:
            # Each place's passages and the others are re-ranked apart, each within its own score
            # range, so MaxSim never outweighs the place the question names.
            groups = [(self.rerank_late(question, group_terms, group, within), group_terms) for group, group_terms in groups]
        return sorted((candidate for group, _ in groups for candidate in group), key=lambda c: -c.score)

    def fused(self, query: np.ndarray | None, stems: list[str], within: np.ndarray | None,
              boost_document: str | None, bounds: Bounds | None = None) -> tuple[list[Candidate], Bounds]:
        """Both retrievers' candidates inside `within`, each with its fused score (unsorted), and the
        bounds each side was normalised by. Given `bounds` (another run's), these are scored on that
        run's scale, with the whole index's BM25 statistics."""
        reader = self.index.reader
        dense_ids = [] if query is None else [pid for pid, _ in reader.search(query, CANDIDATES, within)]
        lexical = reader.bm25(stems, CANDIDATES, within, whole_index=bounds is not None) if stems else []
        ids = list(dict.fromkeys(dense_ids + [pid for pid, _ in lexical]))
        candidates = [Candidate(row) for row in self.index.reader.scoring_rows(ids)]
        if query is not None:
            score_dense(candidates, query)

        dense_scores = {c.row.id: c.dense for c in candidates} if query is not None else {}
        dense_bounds = bounds[0] if bounds else score_bounds(dense_scores)
        bm25_bounds = bounds[1] if bounds else score_bounds(dict(lexical), floor=0.0)
        dense, bm25 = normalise(dense_scores, dense_bounds), normalise(dict(lexical), bm25_bounds)
        weight = {"hybrid": DENSE_WEIGHT, "dense": 1.0, "bm25": 0.0}[self.retriever]
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
        labels = [row_labels(candidate.row.text) for candidate in candidates]
        if not stems or not any(labels):
            return [0.0] * len(candidates)
        vocabulary = list({term for found in labels for label in found for term in label})
        frequencies, passages = self.index.reader.document_frequencies(vocabulary, within)
        weights = {term: idf(frequencies.get(term, 0), passages) for term in vocabulary}
        question = set(stems)
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

    def rerank_late(self, question: str, terms: list[str], ranked: list[Candidate],
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
        packed = self.index.reader.word_states([c.row.id for c in head])
        question_words = self.index.embedder.encode_query_words(question)
        if len(packed) < len(head) or not question_words.words:
            return ranked
        term_stems = list(dict.fromkeys(stem(term) for term in terms))
        frequencies, passages = self.index.reader.document_frequencies(
            list(dict.fromkeys(term_stems + [stem(w) for w in question_words.words])), within)
        weights = idf_weights(question_words, frequencies, passages)
        late = scores(question_words.vectors, weights, stack([packed[c.row.id] for c in head], self.index.dimension))
        term_weights = {s: idf(frequencies.get(s, 0), passages) for s in term_stems}
        first = np.array([c.score for c in head])
        matched = np.array([sentence_match(c.row, term_weights) for c in head])
        fused = fuse(first + SENTENCE_MATCH_WEIGHT * matched, late)
        low, high = first.min(), first.max()
        for candidate, value, late_score, match in zip(head, fused, late, matched):
            candidate.score = float(low + value * (high - low))
            candidate.late, candidate.matched = float(late_score), float(match)
        return sorted(head, key=lambda c: -c.score) + ranked[len(head):]

    def evidence(self, question: str, candidate: Candidate) -> list[Match]:
        """Which of the question's content words the passage matches, and how well (cosine of their
        token states, with each word's IDF): a signal for abstention. Empty when the passage has no
        stored states."""
        packed = self.index.reader.word_states([candidate.row.id]).get(candidate.row.id)
        question_words = self.index.embedder.encode_query_words(question)
        if packed is None or not question_words.words:
            return []
        frequencies, passages = self.index.reader.document_frequencies([stem(w) for w in question_words.words])
        vectors, spans = unpack(packed, self.index.dimension)
        row = candidate.row
        text = self.index.policy.embedding_text(row.label, row.context, row.text)  # the text the spans point into
        return evidence(question_words, idf_weights(question_words, frequencies, passages), vectors, spans, text)

    def selective(self, terms: list[str], within: np.ndarray | None = None) -> list[str]:
        """The terms BM25 searches: those in at most COMMON_TERM_SHARE of the passages (a word in
        most passages adds almost nothing to BM25 but costs the time of scoring every row holding
        it), or the two rarest when all are common."""
        frequencies, passages = self.index.reader.document_frequencies([stem(term) for term in terms], within)
        limit = COMMON_TERM_SHARE * max(passages, 1)
        kept = [term for term in terms if frequencies[stem(term)] <= limit]
        return kept or sorted(terms, key=lambda term: frequencies[stem(term)])[:2]

    def certainty(self, question: str, ranked: list[Candidate], terms: list[str]) -> Confidence:
        """How sure the top answer is, and why not (qa/confidence.py). Never reorders `ranked`."""
        return assess(question, terms, ranked, self.index, lexical_only=self.retriever == "bm25")


def without_words(question: str, folded: set[str] | frozenset[str]) -> str:
    """The question without the words (as qa.terms.words folds them) that named its documents, and
    the possessive they leave: "What did AMD's 2015 10-K report?" -> "What did report?"."""
    if not folded:
        return question
    kept = [token for token in re.split(r"(\s+)", question)
            if not (set(words(token)) and set(words(token)) - {"s"} <= folded)]
    return " ".join("".join(kept).split()) or question


def intersect(mask: np.ndarray | None, other: np.ndarray | None) -> np.ndarray | None:
    """Two masks by passage id (None: every passage) as one."""
    if mask is None or other is None:
        return other if mask is None else mask
    size = min(len(mask), len(other))
    return mask[:size] & other[:size]


def inside(ranked: list[Candidate], collection: str) -> list[Candidate]:
    """The candidates of the collection asked, whatever raced the search. With one collection in the
    index a question searches unmasked (qa/catalog.py); a document creating a second collection can
    land between that choice and the search, and its passages are dropped here, before anything is
    scored for confidence or cited."""
    return [candidate for candidate in ranked if candidate.row.collection == collection]


def score_dense(candidates: list[Candidate], query: np.ndarray) -> None:
    """A passage's dense score blends its own cosine with its best sentence's (one product for all)."""
    if not candidates:
        return
    passage_cosines = np.stack([c.row.vector for c in candidates]) @ query
    every_sentence = np.concatenate([c.row.sentence_vectors for c in candidates]) @ query
    ends = np.cumsum([len(c.row.sentence_vectors) for c in candidates])
    for candidate, passage_cosine, end in zip(candidates, passage_cosines, ends):
        cosines = every_sentence[end - len(candidate.row.sentence_vectors) : end]
        candidate.sentence_cosines = cosines if len(cosines) else None
        candidate.dense = (1 - SENTENCE_WEIGHT) * float(passage_cosine) + SENTENCE_WEIGHT * candidate.best_sentence_cosine


def clean_question(question: str) -> str:
    if not question.strip():
        raise EmptyQuestion("The question is empty.")
    return question.strip()


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
