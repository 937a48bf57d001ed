"""The Host / Origin rule (qa/hosts.py) on every route family: /api/*, page images, /mcp and the
chat page. On a loopback bind (the default) a request naming the server otherwise is refused, so a
web page cannot read documents through DNS rebinding or send requests from its own origin."""
from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from qa.app import create_app
from qa.cli import main
from qa.hashing_embedder import HASHING_MODEL
from tests.conftest import API_TOKEN
from tests.pdfs import report_pdf

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
MCP_LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.fixture(scope="module")
def served(hashing_index_dir, tmp_path_factory):
    """An app on a loopback bind over a copy of the seeds index with a PDF added: (client, pdf id)."""
    import shutil

    folder = tmp_path_factory.mktemp("hosts") / "index"
    shutil.copytree(hashing_index_dir, folder)
    app = create_app({"INDEX": str(folder), "API_TOKEN": API_TOKEN, "TESTING": True, "HOST": "127.0.0.1",
                      "MODEL": HASHING_MODEL})
    client = app.test_client()
    added = client.post("/api/documents", data={"file": (io.BytesIO(report_pdf()), "report.pdf")},
                        headers={"Authorization": f"Bearer {API_TOKEN}"}, content_type="multipart/form-data",
                        base_url="http://127.0.0.1:8000")
    assert added.status_code == 201, added.get_json()
    return client, added.get_json()["id"]


def routes(pdf: str) -> dict[str, tuple[str, str, dict | None, dict]]:
    """One request of each family: name -> (method, path, JSON body, extra headers)."""
    return {
        "ask": ("POST", "/api/ask", {"question": "Who is Kaja Kallas?"}, {}),
        "documents": ("GET", "/api/documents", None, {}),
        "health": ("GET", "/api/health", None, {}),
        "openapi": ("GET", "/api/openapi.json", None, {}),
        "page image": ("GET", f"/api/documents/{pdf}/pages/1.png", None, {}),
        "mcp": ("POST", "/mcp", MCP_LIST_TOOLS, MCP_HEADERS),
        "chat page": ("GET", "/", None, {}),
        "chat script": ("GET", "/static/app.js", None, {}),
    }


FAMILIES = ["ask", "documents", "health", "openapi", "page image", "mcp", "chat page", "chat script"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"])
def test_every_route_answers_its_own_loopback_names(served, family, host):
    client, pdf = served
    method, path, body, headers = routes(pdf)[family]
    response = client.open(path, method=method, json=body, headers={**headers, "Host": host})
    assert response.status_code == 200, (family, response.get_data(as_text=True)[:300])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example:8000",
                                  "localhost.evil.example", "10.0.0.7:8000"])
def test_every_route_refuses_another_host_on_a_loopback_bind(served, family, host):
    """DNS rebinding: a page at evil.example, its name made to resolve to 127.0.0.1, reads what the
    browser fetches from it as its own. Only /mcp refused such a Host before."""
    client, pdf = served
    method, path, body, headers = routes(pdf)[family]
    response = client.open(path, method=method, json=body, headers={**headers, "Host": host})
    assert response.status_code == 421, family
    assert response.get_json()["error"]["code"] == "misdirected_request"
    assert b"Kallas" not in response.data and not response.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("origin", ["https://evil.example", "http://evil.example:8000", "null",
                                    "http://127.0.0.1.evil.example"])
def test_every_route_refuses_another_pages_origin(served, family, origin):
    client, pdf = served
    method, path, body, headers = routes(pdf)[family]
    response = client.open(path, method=method, json=body, headers={**headers, "Host": "127.0.0.1:8000",
                                                                     "Origin": origin})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden_origin", family


def test_the_chat_pages_own_origin_is_answered(served):
    client, _ = served
    response = client.post("/api/ask", json={"question": "Who is Kaja Kallas?"},
                           headers={"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"})
    assert response.status_code == 200 and response.headers["X-Request-ID"]


def test_a_public_bind_answers_any_name_and_serve_says_reads_are_open(hashing_index_dir, monkeypatch):
    """Bound beyond this machine the server is reached by names it cannot know: no Host rule, its
    tokens are the defence, and `qa serve` warns loudly when reads are open."""
    client = create_app({"INDEX": str(hashing_index_dir), "HOST": "0.0.0.0", "TESTING": True}).test_client()
    assert client.get("/api/documents", headers={"Host": "docs.example.org"}).status_code == 200
    served = []
    monkeypatch.setattr("waitress.serve", lambda app, **options: served.append(options))
    monkeypatch.setattr("qa.service.Service.warm_up", lambda self: None)
    monkeypatch.setattr("qa.mcp.Mount.start", lambda self: None)
    monkeypatch.setattr("signal.signal", lambda *args: None)
    monkeypatch.delenv("QA_READ_TOKEN", raising=False)
    monkeypatch.delenv("QA_TOKENS_FILE", raising=False)
    runner = CliRunner()
    exposed = runner.invoke(main, ["serve", "--index", str(hashing_index_dir), "--host", "0.0.0.0", "--port", "8123", "--workers", "1"])
    assert exposed.exit_code == 0, exposed.output
    assert "WARNING: serving on 0.0.0.0, beyond this machine, with reads open" in exposed.output
    assert served and served[-1]["host"] == "0.0.0.0"  # a stand-in: nothing listened
    monkeypatch.setenv("QA_READ_TOKEN", "a-read-token-of-some-length")
    guarded = runner.invoke(main, ["serve", "--index", str(hashing_index_dir), "--host", "0.0.0.0", "--port", "8123", "--workers", "1"])
    assert guarded.exit_code == 0 and "WARNING" not in guarded.output
    local = runner.invoke(main, ["serve", "--index", str(hashing_index_dir), "--port", "8123", "--workers", "1"])
    assert local.exit_code == 0 and "WARNING" not in local.output
