"""Collections, tokens and document metadata: a token for collection A cannot read, search or write
B; PATCH edits tags and date; uploads and ingest set collection, tags and date; an index from before
schema 5 is migrated in place; each bad token and tag is answered with a clear 401/403/400."""
from __future__ import annotations

import io
import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from qa.app import create_app
from qa.cli import main
from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.store import SCHEMA_VERSION
from tests.pdfs import report_pdf

A_WRITER, A_READER, B_WRITER, AUDITOR = "a-writer-token-123456", "a-reader-token-123456", "b-writer-token-123456", "auditor-token-123456"
D_WRITER = "default-writer-token-123456"
# Every character str.splitlines breaks a line at, and control characters (C0, DEL, C1, a direction override).
SEPARATORS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS = ["\x00", "\t", "\x1b", "\x7f", "\x9b", "\u202e"]
SECRET_B = "The vault code of team B is zebra-quartz-4471, kept in the blue cabinet."
TEXT_A = "Team A plans the harbour festival with lanterns, violins and a copper bridge."


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(index_dir, tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"name": "a", "token": A_WRITER, "access": "write", "collections": ["team-a"]},
        {"name": "a-read", "token": A_READER, "access": "read", "collections": ["team-a"]},
        {"name": "b", "token": B_WRITER, "access": "write", "collections": ["team-b"]},
        {"name": "d", "token": D_WRITER, "access": "write", "collections": ["default"]},
        {"name": "auditor", "token": "sha256:" + __import__("hashlib").sha256(AUDITOR.encode()).hexdigest(),
         "access": "read", "collections": ["*"]},
    ]}))
    app = create_app({"INDEX": str(index_dir), "TOKENS_FILE": str(tokens), "TESTING": True})
    client = app.test_client()
    for token, collection, text, source in ((A_WRITER, "team-a", TEXT_A, "plans.txt"),
                                            (B_WRITER, "team-b", SECRET_B, "plans.txt")):
        response = client.post("/api/documents", headers=bearer(token),
                               json={"text": text, "source": source, "collection": collection, "tags": ["Plans"]})
        assert response.status_code == 201, response.get_json()
    return client


def document_id(client, token: str, collection: str) -> str:
    return client.get(f"/api/documents?collection={collection}", headers=bearer(token)).get_json()["documents"][0]["id"]


def test_the_same_source_in_two_collections_is_two_documents(client):
    a, b = document_id(client, A_READER, "team-a"), document_id(client, AUDITOR, "team-b")
    assert a != b
    listed = client.get("/api/documents?collection=team-b", headers=bearer(AUDITOR)).get_json()["documents"]
    assert listed[0]["collection"] == "team-b" and listed[0]["tags"] == ["plans"]


def test_a_token_for_a_cannot_read_search_or_write_b(client):
    b_document = document_id(client, AUDITOR, "team-b")
    a = bearer(A_WRITER)
    refused = {
        "ask b": client.post("/api/ask", json={"question": "vault code", "collection": "team-b"}, headers=a),
        "list b": client.get("/api/documents?collection=team-b", headers=a),
        "upload to b": client.post("/api/documents", json={"text": "x y z", "source": "n.txt", "collection": "team-b"},
                                   headers=a),
    }
    for what, response in refused.items():
        assert response.status_code == 403, what
        assert response.get_json()["error"]["code"] == "collection_forbidden", what
    hidden = {
        "read a b document": client.get(f"/api/documents/{b_document}", headers=a),
        "its page": client.get(f"/api/documents/{b_document}/pages/1.png", headers=a),
        "edit it": client.patch(f"/api/documents/{b_document}", json={"tags": ["mine"]}, headers=a),
        "remove it": client.delete(f"/api/documents/{b_document}", headers=a),
    }
    for what, response in hidden.items():
        assert response.status_code == 404, what
        assert response.get_json()["error"]["code"] == "document_not_found", what
    # Asking in A for B's secret finds A's passages only, never B's.
    body = client.post("/api/ask", json={"question": "What is the vault code of team B?", "collection": "team-a",
                                         "top_k": 10}, headers=a).get_json()
    assert body["passages"] and all("zebra" not in p["text"] for p in body["passages"])
    assert client.get(f"/api/documents/{b_document}", headers=bearer(B_WRITER)).status_code == 200  # still there


