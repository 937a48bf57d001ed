"""Which pages a question names (qa/page_references.py)."""
from __future__ import annotations

import pytest

from qa.page_references import mention_words, named_pages


@pytest.mark.parametrize("question, pages", [
    ("What is the word written in the orange box on page 17?", [17]),
    ("What is the fax number on page fourteen?", [14]),
    ("What words are in the first rectangle at the top of page two?", [2]),
    ("What type of court is noted on the cover page?", [1]),
    ("Who is the governor named on the first page of the document?", [1]),
    ("What does slide 4 say about pears?", [4]),
    ("Compare p. 3 and pg. 12", [3, 12]),
    ("How many pages does the report have?", []),
    ("Which page lists the fees?", []),
    ("What happened in 1917?", []),
    ("Compare pages 1, page 2, page 3 and page 4", []),  # a question about many pages is about none
    ("What made front page news in the spring?", []),  # "front page" describing a thing, not a place
    ("Which schools use year 3 students as cover page student models?", []),
    ("Is the first page of the report signed?", [1]),
])
def test_named_pages(question, pages):
    assert named_pages(question) == pages


def test_the_words_of_a_mention_are_where_to_look_not_what_to_look_for():
    assert mention_words("What is the fax number on page fourteen of the cover letter?") == {"page", "fourteen"}
    assert mention_words("Who signed on the cover page?") == {"cover", "page"}
