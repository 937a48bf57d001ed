"""Filters inside the search: a filtered question sees only the documents the filter keeps, gets up
to top_k of their passages, and ranks them exactly as an index of only those documents would; a bad
filter is a 400 naming the field. Hashing embedder, a small generated library."""
from __future__ import annotations

import fnmatch
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.app import create_app
from qa.documents import make_document
from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.ingest import add_documents
from qa.schemas import Filter
from qa.search import Searcher

WORDS = ("harbour crane river bridge copper tariff vote senate orchard glacier violin comet ledger tunnel "
         "falcon quarry festival reactor vaccine monsoon railway satellite archive marble pepper lantern").split()
TAGS = ["finance", "legal", "draft", "q3"]
FOLDERS = ["reports", "notes", "mail"]
TYPES = ["txt", "md", "html"]


def library_documents() -> list:
    """24 documents of 2-7 passages of distinct random prose, with varied metadata; every fourth
    document is in the collection "other"."""
    rng = random.Random(7)
    documents = []
    for number in range(24):
        paragraphs = ["\n".join(" ".join(rng.choice(WORDS) for _ in range(60)) + f" marker{number}x{p}." for _ in range(1))
                      for p in range(rng.randint(2, 7))]
        document = make_document("\n\n".join(paragraphs), f"{FOLDERS[number % 3]}/doc{number}.{TYPES[number % 3]}",
                                 title=f"Document {number}")
        document.type = TYPES[number % 3]
        document.tags = [tag for bit, tag in enumerate(TAGS) if number >> bit & 1]
        document.date = None if number % 5 == 4 else f"2024-{1 + number % 12:02d}-{1 + number:02d}"
        document.place("other" if number % 4 == 3 else "default")
        documents.append(document)
    return documents


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Index, list]:
    index = Index(tmp_path_factory.mktemp("library") / "index", HASHING_MODEL, create=True)
    documents = library_documents()
    add_documents(index, documents)
    return index, documents


def keeps(document, collection: str, filter: Filter) -> bool:
    """The filter's meaning, written out plainly, to check the search against."""
    return (document.collection == collection
            and (filter.source is None or fnmatch.fnmatchcase(document.source, filter.source))
            and (filter.document_ids is None or document.id in filter.document_ids)
            and (filter.type is None or document.type in filter.type)
            and (filter.after is None or (document.date is not None and document.date >= filter.after.isoformat()))
            and (filter.before is None or (document.date is not None and document.date <= filter.before.isoformat()))
            and (filter.tags is None or (any if filter.tags_match == "any" else all)(t in document.tags for t in filter.tags)))


DATES = st.dates(min_value=__import__("datetime").date(2024, 1, 1), max_value=__import__("datetime").date(2024, 12, 31))


@st.composite
def filters(draw) -> dict:
    found = {}
    if draw(st.booleans()):
        found["source"] = draw(st.sampled_from(["reports/*", "notes/*", "*.md", "mail/doc1*", "*/doc2?.*", "none/*", "*"]))
    if draw(st.integers(0, 4)) == 0:
        found["document_ids"] = draw(st.lists(st.sampled_from([d.id for d in library_documents()]), min_size=1, max_size=4))
    if draw(st.booleans()):
        found["tags"] = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=3))
        found["tags_match"] = draw(st.sampled_from(["any", "all"]))
    if draw(st.integers(0, 2)) == 0:
        found["type"] = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2))
    if draw(st.integers(0, 2)) == 0:
        low, high = sorted([draw(DATES), draw(DATES)])
        found.update({key: day.isoformat() for key, day in (("after", low), ("before", high)) if draw(st.booleans())})
    return found


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filter=filters(), collection=st.sampled_from(["default", "other"]), top_k=st.integers(1, 12),
       question=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join))
def test_a_filtered_search_never_leaks_and_is_never_short(library, filter, collection, top_k, question):
    index, documents = library
    parsed = Filter.model_validate(filter)
    kept = {d.id for d in documents if keeps(d, collection, parsed)}
    answer = Searcher(index).ask(question, top_k, scope=parsed.scope(collection))
    cited = {hit.citation.document_id for hit in answer.passages}
    assert cited <= kept, (filter, cited - kept)
    kept_passages = sum(p["passages"] for p in index.store.documents(collection) if p["id"] in kept)
    assert len(answer.passages) == min(top_k, kept_passages)  # searched inside the filter: never short
    if filter:
        assert answer.filter_matched == len(kept)
    if not kept:
        assert answer.message and "matches the filter" in answer.message


@pytest.mark.parametrize("filter", [{"source": "reports/*"}, {"tags": ["finance", "draft"], "tags_match": "all"},
                                    {"type": "md", "after": "2024-03-01"}, {"source": "notes/doc1*"}])
