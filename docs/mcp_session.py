"""Writes docs/mcp-session.md: a real MCP session with `qa serve`'s /mcp, as the SDK's client sends
and receives it (initialize, list tools, call search), captured from the HTTP exchange.

    qa ingest --index /tmp/seeds-index seeds
    QA_READ_TOKEN=secret qa serve --index /tmp/seeds-index --port 8765 &
    QA_READ_TOKEN=secret python docs/mcp_session.py http://127.0.0.1:8765/mcp
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

QUESTION = "How much in rare earth metals did Trump demand from Ukraine?"
OUT = Path(__file__).resolve().parent / "mcp-session.md"


async def main(url: str) -> None:
    exchanges: list[tuple[str, str, int, str]] = []

    async def record(response: httpx2.Response) -> None:
        await response.aread()
        exchanges.append((response.request.method, response.request.content.decode(), response.status_code,
                          response.text))

    headers = {"Authorization": f"Bearer {os.environ['QA_READ_TOKEN']}"}
    async with httpx2.AsyncClient(headers=headers, event_hooks={"response": [record]}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            await client.list_tools()
            await client.call_tool("search", {"question": QUESTION, "top_k": 2})

    parts = ["# An MCP session with qa\n",
             f"The SDK's own client (`mcp` {version()}) talking to `qa serve`'s `/mcp` (Streamable HTTP, "
             "`Authorization: Bearer <QA_READ_TOKEN>`) over the seeds index with the bundled model: "
             "initialize, list the tools, call `search`. Written by `docs/mcp_session.py`; each block is one "
             "HTTP request and its response, as sent.\n"]
    for method, sent, status, received in exchanges:
        parts.append(f"## {method} /mcp: {title(sent)}\n")
        if sent:
            parts.append("```json\n" + pretty(sent) + "\n```\n")
        parts.append(f"Response: {status}\n")
        if received.strip():
            parts.append("```json\n" + pretty(received) + "\n```\n")
    OUT.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {OUT}")


def version() -> str:
    from importlib.metadata import version as installed
    return installed("mcp")


def title(sent: str) -> str:
    try:
        return json.loads(sent).get("method", "?")
    except ValueError:
        return "(no body)"


def pretty(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    result = value.get("result", {}) if isinstance(value, dict) else {}
    if "structuredContent" in result:  # the same JSON again as text: shortened here
        result["content"] = [{"type": "text", "text": "(structuredContent, below, as one JSON string: for clients that read only text)"}]
    return json.dumps(value, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8765/mcp")
