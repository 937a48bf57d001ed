"""Bearer tokens (qa/auth.py), and the request log (qa/logs.py): it names every request, never a token."""
from __future__ import annotations

import logging

import pytest

from qa.app import create_app

API, READ = "api-token-123", "read-token-456"
DOCUMENT = {"text": "Otters hold hands while they sleep.", "source": "otters.txt"}


def client_with(index_dir, **settings):
    return create_app({"INDEX": str(index_dir), "TESTING": True, **settings}).test_client()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_writes_are_disabled_without_an_api_token_and_say_how_to_enable_them(index_dir):
    client = client_with(index_dir)
    for response in (client.post("/api/documents", json=DOCUMENT, headers=bearer("anything")),
                     client.delete("/api/documents/0000000000000000")):
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "writes_disabled"
        assert "QA_API_TOKEN" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer(API + "x"),
                                     {"Authorization": API}, {"Authorization": f"Basic {API}"},
                                     {"Authorization": "Bearer "}])
def test_a_missing_or_wrong_token_is_401_with_www_authenticate(index_dir, headers):
    client = client_with(index_dir, API_TOKEN=API, READ_TOKEN=READ)
    response = client.post("/api/documents", json=DOCUMENT, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_read_token_on_a_write_is_403_saying_it_may_only_read(index_dir):
    client = client_with(index_dir, API_TOKEN=API, READ_TOKEN=READ)
    response = client.post("/api/documents", json=DOCUMENT, headers=bearer(READ))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert "may only read" in response.get_json()["error"]["message"]


def test_the_api_token_adds_and_removes(index_dir):
    client = client_with(index_dir, API_TOKEN=API)
    added = client.post("/api/documents", json=DOCUMENT, headers=bearer(API))
    assert added.status_code == 201
    assert client.delete(f"/api/documents/{added.get_json()['id']}", headers=bearer(API)).status_code == 204


def test_reads_are_open_without_a_read_token(index_dir):
    client = client_with(index_dir, API_TOKEN=API)
    assert client.get("/api/documents").status_code == 200


@pytest.mark.parametrize("method, path", [("get", "/api/documents"), ("get", "/api/documents/0000000000000000"),
                                          ("post", "/api/ask"), ("get", "/api/conversations/" + "0" * 32),
                                          ("delete", "/api/conversations/" + "0" * 32)])
def test_a_read_token_guards_every_read(index_dir, method, path):
    client = client_with(index_dir, API_TOKEN=API, READ_TOKEN=READ)
    call = getattr(client, method)
    assert call(path, json={"question": ""}).status_code == 401
    assert call(path, json={"question": ""}, headers=bearer("nope")).status_code == 401
    for token in (READ, API):  # the API token grants reads too
        assert call(path, json={"question": ""}, headers=bearer(token)).status_code in (200, 400, 404)


def test_health_and_the_openapi_document_stay_open(index_dir):
    client = client_with(index_dir, API_TOKEN=API, READ_TOKEN=READ)
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/").status_code == 200


def test_one_log_line_per_request_with_its_id_and_no_secrets(index_dir):
    client = client_with(index_dir, API_TOKEN=API)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("qa.requests")
    logger.addHandler(handler)
    try:
        secret_text = "Zanzibar-secret-paragraph about lighthouses."
        added = client.post("/api/documents", json={"text": secret_text, "source": "z.txt"},
                            headers={**bearer(API), "X-Request-ID": "client-chosen.id_1"})
        client.post("/api/ask", json={"question": "Which secret question about Zanzibar?"})
        missing = client.get("/api/documents/none%0AFAKE%20LINE", headers={"X-Request-ID": "bad id <script>"})
    finally:
        logger.removeHandler(handler)
    assert added.headers["X-Request-ID"] == "client-chosen.id_1"
    assert len(missing.headers["X-Request-ID"]) == 32  # the bad one was replaced
    lines = [record.getMessage() for record in records]
    assert len(lines) == 3
    assert lines[0].startswith("POST /api/documents 201 ") and lines[0].endswith("id=client-chosen.id_1")
    assert lines[1].startswith("POST /api/ask 200 ")
    assert "\n" not in lines[2] and "FAKE LINE" in lines[2]  # escaped, on the same line
    for line in lines:
        assert API not in line and "Zanzibar" not in line and "lighthouses" not in line