def test_a_filtered_search_ranks_as_an_index_of_only_those_documents_would(library, tmp_path, filter):
    index, documents = library
    parsed = Filter.model_validate(filter)
    alone = Index(tmp_path / "alone", HASHING_MODEL, create=True)
    only = [d for d in library_documents() if keeps(d, "default", parsed)]
    assert 0 < len(only) < 16
    add_documents(alone, only)
    for question in ["copper tariff senate", "glacier violin", "marker5x1 harbour", "falcon quarry festival"]:
        filtered = Searcher(index).ask(question, 8, scope=parsed.scope("default")).passages
        expected = Searcher(alone).ask(question, 8).passages
        assert [(h.citation.source, h.citation.passage, h.score) for h in filtered] == \
               [(h.citation.source, h.citation.passage, h.score) for h in expected]


def test_a_filter_on_one_document_returns_up_to_top_k_of_its_passages(library):
    index, documents = library
    longest = max((d for d in documents if d.collection == "default"), key=lambda d: d.text.count("\n\n"))
    answer = Searcher(index).ask("harbour crane", 50, scope=Filter(document_ids=[longest.id]).scope("default"))
    passages = next(d["passages"] for d in index.store.documents() if d["id"] == longest.id)
    assert len(answer.passages) == passages and {h.citation.document_id for h in answer.passages} == {longest.id}


@pytest.fixture(scope="module")
def client(library):
    index, _ = library
    return create_app({"INDEX": str(index.folder), "MODEL": HASHING_MODEL, "TESTING": True}).test_client()


@pytest.mark.parametrize("body, status, message", [
    ({"filter": {"tag": ["x"]}}, 400, "filter.tag: Extra inputs are not permitted."),
    ({"filter": {"tags": []}}, 400, "filter.tags: List should have at least 1 item"),
    ({"filter": {"tags": ["a,b"]}}, 400, "filter.tags: the tag 'a,b' holds a comma"),
    ({"filter": {"tags": ["  "]}}, 400, "filter.tags: a tag is empty"),
    ({"filter": {"tags": ["x" * 65]}}, 400, "filter.tags: the tag 'xxxxxxxxxxxxxxxxxxxx'... is 65 characters"),
    ({"filter": {"tags": "finance"}}, 400, "filter.tags: Input should be a valid list."),
    ({"filter": {"type": "exe"}}, 400, "filter.type.0: Input should be 'txt', 'md', 'html', 'pdf', 'docx' or 'pptx'."),
    ({"filter": {"after": "yesterday"}}, 400, "filter.after: Input should be a valid date"),
    ({"filter": {"after": 1700000000}}, 400, "filter.after: send a date as \"YYYY-MM-DD\"; got 1700000000."),
    ({"filter": {"after": "2024-05-01", "before": "2024-01-01"}}, 400,
     "filter.after: 2024-05-01 is later than filter.before (2024-01-01); no document could match."),
    ({"filter": {"source": ""}}, 400, "filter.source: String should have at least 1 character."),
    ({"filter": {"document_ids": []}}, 400, "filter.document_ids: List should have at least 1 item"),
    ({"filter": {"tags_match": "some"}}, 400, "filter.tags_match: Input should be 'any' or 'all'."),
    ({"filter": "reports/*"}, 400, "filter: Input should be a valid dictionary or instance of Filter."),
    ({"collection": "Team A"}, 400, "collection: 'Team A' is not a collection name"),
    ({"collection": 7}, 400, "collection: Input should be a valid string."),
    ({"collection": "nowhere"}, 404, "No collection is named 'nowhere'"),
])
def test_each_bad_filter_or_collection_is_answered_naming_the_field(client, body, status, message):
    response = client.post("/api/ask", json={"question": "copper", **body})
    assert response.status_code == status, response.get_json()
    assert message in response.get_json()["error"]["message"]


def test_a_filter_matching_nothing_says_so(client):
    body = client.post("/api/ask", json={"question": "copper", "filter": {"source": "nowhere/*"}}).get_json()
    assert body["passages"] == [] and body["filter_matched"] == 0 and "matches the filter" in body["message"]
    assert body["collection"] == "default"


def test_a_filter_over_the_api_keeps_to_it(client, library):
    _, documents = library
    body = client.post("/api/ask", json={"question": "copper tariff", "top_k": 10,
                                         "filter": {"tags": ["finance"], "type": ["txt", "md"]}}).get_json()
    allowed = {d.id for d in documents if d.collection == "default" and "finance" in d.tags and d.type in ("txt", "md")}
    assert body["passages"] and {p["citation"]["document_id"] for p in body["passages"]} <= allowed
    assert body["filter_matched"] == len(allowed)
