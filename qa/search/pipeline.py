"""A question's path, top to bottom: analysed once, searched inside its scope (the documents it names
first), re-ranked, assessed, cited. Each stage is a module of this package; arrows go one way:

    query.py     the question analysed once (Query.parse)
    retrieve.py  candidates from dense and BM25 inside the scope, fused; the places it names first
    rerank.py    the head re-ordered by sentence match and MaxSim
    assess.py    how sure the top passage is, and why not
    cite.py      hits with their citations (offsets, pages, boxes, the sentence that answers)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from qa.catalog import Scope
from qa.conversation import Topic, contextual_question, next_topic
from qa.errors import EmptyQuestion, IndexNotBuilt
from qa.index import Index
from qa.maxsim import Match
from qa.metadata import DEFAULT_COLLECTION
from qa.routing import Route
from qa.search.assess import Confidence, assess
from qa.search.cite import Hit, cite
from qa.search.query import Query
from qa.search.rerank import rerank, word_evidence
from qa.search.retrieve import Candidate, Retriever

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
    confidence: float = 0.0  # in [0, 1]: how likely the top passage answers (qa/search/assess.py)
    confidence_reasons: list[str] = field(default_factory=list)  # why not, when not confident
    collection: str = DEFAULT_COLLECTION  # the collection searched
    filter_matched: int | None = None  # documents the filter kept (None: no filter)
    message: str | None = None  # why nothing came back, when the filter kept nothing


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
        self.retrieve = Retriever(index, self.retriever)

    def ask(self, question: str, top_k: int = 5, topic: Topic | None = None, scope: Scope = Scope()) -> Answer:
        """The passages of the scope (a collection, filtered: qa/catalog.py) which best answer the
        question. The search runs inside them: a narrow filter still returns up to top_k passages."""
        started = time.perf_counter()
        query = Query.parse(clean_question(question))
        if self.index.reader.refresh() == 0:
            raise IndexNotBuilt(str(self.index.folder))
        selection = self.index.reader.select(scope)
        matched = selection.documents if scope.filtered else None
        if selection.documents == 0:
            why = (f"The collection {scope.collection!r} holds no documents yet." if not scope.filtered else
                   f"No document in the collection {scope.collection!r} matches the filter, so nothing was searched. "
                   "Widen the filter: GET /api/documents (qa documents) shows each document's source, type, "
                   "tags and date.")
            return Answer(query.text, False, [], elapsed(started), topic, 0.0, [], scope.collection, matched, why)
        route, routed, stranger = self.index.reader.catalog.route(scope, query)
        ranked = self.rank(query, selection.mask, route, routed, scope.collection)
        certainty, cited = self.certainty(query, ranked), query
        if topic is not None and query.follow_up:
            # Leaning on the conversation: search again with the topic's words, and keep whichever
            # reading of the question finds the surer answer. After a change of subject the old
            # topic's words match nothing near the answer, so the question alone wins.
            searched = Query.parse(contextual_question(query.text, topic))
            in_context = self.rank(searched, selection.mask, route, routed, scope.collection, topic.document_id)
            in_context_certainty = self.certainty(searched, in_context)
            if in_context_certainty.score >= certainty.score:
                ranked, certainty, cited = in_context, in_context_certainty, searched
        for doubt in (route.missing, stranger):  # the question names a document the collection lacks
            if doubt:
                certainty = certainty.doubted(doubt)
        hits = cite(self.index.store, self.index.reader.catalog, ranked, top_k, cited.terms)
        top = hits[0].citation if hits else None
        next_ = next_topic(query.asked, query.follow_up, topic, top.title if top else "", top.document_id if top else None)
        return Answer(query.text, certainty.confident, hits, elapsed(started), next_, certainty.score,
                      certainty.reasons, scope.collection, matched)

    def rank(self, query: Query, within: np.ndarray | None = None, route: Route | None = None,
             routed: np.ndarray | None = None, collection: str | None = None,
             boost_document: str | None = None) -> list[Candidate]:
        """Candidates from both retrievers, scored and sorted best first, inside `within` (a
        Selection's mask); the documents of the route (`routed`, their passages) and the pages the
        question names first (qa/search/retrieve.py), each group re-ranked apart, within its own
        score range, so MaxSim never outweighs the place the question names."""
        groups = self.retrieve.groups(query, within, routed, route.words if route else frozenset(), boost_document)
        ranked = [rerank(self.index, query.text, group.terms, group.candidates, within) if self.rerank
                  else group.candidates for group in groups]
        found = sorted((candidate for group in ranked for candidate in group), key=lambda c: -c.score)
        return found if collection is None else inside(found, collection)

    def certainty(self, query: Query, ranked: list[Candidate]) -> Confidence:
        """How sure the top answer is, and why not (qa/search/assess.py). Never reorders `ranked`."""
        return assess(query, ranked, self.index, lexical_only=self.retriever == "bm25")

    def evidence(self, question: str, candidate: Candidate) -> list[Match]:
        """The question's content words the passage matches by their token states (qa/search/rerank.py)."""
        return word_evidence(self.index, question, candidate)


def inside(ranked: list[Candidate], collection: str) -> list[Candidate]:
    """The candidates of the collection asked, whatever raced the search. With one collection in the
    index a question searches unmasked (qa/catalog.py); a document creating a second collection can
    land between that choice and the search, and its passages are dropped here, before anything is
    scored for confidence or cited."""
    return [candidate for candidate in ranked if candidate.row.collection == collection]


def clean_question(question: str) -> str:
    if not question.strip():
        raise EmptyQuestion("The question is empty.")
    return question.strip()


def elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
