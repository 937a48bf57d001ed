"""What a document's metadata may hold: tags, a date, a collection name. One check for each, used
by the API's models, the CLI and ingest alike, each refusing with the field's name and what to send.

Tags are lower-cased and trimmed ("Q3 Report " -> "q3 report"), so a filter need not guess the
case they were written in. A collection name is a short lower-case slug, so it can sit in a URL,
a tokens file and a command line unquoted.

Example: clean_tags(["Finance", " finance", "Q3"]) -> ["finance", "q3"];
check_collection("Team A") -> BadRequest("collection: 'Team A' is not a collection name ...").
"""
from __future__ import annotations

import re

from qa.errors import BadRequest

DEFAULT_COLLECTION = "default"
COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_TAG_CHARS = 64
MAX_TAGS = 32  # on one document, or in one filter
BAD_TAG_CHARS = re.compile(r"[\x00-\x1f\x7f,\ud800-\udfff]")  # control characters, commas, lone surrogates


def check_collection(name: str, field: str = "collection") -> str:
    if not isinstance(name, str) or not COLLECTION_NAME.match(name):
        raise BadRequest(f"{field}: {name!r} is not a collection name; use 1-64 lower-case letters, digits, "
                         f"'-' or '_', starting with a letter or digit (e.g. {DEFAULT_COLLECTION!r}).")
    return name


def clean_tag(tag: str, field: str = "tags") -> str:
    if not isinstance(tag, str):
        raise BadRequest(f"{field}: each tag must be a string; got {tag!r}.")
    cleaned = " ".join(tag.split()).lower()
    if not cleaned:
        raise BadRequest(f"{field}: a tag is empty; give each tag some text, or leave it out.")
    if len(cleaned) > MAX_TAG_CHARS:
        raise BadRequest(f"{field}: the tag {cleaned[:20]!r}... is {len(cleaned)} characters; the limit is {MAX_TAG_CHARS}.")
    if BAD_TAG_CHARS.search(cleaned):
        raise BadRequest(f"{field}: the tag {cleaned!r} holds a comma or a control character; send tags as a "
                         f"list, one tag each, in plain text.")
    return cleaned


def clean_tags(tags: list[str], field: str = "tags") -> list[str]:
    """Cleaned, in order, each once."""
    if not isinstance(tags, list):
        raise BadRequest(f"{field}: send a list of strings, e.g. [\"finance\", \"2024\"]; got {tags!r}.")
    cleaned = list(dict.fromkeys(clean_tag(tag, field) for tag in tags))
    if len(cleaned) > MAX_TAGS:
        raise BadRequest(f"{field}: {len(cleaned)} tags; the limit is {MAX_TAGS}.")
    return cleaned
