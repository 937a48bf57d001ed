"""The eval scorer: a passage answers only from the right document, with an answer, on a gold page."""
from __future__ import annotations

import json

import pytest

from qa.search import Citation, Hit, Span
from qa.evaluation import Question, answer_rank, cited_pages, load_questions
from qa.search import Answer


def hit(rank: int, text: str, source: str, pages: list[int] | None = None, page: int | None = None) -> Hit:
    citation = Citation(document_id="d", title="t", source=source, passage=rank - 1, start=0, end=len(text),
                        page=page, pages=pages)
    return Hit(rank=rank, score=1.0, text=text, citation=citation, highlight=Span(0, len(text)))


def answer(*hits: Hit) -> Answer:
    return Answer(question="q", confident=True, passages=list(hits), took_ms=0.0)


PAGED = Question("1", "What was revenue in 2020?", ["$4.2 billion"], "report.pdf", pages=[7])


def test_right_document_answer_and_page_is_a_hit():
    found = answer(hit(1, "Revenue was $4.2  Billion in 2020.", "report.pdf", pages=[6, 7]))
    assert answer_rank(found, PAGED) == 1


def test_answer_on_the_wrong_page_is_a_miss():
    found = answer(hit(1, "Revenue: $4.2 billion (see page 7).", "report.pdf", pages=[2, 3]))
    assert answer_rank(found, PAGED) is None


def test_the_first_passage_on_a_gold_page_gives_the_rank():
    found = answer(hit(1, "In summary, $4.2 billion.", "report.pdf", pages=[1, 1]),
                   hit(2, "Nothing here.", "report.pdf", pages=[7, 7]),
                   hit(3, "Revenue was $4.2 billion.", "report.pdf", page=7))
    assert answer_rank(found, PAGED) == 3


def test_a_passage_without_cited_pages_does_not_count_for_a_paged_question():
    assert answer_rank(answer(hit(1, "Revenue was $4.2 billion.", "report.pdf")), PAGED) is None


def test_wrong_document_is_a_miss_even_on_the_gold_page():
    assert answer_rank(answer(hit(1, "Revenue was $4.2 billion.", "other.pdf", pages=[7, 7])), PAGED) is None


@pytest.mark.parametrize("pages", [None, [3, 3]])
def test_a_question_without_pages_is_scored_as_before(pages):
    question = Question("2", "Who wrote it?", ["Ada Lovelace"], "notes.txt")
    found = answer(hit(1, "Charles Babbage built it.", "notes.txt", pages=pages),
                   hit(2, "It was written by ADA\nLovelace.", "notes.txt", pages=pages))
    assert answer_rank(found, question) == 2


def test_cited_pages_prefers_the_range_then_the_single_page():
    assert cited_pages(hit(1, "x", "a.pdf", pages=[4, 6], page=4).citation) == (4, 6)
    assert cited_pages(hit(1, "x", "a.pdf", page=5).citation) == (5, 5)
    assert cited_pages(hit(1, "x", "a.txt").citation) is None


def test_load_questions_reads_pages_and_skips_unanswerable(tmp_path):
    rows = [
        {"id": "a", "question": "q1", "answers": ["x"], "source": "r.pdf", "answerable": True, "pages": [3, 9]},
        {"id": "b", "question": "q2", "answers": ["y"], "source": "n.txt"},
        {"id": "c", "question": "q3", "answers": [], "source": "n.txt", "answerable": False},
    ]
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    questions = load_questions(tmp_path)
    assert [(q.id, q.pages) for q in questions] == [("a", [3, 9]), ("b", None)]
