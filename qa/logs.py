"""One log line per request: method, path, status, latency and request id, e.g.

    INFO qa.requests: POST /api/ask 200 41.3ms id=3f2a...

The request id comes from a sane incoming X-Request-ID header or is made up, and is sent back in
X-Request-ID so a client's report can be matched to the line. Bodies, query strings and headers are
never logged: they hold questions, document text and tokens.
"""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

log = logging.getLogger("qa.requests")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_PATH_CHARS = 200


def init_app(app: Flask) -> None:
    log.setLevel(app.config["LOG_LEVEL"])
    if not logging.getLogger().handlers and not log.handlers:  # no one configured logging: stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    app.before_request(start)
    app.after_request(finish)


def start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex


def finish(response):
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    line(request.method, request.path, response.status_code, elapsed_ms, request_id)
    return response


def line(method: str, path: str, status: int, elapsed_ms: float, request_id: str) -> None:
    """The request's one log line (also for requests refused before Flask sees them, qa/hosts.py)."""
    log.info("%s %s %d %.1fms id=%s", one_line(method[:16]), one_line(path[:MAX_PATH_CHARS]), status, elapsed_ms,
             request_id)


def one_line(text: str) -> str:
    """Escape newlines and other control characters, so a crafted path cannot forge log lines."""
    return text.encode("unicode_escape").decode("ascii")