def add_report(client) -> tuple[dict, bytes]:
    """Team B's report.pdf as served, and its first page (rendered, then cached)."""
    data = {"file": (io.BytesIO(report_pdf()), "report.pdf"), "collection": "team-b"}
    added = client.post("/api/documents", data=data, headers=bearer(B_WRITER), content_type="multipart/form-data")
    assert added.status_code == 201, added.get_json()
    document = client.get(f"/api/documents/{added.get_json()['id']}", headers=bearer(B_WRITER)).get_json()
    page = client.get(f"/api/documents/{document['id']}/pages/1.png", headers=bearer(B_WRITER))
    assert page.status_code == 200
    return document, page.data


def assert_untouched(client, document: dict, page: bytes) -> None:
    """Team B's report reads as before: the same row, and the same page image."""
    assert client.get(f"/api/documents/{document['id']}", headers=bearer(B_WRITER)).get_json() == document
    again = client.get(f"/api/documents/{document['id']}/pages/1.png", headers=bearer(B_WRITER))
    assert again.status_code == 200 and again.data == page


@pytest.mark.parametrize("character", SEPARATORS + CONTROLS)
def test_no_source_takes_the_id_of_another_collections_document(client, character):
    """A default writer naming its upload "team-b<separator>report.pdf" once got the id of team B's
    report.pdf: its original and page images were replaced, then the insert failed with a 500."""
    document, page = add_report(client)
    forged = client.post("/api/documents", headers=bearer(D_WRITER),
                         json={"text": "Forged page of the report.", "source": f"team-b{character}report.pdf"})
    assert forged.status_code == 400, forged.get_json()
    assert f"U+{ord(character):04X}" in forged.get_json()["error"]["message"]
    assert_untouched(client, document, page)


def test_a_true_id_conflict_is_a_409_and_leaves_the_other_document_whole(client, monkeypatch):
    """Two documents whose ids collide (a 64-bit hash collision, forced here): the second is refused
    with 409, and the first keeps its row, its original file and its page images."""
    document, page = add_report(client)
    monkeypatch.setattr("qa.documents.document_id", lambda *args, **kwargs: document["id"])
    data = {"file": (io.BytesIO(report_pdf(title="Forged report")), "other.pdf"), "collection": "team-a"}
    conflict = client.post("/api/documents", data=data, headers=bearer(A_WRITER), content_type="multipart/form-data")
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "document_conflict"
    assert_untouched(client, document, page)


def test_ingest_skips_files_whose_names_hold_a_separator_naming_it(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "fine.txt").write_text("Cranes nest on the roof of the old mill every spring.")
    for n, character in enumerate(c for c in SEPARATORS + CONTROLS if c != "\x00"):
        (folder / f"team-b{character}{n}.txt").write_text(f"Forged note {n} about the harbour.")
    result = CliRunner().invoke(main, ["ingest", "--quiet", "--index", str(tmp_path / "index"), str(folder)])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output and f"{len(SEPARATORS + CONTROLS) - 1} skipped" in result.output
    for character in SEPARATORS + CONTROLS:
        if character != "\x00":  # no file name can hold NUL
            assert f"U+{ord(character):04X}" in result.output
    listing = CliRunner().invoke(main, ["documents", "--index", str(tmp_path / "index")])
    assert "fine.txt" in listing.output and "Forged" not in listing.output


def test_collections_lists_only_what_the_token_reaches(client):
    def names(token):
        return {c["name"]: c["writable"] for c in client.get("/api/collections", headers=bearer(token)).get_json()["collections"]}
    assert names(A_WRITER) == {"team-a": True}
    assert names(A_READER) == {"team-a": False}
    assert names(AUDITOR) == {"default": False, "team-a": False, "team-b": False}


def test_a_conversation_in_b_is_not_found_for_a(client):
    started = client.post("/api/ask", json={"question": "vault code", "collection": "team-b"}, headers=bearer(B_WRITER))
    conversation = started.get_json()["conversation_id"]
    assert client.get(f"/api/conversations/{conversation}", headers=bearer(A_WRITER)).status_code == 404
    follow_up = client.post("/api/ask", json={"question": "and where?", "collection": "team-a",
                                              "conversation_id": conversation}, headers=bearer(A_WRITER))
    assert follow_up.status_code == 404
    assert client.get(f"/api/conversations/{conversation}", headers=bearer(B_WRITER)).status_code == 200


