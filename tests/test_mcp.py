"""The MCP server through the SDK's own client: `qa mcp` over stdio, `qa serve`'s /mcp over Streamable
HTTP (a real server process, behind QA_READ_TOKEN), and the tool errors through the in-process client."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from urllib.request import Request, urlopen
from urllib.error import HTTPError

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from qa import settings
from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.ingest import ingest
from qa.mcp import build_server
from qa.service import Service

QUESTION = "How much in rare earth metals did Trump demand from Ukraine?"
TOOLS = {"search", "list_documents", "get_document", "list_collections"}
READ_TOKEN = "mcp-read-token"
API_TOKEN = "mcp-api-token"


async def exercise(client: Client) -> dict:
    """The session an agent would have: list the tools, search, list documents, read around a citation."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    search = tools["search"]
    assert search.input_schema["required"] == ["question"]  # collection and filter stay optional
    assert {"question", "top_k", "collection", "filter"} <= set(search.input_schema["properties"])
    assert "not generated text" in search.description and "confident" in search.description
    assert all(tool.annotations.read_only_hint for tool in tools.values())

    found = await client.call_tool("search", {"question": QUESTION, "top_k": 3})
    assert not found.is_error
    result = found.structured_content
    assert json.loads(found.content[0].text) == result  # the same result as text, for clients without structure
    assert isinstance(result["confident"], bool) and 1 <= len(result["passages"]) <= 3
    # The hashing test embedder ranks roughly; the answer must be among the passages, and is cited.
    first = next(passage for passage in result["passages"] if "$500 billion" in passage["text"])
    citation = first["citation"]
    assert citation["source"] == "002_aadcb0dba0a30b9a.txt" and citation["title"]
    assert citation["page"] is None and citation["pages"] is None  # a text file has no pages

    listed = (await client.call_tool("list_documents", {})).structured_content["documents"]
    assert {d["source"] for d in listed} == {"000_2e21b0443b55ba82.txt", "002_aadcb0dba0a30b9a.txt"}
    assert citation["document_id"] in {d["id"] for d in listed}

    around = (await client.call_tool("get_document", {"document_id": citation["document_id"], "start": citation["start"],
                                                       "end": citation["end"], "context": 40})).structured_content
    assert around["start"] == max(0, citation["start"] - 40) and around["end"] == min(around["length"], citation["end"] + 40)
    assert first["text"] in around["text"] and len(around["text"]) == around["end"] - around["start"]
    whole = (await client.call_tool("get_document", {"document_id": citation["document_id"]})).structured_content
    assert whole["text"][around["start"] : around["end"]] == around["text"] and not whole["truncated"]

    assert (await client.call_tool("list_collections", {})).structured_content == {"collections": ["default"]}
    return result


def test_stdio_session(hashing_index_dir, tmp_path):
    """`qa mcp` spawned as a desktop agent would: initialize, list tools, search, read."""
    command = StdioServerParameters(command=sys.executable, args=["-m", "qa.cli", "mcp", "--index", str(hashing_index_dir)],
                                    env={**os.environ, "QA_MODEL": HASHING_MODEL})

    async def session():
        with open(tmp_path / "stderr.txt", "w") as errors:
            async with Client(stdio_client(command, errlog=errors), mode="legacy") as client:
                assert client.session.server_info.name == "qa"
                assert "cite" in client.session.instructions
                await exercise(client)

    anyio.run(session)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(hashing_index_dir, tmp_path_factory):
    """`qa serve` over a copy of the seeds index, with read and write tokens set."""
    folder = tmp_path_factory.mktemp("mcp-serve") / "index"
    shutil.copytree(hashing_index_dir, folder)
    port = free_port()
    env = {**os.environ, "QA_MODEL": HASHING_MODEL, "QA_READ_TOKEN": READ_TOKEN, "QA_API_TOKEN": API_TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", str(folder), "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urlopen(f"{url}/api/health", timeout=2) as health:
                health.read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"qa serve did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.communicate(timeout=10)


@asynccontextmanager
async def http_client(url: str, token: str | None, mode: str):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers) as http:  # the SDK leaves a client it was given open
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client:
            yield client


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # the initialize handshake, and the 2026 discover probe
@pytest.mark.parametrize("token", [READ_TOKEN, API_TOKEN])  # the API token may read too, as on /api
def test_http_session(served, mode, token):
    async def session():
        async with http_client(served, token, mode) as client:
            await exercise(client)

    anyio.run(session)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_http_refuses_a_missing_or_wrong_token(served, token):
    async def session():
        async with http_client(served, token, "legacy"):
            pass

    with pytest.raises(ExceptionGroup) as refused:
        anyio.run(session)
    assert refused.group_contains(MCPError)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with pytest.raises(HTTPError) as raw:
        urlopen(Request(f"{served}/mcp", data=b"{}", headers=headers, method="POST"), timeout=10)
    assert raw.value.code == 401 and raw.value.headers["WWW-Authenticate"] == 'Bearer realm="qa"'
    with raw.value:
        assert json.loads(raw.value.read())["error"]["message"] == (
            "This server needs Authorization: Bearer <token> with its QA_READ_TOKEN.")


