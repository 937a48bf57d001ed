"""Hostile input over the API: script payloads come back as inert JSON text, sources cannot point
at the file system, oversized, mistyped and malformed bodies get clear 4xx answers, never a 500."""
from __future__ import annotations

import io

import pytest

from qa.app import create_app
from tests.conftest import API_TOKEN

PAYLOAD = ('<script>alert(1)</script> <img src=x onerror="alert(2)"> '
           'The heron waits at the river bank for fish. </textarea><svg onload=alert(3)>')


def add_json(client, headers, **body):
    return client.post("/api/documents", json=body, headers=headers)


def upload(client, headers, data: bytes, name: str, **kwargs):
    return client.post("/api/documents", data={"file": (io.BytesIO(data), name)}, headers=headers,
                       content_type="multipart/form-data", **kwargs)


def test_script_payloads_are_stored_and_returned_as_plain_json_text(write_client, authorized):
    added = add_json(write_client, authorized, text=PAYLOAD, source="xss.txt", title="<b onmouseover=x>t</b>")
    assert added.status_code == 201
    detail = write_client.get(f"/api/documents/{added.get_json()['id']}")
    assert detail.mimetype == "application/json"
    assert detail.headers["X-Content-Type-Options"] == "nosniff"
    assert detail.get_json()["text"] == PAYLOAD  # kept verbatim as text
    assert detail.get_json()["title"] == "<b onmouseover=x>t</b>"
    assert b"<script>" not in detail.data  # Flask's JSON escapes < > & as \u003c ...
    listing = write_client.get("/api/documents")
    assert b"<img" not in listing.data and listing.mimetype == "application/json"


def test_an_html_upload_is_reduced_to_text_and_its_scripts_dropped(write_client, authorized):
    page = b"<html><body><script>alert(1)</script><p>Herons nest in colonies called heronries.</p></body></html>"
    added = upload(write_client, authorized, page, "page.html")
    assert added.status_code == 201
    text = write_client.get(f"/api/documents/{added.get_json()['id']}").get_json()["text"]
    assert "heronries" in text and "alert" not in text


@pytest.mark.parametrize("source, stored", [
    ("../../etc/passwd", "etc/passwd"),
    ("/etc/passwd", "etc/passwd"),
    ("..\\..\\Windows\\win.ini", "Windows/win.ini"),
    ("C:\\Windows\\win.ini", "Windows/win.ini"),
    ("notes/./../../x.txt", "notes/x.txt"),
    ("file:///etc/shadow", "file:/etc/shadow"),
])
def test_path_traversal_sources_become_plain_labels(write_client, authorized, source, stored):
    added = add_json(write_client, authorized, text="Kingfishers dive for fish.", source=source)
    assert added.status_code == 201 and added.get_json()["source"] == stored


@pytest.mark.parametrize("name, stored", [("../../etc/passwd.txt", "etc/passwd.txt"), ("/tmp/x.md", "tmp/x.md")])
def test_upload_file_names_are_cleaned_too(write_client, authorized, name, stored):
    added = upload(write_client, authorized, b"Egrets are white herons.", name)
    assert added.status_code == 201 and added.get_json()["source"] == stored


@pytest.mark.parametrize("source", ["..", "../..", "/", " / . / "])
def test_a_source_with_nothing_left_is_400(write_client, authorized, source):
    response = add_json(write_client, authorized, text="Some text.", source=source)
    assert response.status_code == 400 and response.is_json


def test_an_upload_over_the_limit_is_413(index_dir, authorized):
    client = create_app({"INDEX": str(index_dir), "API_TOKEN": API_TOKEN, "UPLOAD_MAX_BYTES": 100_000}).test_client()
    just_over = upload(client, authorized, b"a " * 50_001, "big.txt")
    assert just_over.status_code == 413 and just_over.get_json()["error"]["code"] == "request_entity_too_large"
    far_over = upload(client, authorized, b"a" * 2_000_000, "huge.txt")
    assert far_over.status_code == 413 and far_over.is_json
    assert upload(client, authorized, b"Within the limit. " * 100, "ok.txt").status_code == 201


def test_the_default_upload_limit_is_ten_mebibytes(write_client, authorized):
    response = upload(write_client, authorized, b"x" * (10 * 1024 * 1024 + 1), "big.txt")
    assert response.status_code == 413 and response.is_json