def test_a_conversation_belongs_to_the_token_that_opened_it(client):
    """Another reader of the same collection, given the id, can neither read, continue nor delete it."""
    started = client.post("/api/ask", json={"question": "harbour festival", "collection": "team-a"},
                          headers=bearer(A_READER))
    conversation = started.get_json()["conversation_id"]
    other = bearer(A_WRITER)  # reaches team-a too, and may write
    assert client.get(f"/api/conversations/{conversation}", headers=other).status_code == 404
    continued = client.post("/api/ask", json={"question": "and the violins?", "collection": "team-a",
                                              "conversation_id": conversation}, headers=other)
    assert continued.status_code == 404 and continued.get_json()["error"]["code"] == "conversation_not_found"
    assert client.delete(f"/api/conversations/{conversation}", headers=other).status_code == 404
    assert client.get(f"/api/conversations/{conversation}", headers=bearer(AUDITOR)).status_code == 404
    mine = client.get(f"/api/conversations/{conversation}", headers=bearer(A_READER))
    assert mine.status_code == 200 and len(mine.get_json()["turns"]) == 1
    assert client.post("/api/ask", json={"question": "and the violins?", "collection": "team-a",
                                         "conversation_id": conversation}, headers=bearer(A_READER)).status_code == 200
    assert client.delete(f"/api/conversations/{conversation}", headers=bearer(A_READER)).status_code == 204


def test_a_conversation_without_a_token_is_not_a_tokens(index_dir):
    """With reads open, a conversation opened without a token stays out of a token's reach, and
    one a token opened out of a tokenless caller's."""
    app = create_app({"INDEX": str(index_dir), "API_TOKEN": A_WRITER, "TESTING": True})
    client = app.test_client()
    anonymous = client.post("/api/ask", json={"question": "Who is Kaja Kallas?"}).get_json()["conversation_id"]
    tokened = client.post("/api/ask", json={"question": "Who is Kaja Kallas?"},
                          headers=bearer(A_WRITER)).get_json()["conversation_id"]
    assert client.get(f"/api/conversations/{anonymous}", headers=bearer(A_WRITER)).status_code == 404
    assert client.get(f"/api/conversations/{tokened}").status_code == 404
    assert client.get(f"/api/conversations/{anonymous}").status_code == 200
    assert client.get(f"/api/conversations/{tokened}", headers=bearer(A_WRITER)).status_code == 200


@pytest.mark.parametrize("method, path, body, token, status, code, message", [
    ("GET", "/api/documents", None, None, 401, "unauthorized", "a token of its QA_TOKENS_FILE"),
    ("GET", "/api/documents", None, "not-a-token", 401, "unauthorized", "a token of its QA_TOKENS_FILE"),
    ("POST", "/api/documents", {"text": "x", "source": "y.txt", "collection": "team-a"}, A_READER, 403, "forbidden",
     "This token may only read"),
    ("POST", "/api/documents", {"text": "x", "source": "y.txt"}, None, 401, "unauthorized", "QA_API_TOKEN"),
    ("GET", "/api/documents?collection=team-b", None, A_READER, 403, "collection_forbidden",
     "does not reach the collection 'team-b'"),
    ("GET", "/api/documents?collection=Team%20B", None, AUDITOR, 400, "bad_request", "is not a collection name"),
    ("GET", "/api/documents?collection=team-c", None, AUDITOR, 404, "collection_not_found", "No collection is named"),
])
def test_each_bad_token_is_answered_clearly(client, method, path, body, token, status, code, message):
    response = client.open(path, method=method, json=body, headers=bearer(token) if token else {})
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert message in response.get_json()["error"]["message"]


def test_a_broken_tokens_file_is_named_at_start(index_dir, tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"token": "short", "collections": ["a"]}]}))
    with pytest.raises(Exception, match=r"QA_TOKENS_FILE: .*tokens.json: tokens.0.token: String should have at least 16"):
        create_app({"INDEX": str(index_dir), "TOKENS_FILE": str(tokens)})
    tokens.write_text(json.dumps({"tokens": [{"token": "x" * 20, "collections": ["Team A"]}]}))
    with pytest.raises(Exception, match="is not a collection name"):
        create_app({"INDEX": str(index_dir), "TOKENS_FILE": str(tokens)})


