"""Which names the server answers to. The one Host / Origin rule, for every route (the API, page
images, /mcp, the chat page), applied as the outermost layer of the WSGI app.

On a loopback address (127.0.0.1, ::1, localhost) qa is meant for the people and programs on this
machine. A web page they visit can still make their browser send requests to it: under the page's
own name (DNS rebinding: evil.example made to resolve to 127.0.0.1, so the browser counts the
answers as evil.example's and lets the page read them) or from the page's origin (a cross-site
request). So, on a loopback bind:

- the Host header must name the server by a loopback name (localhost, or a loopback address such
  as 127.0.0.1 or [::1]), any port; otherwise 421 misdirected_request;
- an Origin header, when a browser sends one, must be such a name too (http or https); otherwise
  403 forbidden_origin ("null", a sandboxed frame or a file, is refused too).

A client that is not a browser sends no Origin and the Host it dialled, so curl, the CLI and MCP
clients are not affected. On any other address the server is reached by names it cannot know,
so nothing is checked here: its tokens are the defence (`qa serve` warns when reads are open).

Example: Host "127.0.0.1:8000" -> answered; Host "evil.example:8000" -> 421;
Host "localhost:8000" with Origin "https://evil.example" -> 403.
"""
from __future__ import annotations

import ipaddress
import json
import time
import uuid
from urllib.parse import urlsplit

from qa import logs

def is_loopback(host: str) -> bool:
    """Whether a name or address only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def names_loopback(authority: str) -> bool:
    """Whether a Host header or an Origin's host[:port] names this machine: localhost or a loopback
    address, any port ("[::1]:8000", "127.0.0.1", "localhost:80"); never another name that
    merely starts like one ("127.0.0.1.evil.example", "localhost@evil.example")."""
    try:
        parts = urlsplit(f"//{authority}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return bool(parts.hostname) and parts.netloc == authority and "@" not in authority and is_loopback(parts.hostname)


def refusal(environ: dict) -> tuple[int, str, str] | None:
    """(status, code, message) when the request's Host or Origin names another server, else None."""
    host = environ.get("HTTP_HOST")
    if host is not None and not names_loopback(host):
        return (421, "misdirected_request", "This server is on a loopback address and answers only to localhost, "
                "127.0.0.1 or [::1] (any port) in the Host header; a page reaching it under another name "
                "(DNS rebinding) is refused.")
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not names_loopback(parts.netloc):
            return (403, "forbidden_origin", "Requests from other web pages are refused: this server is on a "
                    "loopback address and takes requests only from its own pages (an Origin of localhost, "
                    "127.0.0.1 or [::1]).")
    return None


class HostGuard:
    """WSGI middleware: refuse requests that name the server otherwise (see the module docstring)."""

    def __init__(self, app, bind: str):
        self.app = app
        self.checked = is_loopback(bind)

    def __call__(self, environ, start_response):
        refused = refusal(environ) if self.checked else None
        if refused is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        status, code, message = refused
        request_id = uuid.uuid4().hex
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        start_response(f"{status} {'Misdirected Request' if status == 421 else 'Forbidden'}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"), ("X-Request-ID", request_id)])
        logs.line(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), status,
                  (time.perf_counter() - started) * 1000, request_id)
        return [body]


def exposure(config: dict) -> str | None:
    """The warning `qa serve` prints when it listens beyond this machine with reads open, else None."""
    host = str(config.get("HOST") or "127.0.0.1")
    if is_loopback(host) or config.get("READ_TOKEN") or config.get("TOKENS_FILE"):
        return None
    return (f"WARNING: serving on {host}, beyond this machine, with reads open: anyone who can reach this "
            f"address can read every document, its page images and the conversations started without a token. "
            f"Set QA_READ_TOKEN or QA_TOKENS_FILE, or serve on 127.0.0.1 behind a proxy that authenticates.")
