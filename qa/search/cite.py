"""Cite: ranked candidates -> cited hits: where each passage is (offsets, pages, boxes, printed page
numbers, a Word section) and which of its sentences answers best. Repeats are dropped here: the
same paragraph published twice is returned once.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from qa.catalog import Catalog
from qa.lexical import stems_of
from qa.search.retrieve import Candidate
from qa.store import ScoringRow, Store
from qa.terms import stem, words


@dataclass
class Box:
    """A rectangle of the passage on its page: PDF points from the page's top-left corner."""
    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Citation:
    document_id: str
    title: str
    source: str
    passage: int  # the passage's position in its document
    start: int  # character offsets into the document's text
    end: int
    page: int | None = None  # the first page the passage is on, 1-based (a slide, for a presentation)
    pages: list[int] | None = None  # [first, last]
    section: str | None = None  # the heading the passage falls under (Word documents)
    document_hash: str = ""  # which version of the document is quoted (its text's SHA-256)
    boxes: list[Box] = field(default_factory=list)  # where the passage stands on its pages (PDF)
    page_labels: list[str | None] | None = None  # the numbers printed on [first, last] page, when known (PDF)
    card: dict | None = None  # whose, what and when the document is: name, issuer, kind, period, year (qa/cards.py)
    context: str = ""  # what the passage stands under and does not repeat: its table's title and header rows


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

    def as_dict(self) -> dict:
        """The hit as the API gives it: what dataclasses.asdict gives, without its deep copy of every
        field (a third of a millisecond an answer)."""
        citation = dict(vars(self.citation))
        citation["boxes"] = [dict(vars(box)) for box in self.citation.boxes]
        for name in ("pages", "page_labels"):
            if citation[name] is not None:
                citation[name] = list(citation[name])
        if citation["card"] is not None:
            citation["card"] = copy.deepcopy(citation["card"])
        return {"rank": self.rank, "score": self.score, "text": self.text, "citation": citation,
                "highlight": dict(vars(self.highlight))}


def cite(store: Store, catalog: Catalog, ranked: list[Candidate], top_k: int, terms: list[str]) -> list[Hit]:
    """Turn ranked candidates into hits, skipping passages that repeat one already returned."""
    hits: list[Hit] = []
    seen: list[set[str]] = []
    seen_texts: set[str] = set()
    wanted = {stem(term) for term in terms}
    for candidate in ranked[: top_k * 4 + 10]:
        passage = candidate.row
        if passage.text in seen_texts:  # the exact copy is the cheap case
            continue
        seen_texts.add(passage.text)
        vocabulary = set(words(passage.text))
        if any(is_near_duplicate(vocabulary, other) for other in seen):
            continue
        seen.append(vocabulary)
        start, end = best_sentence(candidate, wanted) if len(passage.sentences) else (passage.start, passage.end)
        hits.append(Hit(
            rank=len(hits) + 1,
            score=round(candidate.score, 6),
            text=passage.text,
            citation=citation(store, catalog, passage),
            highlight=Span(start, end),
        ))
        if len(hits) == top_k:
            break
    return hits

def citation(store: Store, catalog: Catalog, passage: ScoringRow) -> Citation:
    """Where the passage is: its offsets, and for paged documents its pages (and its boxes on
    them, for a PDF); for a Word document the section it falls under."""
    pages = [passage.page_first, passage.page_last] if passage.page_first is not None else None
    section = None
    if passage.type == "docx":
        section = next((title for start, title in reversed(store.sections(passage.document_id))
                        if start <= passage.start), None)
    boxes, labels = [], None
    if passage.type == "pdf":
        boxes = passage_boxes(store.boxes(passage.document_id, passage.start, passage.end),
                              passage.start, passage.end)
        labels = catalog.page_labels(passage.document_id, pages) if pages else None
    card = catalog.card(passage.document_id)  # both from memory: they stand after the text in the document's row
    return Citation(passage.document_id, passage.title, passage.source, passage.index, passage.start,
                    passage.end, pages[0] if pages else None, pages, section, passage.document_hash, boxes,
                    labels if labels and any(labels) else None, card.summary() if card else None, passage.context)


def best_sentence(candidate: Candidate, wanted: set[str]) -> tuple[int, int]:
    """The highlight: the sentence whose cosine plus half its share of the question's (stemmed)
    terms is highest. Only computed for the passages returned."""
    row = candidate.row
    lexical = np.array([len(held & wanted) for held in stems_of(row)], dtype=np.float32) / max(len(wanted), 1)
    scores = lexical if candidate.sentence_cosines is None else candidate.sentence_cosines + 0.5 * lexical
    start, end = row.sentences[int(np.argmax(scores))]
    return int(start), int(end)


def passage_boxes(lines: list[tuple], start: int, end: int) -> list[Box]:
    """The passage's rectangles from its lines' boxes: a line the passage starts or ends inside is cut
    where its characters would be, in proportion (PDF lines are set in one font, near enough).

    Example: a line of chars [100, 200) at x 50..250, passage [150, 400): that line's box -> x 150..250."""
    boxes = []
    for line_start, line_end, page, x0, y0, x1, y1 in lines:
        width = (x1 - x0) / max(line_end - line_start, 1)
        left = x0 + width * max(0, start - line_start)
        right = x1 - width * max(0, line_end - end)
        boxes.append(Box(int(page), round(left, 1), round(y0, 1), round(max(right, left), 1), round(y1, 1)))
    return boxes


def is_near_duplicate(vocabulary: set[str], other: set[str], threshold: float = 0.9) -> bool:
    """Word-set Jaccard similarity: catches the same paragraph published twice with small edits."""
    if not vocabulary or not other:
        return vocabulary == other
    return len(vocabulary & other) / len(vocabulary | other) >= threshold