def test_patch_edits_tags_and_date_and_filters_follow(client):
    a = bearer(A_WRITER)
    document = document_id(client, A_WRITER, "team-a")
    edited = client.patch(f"/api/documents/{document}", json={"tags": ["Festival", "2024"], "date": "2024-06-01"},
                          headers=a)
    assert edited.status_code == 200
    assert edited.get_json()["tags"] == ["festival", "2024"] and edited.get_json()["date"] == "2024-06-01"
    ask = {"question": "harbour festival", "collection": "team-a"}
    found = client.post("/api/ask", json={**ask, "filter": {"tags": ["festival"], "after": "2024-05-31"}}, headers=a)
    assert found.get_json()["filter_matched"] == 1 and found.get_json()["passages"]
    cleared = client.patch(f"/api/documents/{document}", json={"date": None}, headers=a).get_json()
    assert cleared["date"] is None and cleared["tags"] == ["festival", "2024"]
    gone = client.post("/api/ask", json={**ask, "filter": {"after": "2024-01-01"}}, headers=a).get_json()
    assert gone["filter_matched"] == 0 and gone["passages"] == []


@pytest.mark.parametrize("body, message", [
    ({}, "the body changed nothing"),
    ({"tags": "festival"}, "tags: Input should be a valid list."),
    ({"tags": None}, "tags: send a list of strings"),
    ({"tags": ["ok", "no,commas"]}, "tags: the tag 'no,commas' holds a comma"),
    ({"tags": ["x"] * 0 + [f"t{n}" for n in range(40)]}, "tags: List should have at most 32 items"),
    ({"date": "2024-02-30"}, "date: Input should be a valid date"),
    ({"date": 20240101}, "date: send a date as \"YYYY-MM-DD\""),
    ({"collection": "team-b"}, "collection: Extra inputs are not permitted."),
])
def test_each_bad_edit_is_a_400_naming_the_field(client, body, message):
    document = document_id(client, A_WRITER, "team-a")
    response = client.patch(f"/api/documents/{document}", json=body, headers=bearer(A_WRITER))
    assert response.status_code == 400 and message in response.get_json()["error"]["message"]


def test_a_multipart_upload_takes_collection_tags_and_date(client):
    data = {"file": (io.BytesIO(b"Minutes of the orchard committee about pepper and marble."), "minutes.txt"),
            "tags": ["Minutes, orchard", "2024"], "date": "2023-12-24", "collection": "team-a"}
    added = client.post("/api/documents", data=data, headers=bearer(A_WRITER), content_type="multipart/form-data")
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert (body["collection"], body["tags"], body["date"]) == ("team-a", ["minutes", "orchard", "2024"], "2023-12-24")
    bad = {"file": (io.BytesIO(b"text"), "x.txt"), "date": "christmas", "collection": "team-a"}
    refused = client.post("/api/documents", data=bad, headers=bearer(A_WRITER), content_type="multipart/form-data")
    assert refused.status_code == 400 and "date: 'christmas' is not a date" in refused.get_json()["error"]["message"]


def test_the_html_date_and_otherwise_the_mtime_date_a_document(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "page.html").write_text('<html><head><meta property="article:published_time" content="2021-03-04T10:00:00Z">'
                                      "<title>Storks</title></head><body><p>" + "Storks return to the river. " * 20
                                      + "</p></body></html>")
    (folder / "note.txt").write_text("A note about the harbour cranes and their copper paint.")
    import os
    os.utime(folder / "note.txt", (1_600_000_000, 1_600_000_000))  # 2020-09-13
    runner = CliRunner()
    index = tmp_path / "index"
    result = runner.invoke(main, ["ingest", "--quiet", "--index", str(index), "--collection", "birds",
                                  "--tag", "Nature", "--tag", "2021", str(folder)])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(main, ["documents", "--index", str(index), "--collection", "birds"])
    assert "2021-03-04" in listing.output and "2020-09-1" in listing.output and "[nature, 2021]" in listing.output
    asked = runner.invoke(main, ["ask", "--index", str(index), "--collection", "birds", "--type", "html", "--json", "stork"])
    body = json.loads(asked.output)
    assert body["filter_matched"] == 1 and {p["citation"]["source"] for p in body["passages"]} == {"page.html"}
    bad = runner.invoke(main, ["ask", "--index", str(index), "--collection", "birds", "--tag", "a,b", "stork"])
    assert bad.exit_code != 0 and "filter.tags: the tag 'a,b' holds a comma" in bad.output


