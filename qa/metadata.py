"""What a document's metadata may hold: tags, a date, a collection name, a source. One check for
each, used by the API's models, the CLI and ingest alike, each refusing with the field's name and
what to send.

Tags are lower-cased and trimmed ("Q3 Report " -> "q3 report"), so a filter need not guess the
case they were written in. A collection name is a short lower-case slug, so it can sit in a URL,
a tokens file and a command line unquoted.

Example: clean_tags(["Finance", " finance", "Q3"]) -> ["finance", "q3"];
check_collection("Team A") -> BadRequest("collection: 'Team A' is not a collection name ...").
"""
from __future__ import annotations

import re
import unicodedata

from qa.errors import BadRequest

DEFAULT_COLLECTION = "default"
COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_TAG_CHARS = 64
MAX_TAGS = 32  # on one document, or in one filter
BAD_TAG_CHARS = re.compile(r"[\x00-\x1f\x7f,\ud800-\udfff]")  # control characters, commas, lone surrogates
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})  # controls, lone surrogates, line and paragraph separators
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def separators_or_controls(text: str) -> list[tuple[int, str]]:
    """(position, character) of each character a name may not hold: line and record separators
    (every one str.splitlines breaks at: \\n \\r \\v \\f \\x1c-\\x1e \\x85 U+2028 U+2029), the other
    control characters (category Cc: C0, DEL, C1), lone surrogates, and the bidirectional controls
    that make a name display as another (U+202A-U+202E, U+2066-U+2069)."""
    return [(i, c) for i, c in enumerate(text) if unicodedata.category(c) in REFUSED_CATEGORIES or c in BIDI_CONTROLS]


def check_source(source: str, field: str = "source") -> str:
    """A source (how citations name a document: a file's path under its folder, an upload's name)
    holding none of separators_or_controls; refused naming the first such character, else returned.

    Example: check_source("team-b\\nreport.pdf") -> BadRequest("source: 'team-b\\nreport.pdf' holds
    U+000A (a line or record separator) at character 7; ...")."""
    found = separators_or_controls(source)
    if found:
        position, character = found[0]
        kind = ("a line or record separator" if len(f"a{character}b".splitlines()) == 2 else
                "a lone surrogate" if unicodedata.category(character) == "Cs" else
                unicodedata.name(character, "a control character").lower())
        raise BadRequest(f"{field}: {source[:80]!r} holds U+{ord(character):04X} ({kind}) "
                         f"at character {position + 1}; a source may hold no line or record separator, control "
                         f"character or direction override. Rename it.")
    return source


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
