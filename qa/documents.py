"""Reading articles: .txt / .md / .html files -> Document (id, title, source, text, hash).

A document's `text` is the cleaned text that every citation offset indexes into. Cleaning keeps the
article and drops what a reader would skip: paragraphs repeated within the document (kept once) and
page furniture such as "Subscribe", "View Comments" or the comment box's username prompts.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from qa.errors import UnsupportedFile

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES
MAX_TITLE_CHARS = 200

# Whole lines that are site chrome, not article: buttons, account prompts, comment boxes.
FURNITURE_LINE = re.compile(
    r"""^\W*(
        subscribe(\s+(now|today))?|sign\s*(in|up|out)|log\s*(in|out)|register|cancel|close|menu|
        share(\s+this(\s+article)?)?|tweet|email|print|advertisement|sponsored(\s+content)?|
        view\s+(all\s+)?comments?|show\s+comments?|comments?|leave\s+a\s+comment|post\s+comment|
        join\s+the\s+(conversation|discussion)|already\s+a\s+(subscriber|member)|
        not\s+your\s+account|change\s+your\s+username|read\s+more|continue\s+reading|
        skip\s+to\s+(main\s+)?content|back\s+to\s+top|accept(\s+all)?\s+cookies
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Short sentences about accounts and comment sections; real article paragraphs are kept because
# these only match lines shorter than FURNITURE_SENTENCE_MAX_CHARS.
FURNITURE_SENTENCE = re.compile(
    r"""\b(
        your\s+username|usernames?\s+(may|must)|comment\s+guidelines|commenting\s+on\s+this|
        subscriber\s+account|to\s+get\s+started|log\s+in\s+to\s+comment|sign\s+in\s+to\s+comment|
        join\s+the\s+conversation\s+on|cookie\s+(policy|settings)|privacy\s+policy|terms\s+of\s+(use|service)|
        sign\s+up\s+for\s+(our|the)\s+newsletter|all\s+rights\s+reserved
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
FURNITURE_SENTENCE_MAX_CHARS = 300
# C0 controls (but tab and newline), DEL, and lone surrogates (which cannot be stored as UTF-8).
# C1 characters (U+0080-U+009F) stay: mis-decoded text ("ComÄ\x83neci") is made of them, and a
# citation has to match the source's text as it is.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass
class Document:
    id: str
    title: str
    source: str
    text: str
    hash: str


def document_id(source: str) -> str:
    """A stable id from the source path, so a changed file keeps its id and replaces itself."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def make_document(raw_text: str, source: str, title: str | None = None) -> Document:
    """Clean raw text into a Document. The title defaults to the first line."""
    text = clean_text(raw_text)
    if not title:
        title = next((line.strip() for line in text.split("\n") if line.strip()), "") or source
    title = title.strip().lstrip("#").strip()[:MAX_TITLE_CHARS] or source
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return Document(id=document_id(source), title=title, source=source, text=text, hash=digest)


def read_document(path: Path, source: str | None = None) -> Document:
    """Read one file. `source` is how citations name it (default: the file name)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UnsupportedFile(f"{path}: unsupported file type {suffix or '(none)'}; use .txt, .md or .html")
    return parse_bytes(path.read_bytes(), suffix, source or path.name)


def parse_bytes(data: bytes, suffix: str, source: str) -> Document:
    """Turn a file's bytes into a Document; `suffix` picks the reader (.txt/.md/.html)."""
    raw = decode(data)
    if suffix.lower() in HTML_SUFFIXES:
        return parse_html(raw, source)
    return make_document(raw, source)


def parse_html(html: str, source: str) -> Document:
    """Reduce a web page to its main text with trafilatura; fall back to all visible text."""
    import trafilatura  # imported here: slow to import and only needed for HTML

    extracted = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
    ) if html.strip() else None
    text = (extracted.text if extracted else "") or ""
    title = extracted.title if extracted else None
    if not text.strip():
        text = trafilatura.html2txt(html) if html.strip() else ""
    return make_document(text, source, title=title)


def decode(data: bytes) -> str:
    """UTF-8 when it is, else Windows-1252 (what most legacy text files are), never an exception."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def clean_text(raw: str) -> str:
    """Normalise line ends, drop control characters, furniture lines and repeated paragraphs.

    Paragraph structure survives: blank lines between blocks stay (collapsed to one), because the
    chunker prefers to cut there.
    """
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    raw = CONTROL_CHARS.sub("", raw)
    seen: set[str] = set()
    lines: list[str] = []
    for line in raw.split("\n"):
        line = line.rstrip()
        key = " ".join(line.split()).casefold()
        if not key:
            if lines and lines[-1] != "":
                lines.append("")
            continue
        if is_furniture(key) or key in seen:
            continue
        seen.add(key)
        lines.append(line)
    return "\n".join(lines).strip()


def is_furniture(line: str) -> bool:
    if not any(ch.isalnum() for ch in line):
        return True  # lone "-", "|", "." left over from menus and lists
    if FURNITURE_LINE.match(line):
        return True
    return len(line) <= FURNITURE_SENTENCE_MAX_CHARS and bool(FURNITURE_SENTENCE.search(line))


def iter_files(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """Yield (file, source) for every supported file under the given files and folders.

    The source is the path relative to the folder given (the file name for a file argument), in
    sorted order so ingest is deterministic. Hidden files and folders are skipped.
    """
    for root in paths:
        if root.is_file():
            yield root, root.name
        elif root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if path.is_file() and path.suffix.lower() in SUFFIXES:
                    yield path, relative.as_posix()
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")


def read_paths(paths: list[Path]) -> Iterator[Document]:
    for path, source in iter_files(paths):
        yield read_document(path, source)
