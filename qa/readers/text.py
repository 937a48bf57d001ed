"""Plain text and Markdown: decoded (UTF-8, else Windows-1252) and cleaned."""
from __future__ import annotations

from qa.documents import Document, decode, make_document


def read(data: bytes, source: str) -> Document:
    return make_document(decode(data), source)
