"""A web page -> its main text, by trafilatura (falling back to all visible text)."""
from __future__ import annotations

from qa.documents import Document, decode, make_document


def read(data: bytes, source: str) -> Document:
    return parse_html(decode(data), source)


def parse_html(html: str, source: str) -> Document:
    import trafilatura  # imported here: slow to import and only needed for HTML

    extracted = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
    ) if html.strip() else None
    text = (extracted.text if extracted else "") or ""
    title = extracted.title if extracted else None
    if not text.strip():
        text = trafilatura.html2txt(html) if html.strip() else ""
    return make_document(text, source, title=title)
