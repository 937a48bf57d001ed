"""A document sent over the API (a file upload or JSON) -> Document.

The source an upload gives is only ever a label for citations: it never reaches the file system.
A source holding a line or record separator or a control character is refused, naming it
(qa/metadata.py check_source); the rest is cleaned, so a listing never shows "../../etc/passwd".
"""
from __future__ import annotations

import re

from werkzeug.datastructures import FileStorage

from qa.documents import Document, make_document
from qa.errors import BadRequest, UploadTooLarge
from qa.metadata import check_source
from qa.readers import format_for, parse_bytes

MAX_SOURCE_CHARS = 200
DRIVE = re.compile(r"^[A-Za-z]:$")  # "C:" in "C:\Windows\win.ini"


def clean_source(source: str) -> str:
    """A path-like label with no way out of its folder (BadRequest for a separator or control character).

    Example: "../../etc/passwd" -> "etc/passwd"; "/etc/passwd" -> "etc/passwd";
    "C:\\Windows\\win.ini" -> "Windows/win.ini"; "a/./b.txt" -> "a/b.txt"; "a\\nb.txt" -> 400."""
    source = check_source(source).replace("\\", "/")
    parts = [part.strip() for part in source.split("/")]
    parts = [part for part in parts if part not in ("", ".", "..") and not DRIVE.match(part)]
    cleaned = "/".join(parts)[-MAX_SOURCE_CHARS:].lstrip("/")
    if not cleaned:
        raise BadRequest("The source is empty once path parts such as '..' and '/' are removed; give it a name.")
    return cleaned


def from_json(text: str, source: str, title: str | None) -> Document:
    return checked(make_document(text, clean_source(source), title=title))


def from_file(upload: FileStorage, max_bytes: int) -> Document:
    source = clean_source(upload.filename or "")
    format_for(source)  # an unsupported type is refused before its bytes are read
    data = upload.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"The file is larger than the limit of {max_bytes} bytes (UPLOAD_MAX_BYTES).")
    return checked(parse_bytes(data, source, source))


def checked(document: Document) -> Document:
    if not document.text.strip():
        raise BadRequest(f"{document.source}: no text left once the page furniture is removed.")
    return document