def test_questions_keep_their_own_one_mebibyte_limit(write_client):
    response = write_client.post("/api/ask", json={"question": "x", "padding": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413


@pytest.mark.parametrize("name", ["evil.exe", "image.png", "script.js", "noext", "x.html.sh", "", "a.xlsx"])
def test_wrong_file_types_are_400(write_client, authorized, name):
    response = upload(write_client, authorized, b"MZ\x90\x00 binary", name)
    assert response.status_code == 400 and response.is_json


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_wrong_content_types_are_415(write_client, authorized, content_type):
    response = write_client.post("/api/documents", data="text=hello&source=x", content_type=content_type,
                                 headers=authorized)
    assert response.status_code == 415 and response.is_json


def test_multipart_without_the_file_field_is_400(write_client, authorized):
    response = write_client.post("/api/documents", data={"other": (io.BytesIO(b"x"), "a.txt")}, headers=authorized)
    assert response.status_code == 400


def test_invalid_utf8_and_null_bytes_in_a_file_are_cleaned(write_client, authorized):
    data = b"Caf\xe9 au lait \xff\xfe and \x00nulls\x00 here. Ostriches run fast.\n\x80\x81"
    added = upload(write_client, authorized, data, "legacy.txt")
    assert added.status_code == 201
    text = write_client.get(f"/api/documents/{added.get_json()['id']}").get_json()["text"]
    assert "Café" in text and "\x00" not in text


@pytest.mark.parametrize("raw", [b'{"text": "\xff\xfe", "source": "x"}', b"\xef\xbb\xbf{", b"\x00" * 100])
def test_invalid_utf8_json_is_400(write_client, authorized, raw):
    response = write_client.post("/api/documents", data=raw, content_type="application/json", headers=authorized)
    assert response.status_code == 400 and response.is_json


@pytest.mark.parametrize("source, named", [("a\x00b.txt", "U+0000"), ("a\x1b[31m.txt", "U+001B"), ("\x00", "U+0000")])
def test_control_characters_in_a_source_are_400_naming_them(write_client, authorized, source, named):
    response = add_json(write_client, authorized, text="Kingfishers dive for fish.", source=source)
    assert response.status_code == 400 and named in response.get_json()["error"]["message"]


def test_null_bytes_in_json_fields(write_client, authorized):
    added = add_json(write_client, authorized, text="Nul\x00 bytes\x00 inside. Pelicans.", source="n.txt")
    assert added.status_code == 201 and added.get_json()["source"] == "n.txt"
    asked = write_client.post("/api/ask", json={"question": "pelicans\x00?"})
    assert asked.status_code in (200, 400) and asked.is_json


@pytest.mark.parametrize("path, field, body", [
    ("/api/ask", "question", '{"question": "\\ud800"}'),
    ("/api/ask", "question", '{"question": "What did Hegseth say \\udfff?"}'),
    ("/api/ask", "conversation_id", '{"question": "Hegseth", "conversation_id": "\\udbff"}'),
    ("/api/documents", "text", '{"text": "Herons \\ud800 fish.", "source": "h.txt"}'),
    ("/api/documents", "source", '{"text": "Herons fish.", "source": "h\\udc00.txt"}'),
    ("/api/documents", "title", '{"text": "Herons fish.", "source": "h.txt", "title": "\\ud83d"}'),
])
def test_a_lone_surrogate_in_any_string_field_is_400_naming_the_field(write_client, authorized, path, field, body):
    """JSON can escape half a UTF-16 pair; it is not text UTF-8 can hold (was a 500 for the question)."""
    response = write_client.post(path, data=body, content_type="application/json", headers=authorized)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["message"].startswith(f"{field}:")


def test_a_surrogate_pair_is_just_an_emoji(client):
    response = client.post("/api/ask", data='{"question": "Hegseth \\ud83d\\ude00"}', content_type="application/json")
    assert response.status_code == 200 and response.get_json()["question"] == "Hegseth \U0001F600"


@pytest.mark.parametrize("path", ["/api/ask", "/api/documents"])
@pytest.mark.parametrize("depth", [1_000, 100_000, 400_000])
def test_giant_json_nesting_is_400_not_a_crash(write_client, authorized, path, depth):
    raw = "[" * depth + "]" * depth
    response = write_client.post(path, data=raw, content_type="application/json", headers=authorized)
    assert response.status_code == 400 and response.is_json
    nested = '{"question": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    response = write_client.post(path, data=nested, content_type="application/json", headers=authorized)
    assert response.status_code in (400, 413) and response.is_json


@pytest.mark.parametrize("body", [{"text": 5, "source": "x"}, {"text": "", "source": "x"}, {"source": "x"},
                                  {"text": "t"}, {"text": "t", "source": "x" * 501}, {"text": ["t"], "source": "x"},
                                  {"text": "\n \t ", "source": "x"}, {"text": "Subscribe\nSign in", "source": "x"}])
def test_bad_document_bodies_are_400(write_client, authorized, body):
    response = add_json(write_client, authorized, **body)
    assert response.status_code == 400 and response.is_json


@pytest.mark.parametrize("path", ["/", "/api/health", "/api/nope", "/static/app.js"])
def test_security_headers_everywhere(client, path):
    headers = client.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_document_id_with_traversal_is_just_not_found(write_client, authorized):
    for path in ["/api/documents/..%2F..%2Fetc%2Fpasswd", "/api/documents/%00", "/api/documents/' OR 1=1 --"]:
        assert write_client.get(path).status_code == 404
        assert write_client.delete(path, headers=authorized).status_code == 404
    assert len(write_client.get("/api/documents").get_json()["documents"]) == 2
