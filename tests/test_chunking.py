from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.chunking import sentence_spans, split_passages
from qa.documents import make_document
from qa.readers import iter_files, read_document
from qa.index import Index
from tests.conftest import EVAL, SEEDS

CORPORA = [SEEDS, EVAL / "cmu-s08" / "corpus", EVAL / "xquad-en" / "corpus"]


def whitespace_tokens(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return Index(tmp_path_factory.mktemp("chunking"), create=True)


@pytest.mark.model
@pytest.mark.parametrize("corpus", CORPORA, ids=lambda p: p.parent.name if p.name == "corpus" else p.name)
def test_every_passage_is_an_exact_slice_within_the_model_limit(index, corpus):
    embedder = index.embedder
    checked = 0
    for path, source in iter_files([corpus]):
        document = read_document(path, source)
        passages = index.chunk(document)
        assert passages, source
        inputs = [index.embedding_text(document, p.text, p.context) for p in passages]
        tokens = embedder.count_tokens(inputs)
        for passage, count in zip(passages, tokens):
            assert document.text[passage.start : passage.end] == passage.text
            assert count + embedder.special_tokens <= embedder.max_tokens, (source, passage.index, count)
            checked += 1
        assert [p.index for p in passages] == list(range(len(passages)))
    assert checked > 10


@pytest.mark.model
def test_seed_passages_have_no_duplicates_and_no_furniture(index):
    texts = [p.text for path, source in iter_files([SEEDS]) for p in index.chunk(read_document(path, source))]
    assert len(texts) == len(set(texts))
    for text in texts:
        assert text.strip().casefold() not in {"subscribe", "view comments", "join the conversation"}
        assert "username" not in text.casefold()


@pytest.mark.model
def test_a_giant_sentence_is_cut_to_fit(index):
    document = make_document("Title\n" + " ".join(["antidisestablishmentarianism"] * 3000), "giant.txt")
    passages = index.chunk(document)
    counts = index.embedder.count_tokens([index.embedding_text(document, p.text, p.context) for p in passages])
    assert len(passages) > 10
    assert max(counts) + index.embedder.special_tokens <= index.embedder.max_tokens
    assert all(document.text[p.start : p.end] == p.text for p in passages)


def test_neighbours_overlap_by_a_sentence_within_a_paragraph():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    passages = split_passages(make_document("T\n\n" + text, "s.txt"), whitespace_tokens, target_tokens=30)
    assert len(passages) > 3
    for before, after in zip(passages[1:], passages[2:]):
        assert after.start < before.end  # the last sentence of one opens the next


def test_paragraph_breaks_are_preferred_cut_points():
    paragraphs = ["First paragraph sentence one. It has two sentences.", "Second paragraph here. Also two."]
    document = make_document("T\n\n" + "\n\n".join(paragraphs), "p.txt")
    passages = split_passages(document, whitespace_tokens, target_tokens=10)
    # 9 tokens fit before the second paragraph; it opens a new passage rather than splitting.
    assert [p.text for p in passages] == ["T\n\n" + paragraphs[0], paragraphs[1]]


def test_sentences_are_found_inside_lines_and_lines_are_boundaries():
    text = "A heading\nDr. Smith went to Washington. He arrived on Monday.\n\nNext paragraph."
    found = [text[s.start : s.end] for s in sentence_spans(text)]
    assert found == ["A heading", "Dr. Smith went to Washington.", "He arrived on Monday.", "Next paragraph."]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000),
       st.integers(min_value=1, max_value=64))
def test_offsets_hold_for_arbitrary_text(raw, target):
    document = make_document(raw, "any.txt")
    passages = split_passages(document, whitespace_tokens, target_tokens=target, max_tokens=64)
    for passage in passages:
        assert document.text[passage.start : passage.end] == passage.text
        assert passage.text.strip()
        assert whitespace_tokens([passage.text])[0] <= 64
    covered = set().union(*(range(p.start, p.end) for p in passages)) if passages else set()
    assert all(i in covered for i, ch in enumerate(document.text) if not ch.isspace())  # nothing dropped


def test_a_title_or_heading_never_stands_alone_as_a_passage():
    long_paragraph = " ".join(f"Sentence number {i} says something about the match." for i in range(12))
    text = f"Super Bowl 50\n\n{long_paragraph}\n\nEarly years\n\n{long_paragraph}"
    passages = split_passages(make_document(text, "game.txt"), whitespace_tokens, target_tokens=40,
                              max_tokens=60, overlap_tokens=0)
    assert passages[0].text.startswith("Super Bowl 50\n\nSentence number 0")
    assert all(len(p.text.split()) > 3 for p in passages)  # "Early years" is not a passage either


def test_heading_lines_that_end_a_full_passage_open_the_next_one():
    """A table's column header and the name over its rows belong with the rows below them: when the
    rows do not fit, the headings move on with them rather than ending the passage before."""
    prose = " ".join(f"Markets are grouped by state in sentence {i}." for i in range(3))
    rows = "\n".join(f"{i}. | Town {i} | AR0{i}" for i in range(1, 6))
    text = f"Regions\n\n{prose}\n\nGeographic Market Name | Code\n\nArkansas (AR)\n\n{rows}"
    document = make_document(text, "markets.txt")

    def split(headings_lead: bool) -> list:
        return split_passages(document, whitespace_tokens, target_tokens=45, max_tokens=60, overlap_tokens=8,
                              min_tokens=4, headings_lead=headings_lead)

    before, after = split(False), split(True)
    assert before[0].text.endswith("Arkansas (AR)") and before[1].text.startswith("1. | Town 1")
    assert after[0].text.endswith("sentence 2.")
    assert after[1].text.startswith("Geographic Market Name | Code\n\nArkansas (AR)\n\n1. | Town 1")
    assert all(document.text[p.start : p.end] == p.text for p in after)


def test_the_default_chunking_lets_headings_lead():
    from qa.policy import CHUNKING

    assert CHUNKING["headings_lead"] is True

