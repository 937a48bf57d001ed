"""Defaults for every setting. One name per setting across CLI (--index), environment (QA_INDEX)
and create_app({...}): defaults here, then QA_* environment variables, then explicit values."""
from __future__ import annotations

import os

DEFAULTS: dict[str, object] = {
    "INDEX": "embeddings",  # the index folder
    "MODEL": None,  # a local sentence-transformers folder; None = the bundled all-MiniLM-L6-v2
    "TOP_K": 5,
    "MAX_QUESTION_CHARS": 2000,
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # request body limit for the JSON API
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "THREADS": 8,  # WSGI worker threads in `qa serve`
    "UPLOAD_MAX_BYTES": 10 * 1024 * 1024,  # a document sent to POST /api/documents
    "API_TOKEN": None,  # bearer token for adding/removing documents; unset = writes disabled
    "READ_TOKEN": None,  # bearer token for questions and listings; unset = reads open
    "LOG_LEVEL": "INFO",  # INFO logs one line per request
    "CONVERSATION_MAX_AGE_DAYS": 30,  # a conversation is deleted this long after its last turn
    "CONVERSATION_MAX_COUNT": 10_000,  # and only the newest this many are kept
}


def from_environment(prefix: str = "QA_") -> dict[str, object]:
    """QA_* variables that name a known setting, converted to the default's type."""
    found: dict[str, object] = {}
    for key, default in DEFAULTS.items():
        value = os.environ.get(prefix + key)
        if value is None or value == "":
            continue
        found[key] = int(value) if isinstance(default, int) else value
    return found


def resolve(overrides: dict[str, object] | None = None) -> dict[str, object]:
    return {**DEFAULTS, **from_environment(), **{k: v for k, v in (overrides or {}).items() if v is not None}}
