"""Fuzzing. The API: schemathesis generates requests from /api/openapi.json and sends them to the
Flask app in-process (WSGI, no server); no response may be a 5xx or stray from the document
(status, content type, headers, body schema). The readers: hypothesis feeds arbitrary bytes and text
through qa.documents.parse_bytes and the real chunker (Index.chunk, the model's tokenizer).

Bounded: 60 cases per API operation (fewer where the inputs run out), 150 documents, 100 chunkings;
about a minute in all, most of it spent embedding the documents that POST /api/documents adds.
"""
from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

from qa.api import ROUTES
from qa.app import create_app
from qa.documents import make_document
from qa.readers import parse_bytes
from qa.index import Index
from tests.conftest import API_TOKEN

CASES_PER_OPERATION = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(seeds_index_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "index"
    shutil.copytree(seeds_index_dir, folder)
    return create_app({"INDEX": str(folder), "API_TOKEN": API_TOKEN, "TESTING": True})


@pytest.mark.model
def test_api_never_fails_and_keeps_to_its_document(fuzz_app):
    """One hypothesis run per operation. (schemathesis' pytest plugin, schema.parametrize(), does not
    run under pytest 9 yet, so the operations' strategies are driven directly.)"""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)
    cases_run: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def send(case):
            cases_run.append(operation.label)
            case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"}, checks=CHECKS)

        send()
    # Every operation the route table declares, but the OpenAPI document itself (no input to vary).
    operations = len([r for r in ROUTES if r.path != "/api/openapi.json"])
    assert len(set(cases_run)) == operations and 10 * operations <= len(cases_run) <= 75 * operations, len(cases_run)
    print(f"\nschemathesis: {len(cases_run)} cases over {len(set(cases_run))} operations, no failures")


# -- the readers --------------------------------------------------------------------------------------

SUFFIXES = st.sampled_from([".txt", ".md", ".html", ".htm", ".TXT", ".markdown"])
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1", "shift_jis", "utf-8-sig"])
TEXT = st.text(st.characters(codec="utf-8"), max_size=400)
LINES = st.lists(st.one_of(TEXT, st.just(""), st.text("ab .\n", min_size=2000, max_size=6000)), max_size=6)


@st.composite
def file_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["junk", "encoded", "mixed", "html", "huge-line"]))
    if kind == "junk":
        return draw(st.binary(max_size=3000))
    if kind == "encoded":
        return "\n".join(draw(LINES)).encode(draw(ENCODINGS), errors="replace")
    if kind == "mixed":  # lines in different encodings in one file
        return b"\n".join(line.encode(draw(ENCODINGS), errors="replace") for line in draw(LINES))
    if kind == "html":
        body = draw(TEXT).replace("<", "&lt;")
        tags = draw(st.lists(st.sampled_from(["<p>", "</p>", "<div>", "<script>", "</script>", "<h1>", "<!--",
                                              "<br>", "<title>", "&amp;", "&#0;", "\x00"]), max_size=12))
        return ("<html><body>" + "".join(tags) + body + "</body></html>").encode("utf-8", "surrogatepass")
    return ("word " * draw(st.integers(1000, 20000))).encode()  # one line of up to 100 KB


@pytest.fixture(scope="module")
def chunking_index(tmp_path_factory):
    return Index(tmp_path_factory.mktemp("fuzz-chunking"), create=True)


@pytest.mark.model
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=file_bytes(), suffix=SUFFIXES)
def test_any_bytes_read_into_a_clean_document_and_chunk_exactly(chunking_index, data, suffix):
    document = parse_bytes(data, suffix, "fuzz" + suffix)
    assert isinstance(document.text, str) and document.title
    document.text.encode("utf-8")  # storable: no lone surrogates
    assert "\x00" not in document.text and "\r" not in document.text
    check_passages(chunking_index, document)


@pytest.mark.model
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=3000) | st.lists(TEXT, max_size=30).map("\n\n".join))
def test_any_text_chunks_into_exact_slices(chunking_index, text):
    check_passages(chunking_index, make_document(text, "fuzz.txt"))


def check_passages(index: Index, document) -> None:
    passages = index.chunk(document)
    if document.text.strip():
        assert passages
    for number, passage in enumerate(passages):
        assert passage.index == number
        assert document.text[passage.start : passage.end] == passage.text
        assert passage.text.strip()
        for start, end in passage.sentences:
            assert passage.start <= start < end <= passage.end