def test_an_index_from_schema_4_is_migrated_with_its_documents_in_default(hashing_index_dir, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(hashing_index_dir, folder)
    db = sqlite3.connect(folder / "qa.sqlite3")
    db.executescript("""
        PRAGMA foreign_keys=OFF;
        CREATE TABLE documents_v4 (id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, hash TEXT NOT NULL,
            text TEXT NOT NULL, added_at REAL NOT NULL, type TEXT NOT NULL DEFAULT 'txt', pages TEXT NOT NULL DEFAULT '[]',
            sections TEXT NOT NULL DEFAULT '[]', file_hash TEXT NOT NULL DEFAULT '', origin TEXT, UNIQUE (origin, source));
        INSERT INTO documents_v4 SELECT id, title, source, hash, text, added_at, type, pages, sections, file_hash, origin
            FROM documents;
        DROP TABLE documents;
        ALTER TABLE documents_v4 RENAME TO documents;
        UPDATE meta SET value = '4' WHERE key = 'schema';
        DELETE FROM meta WHERE key = 'metadata';
    """)
    db.close()
    index = Index(folder, HASHING_MODEL)
    documents = index.store.documents()
    assert len(documents) == 2 and all(d["collection"] == "default" and d["tags"] == [] and d["date"] is None
                                       for d in documents)
    assert index.store.get_meta("schema") == str(SCHEMA_VERSION)
    columns = sqlite3.connect(folder / "qa.sqlite3").execute(
        "SELECT sql FROM sqlite_master WHERE name = 'documents'").fetchone()[0]
    assert "UNIQUE (collection, origin, source)" in columns
    assert index.store.update_metadata(documents[0]["id"], tags=["old"])
    from qa.schemas import Filter
    from qa.search import Searcher
    answer = Searcher(index).ask("Ukraine", 5, scope=Filter(tags=["old"]).scope("default"))
    assert answer.passages and {h.citation.document_id for h in answer.passages} == {documents[0]["id"]}


def mcp_call(client, token: str, tool: str, arguments: dict) -> dict:
    """One tools/call over /mcp (Streamable HTTP, stateless, JSON responses) through the app's WSGI entry."""
    response = client.post("/mcp", base_url="http://127.0.0.1:8000",
                           headers={**bearer(token), "Accept": "application/json, text/event-stream",
                                            "MCP-Protocol-Version": "2025-06-18"},
                           json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                 "params": {"name": tool, "arguments": arguments}})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["result"]


def test_mcp_tools_keep_to_the_tokens_collections(client):
    b_document = document_id(client, AUDITOR, "team-b")
    refused = mcp_call(client, A_READER, "search", {"question": "vault code", "collection": "team-b"})
    assert refused["isError"] and "does not reach the collection 'team-b'" in refused["content"][0]["text"]
    hidden = mcp_call(client, A_READER, "get_document", {"document_id": b_document})
    assert hidden["isError"] and "No document has the id" in hidden["content"][0]["text"]
    listed = mcp_call(client, A_READER, "list_collections", {})
    assert listed["structuredContent"]["collections"] == ["team-a"]
    found = mcp_call(client, A_READER, "search", {"question": "harbour festival", "collection": "team-a",
                                                  "filter": {"tags": ["plans"]}})
    assert not found["isError"] and found["structuredContent"]["filter_matched"] == 1
    allowed = mcp_call(client, B_WRITER, "search", {"question": "vault code", "collection": "team-b"})
    assert "zebra-quartz" in allowed["structuredContent"]["passages"][0]["text"]


def test_health_tells_the_counts_only_to_a_token_reaching_every_collection(client):
    """With a tokens file, how many documents every collection holds is not for anyone to know."""
    for headers in ({}, bearer("not-a-token"), bearer(A_READER), bearer(B_WRITER)):
        body = client.get("/api/health", headers=headers)
        assert body.status_code == 200, headers
        assert body.get_json()["ok"] and body.get_json()["consistent"]
        assert not {"documents", "passages", "vectors"} & set(body.get_json()), headers
    auditor = client.get("/api/health", headers=bearer(AUDITOR)).get_json()
    assert auditor["documents"] >= 3 and auditor["passages"] == auditor["vectors"] > 0