def call(service: Service, tool: str, arguments: dict):
    """One tool call through the SDK's in-process client: (is_error, text, structured result)."""
    async def session():
        async with Client(build_server(service), mode="legacy") as client:
            return await client.call_tool(tool, arguments)

    result = anyio.run(session)
    return result.is_error, result.content[0].text, result.structured_content


@pytest.fixture
def service(built_index_dir):
    return Service(settings.resolve({"INDEX": str(built_index_dir)}))


@pytest.mark.parametrize("tool, arguments, message", [
    ("search", {"question": "  "}, "The question is empty."),
    ("search", {"question": "x" * 2001}, "The question is 2001 characters long; the limit is 2000."),
    ("search", {"question": "ok", "top_k": 0}, "top_k"),
    ("search", {"question": "ok", "collection": "finance"}, "No collection is named 'finance'"),
    ("search", {"question": "ok", "collection": "Finance!"}, "collection: 'Finance!' is not a collection name"),
    ("search", {"question": "ok", "filter": {"tag": ["x"]}}, "filter.tag: Extra inputs are not permitted."),
    ("search", {"question": "ok", "filter": {"after": "2024-02-30"}}, "filter.after: Input should be a valid date"),
    ("get_document", {"document_id": "nope"}, "No document has the id 'nope'."),
    ("get_document", {"document_id": "SEED_002", "start": 50, "end": 10},
     "start and end must satisfy 0 <= start <= end <= 7662 (the document's length); got start=50, end=10."),
    ("list_documents", {"collection": "finance"}, "No collection is named 'finance'"),
])
def test_errors_are_tool_errors_with_the_api_messages(service, tool, arguments, message):
    if arguments.get("document_id") == "SEED_002":  # ids depend on the folder ingested: look it up
        seed = next(d["id"] for d in service.documents() if d["source"] == "002_aadcb0dba0a30b9a.txt")
        arguments = {**arguments, "document_id": seed}
    is_error, text, _ = call(service, tool, arguments)
    assert is_error and message in text


def test_the_default_collection_is_accepted(service):
    is_error, _, result = call(service, "search", {"question": QUESTION, "collection": "default", "filter": {}})
    assert not is_error and any("$500 billion" in passage["text"] for passage in result["passages"])


def test_a_long_document_comes_back_in_bounded_pieces(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    paragraphs = [f"Paragraph {n} tells of harbour number {n} and its cranes." for n in range(800)]
    (folder / "long.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    index = Index(tmp_path / "index", HASHING_MODEL, create=True)
    ingest(index, [folder], progress=False)
    index.close()
    service = Service(settings.resolve({"INDEX": str(tmp_path / "index")}))
    document_id = service.documents()[0]["id"]
    _, _, whole = call(service, "get_document", {"document_id": document_id})
    assert whole["length"] > 40_000 and whole["start"] == 0 and whole["end"] == 20_000
    assert whole["truncated"] and len(whole["text"]) == 20_000
    _, _, tail = call(service, "get_document", {"document_id": document_id, "start": whole["length"] - 11, "context": 0})
    assert tail["text"].endswith("its cranes.") and tail["end"] == tail["length"] and tail["truncated"]
