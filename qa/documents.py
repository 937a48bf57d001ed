"""The Document: id, title, source, text, hash, and for paged formats its pages and line boxes.

A document's `text` is the cleaned text that every citation offset indexes into. Cleaning keeps the
article and drops what a reader would skip: page furniture such as "Subscribe", "View Comments" or
the comment box's username prompts, blocks promoting other articles ("More from ...", "Related"),
and long paragraphs a scraped page holds twice (kept once). Every other line stays, repeats included.
The readers that turn each file format into a Document live in qa/readers/.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass, field

from pydantic import ConfigDict

from qa.cards import Card  # a Document carries its card; cards.py needs Document only for type hints
from qa.metadata import COLLECTION_NAME, DEFAULT_COLLECTION, separators_or_controls

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
# Sentences of a comment box or a paywall prompt, matched only in lines shorter than
# FURNITURE_SENTENCE_MAX_CHARS. Narrow on purpose: "To get started, install..." or "Enter your
# username" are a manual's own text.
FURNITURE_SENTENCE = re.compile(
    r"""\b(
        confirm\s+your\s+username|default\s+username|usernames?\s+may\s+be\s+(updated|changed)|
        comment\s+guidelines|subscriber\s+account|benefits?\s+of\s+(a|an|your)\s+(\S+\s+){0,3}subscription|
        log\s+in\s+to\s+comment|sign\s+in\s+to\s+comment|join\s+the\s+conversation\s+on|
        sign\s+up\s+for\s+(our|the)\s+newsletter
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
FURNITURE_SENTENCE_MAX_CHARS = 300
# A site footer: "© 2025 X. All rights reserved." or a row of policy links. One policy name alone
# may be a heading ("Privacy Policy" is the title of a privacy policy), so it takes two.
FOOTER_PHRASE = re.compile(r"all\s+rights\s+reserved|(cookie|privacy)\s+(policy|settings)|terms\s+of\s+(use|service)",
                           re.IGNORECASE)
FOOTER_MAX_WORDS = 15
# Lone characters that menus and lists leave behind. Other lines without letters stay: a table's
# "|---|---|", a rule "---", a code line "}".
STRAY_MARK = re.compile(r"^[-|.•·*>,;:_~–—]$")
# The heading of a block of promotions: related or recommended articles, most-read lists,
# newsletter sign-ups, an author box. What follows it, up to the article's next paragraph of prose,
# is dropped with it (see furniture_blocks).
BLOCK_HEADING = re.compile(
    r"""^[\W\d]*(
        more\s+(from|on|in|by)\s+\S+(\s+\S+){0,5}|(also\s+)?read\s+(more|next|also)|
        related(\s+(articles?|stories|posts|content|reading|coverage|news|links))?|
        recommended\s+(for\s+you|reading|articles?|stories|videos?)|editors?['’]?s?\s+picks|
        (you|we\s+think\s+you)\s+(may|might|could|will|would)\s+(also\s+)?(like|enjoy|be\s+interested\s+in)|
        (today['’]s\s+|the\s+)?(most\s+(read|popular|viewed|shared)|trending(\s+(now|stories))?|top\s+stories)|
        (sign\s+up|subscribe)\s+(for|to)\s+(\S+\s+){0,4}newsletters?|newsletter\s+sign[\s-]?up|
        about\s+the\s+authors?
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)
# An author's bio as the article's last line: "Jane Roe is a reporter at The Daily. X: @jroe".
AUTHOR_BIO = re.compile(
    r"""^([A-ZÀ-Þ][\w'’.-]*\s+){1,4}(is|was)\s+(a|an|the)\s+[^.]{0,120}?\b(
        writer|reporter|editor|correspondent|columnist|journalist|author|contributor|producer|fellow|professor
    )s?\b""",
    re.VERBOSE,
)
# A repeated line this long is a page's second copy of a paragraph, kept once; shorter repeats
# ("Yes.", a heading, a table row) are the document's own and stay.
REPEATED_PARAGRAPH_WORDS = 25
# A line this long is prose, the article's own: it ends a block of promotions.
PROSE_WORDS = 40
# What cleaning leaves alone: fenced code, and table rows (which repeat by nature).
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
TABLE_ROW = re.compile(r"^\s*\||\s\|\s")  # "| a | b |", or "a | b" as the HTML reader writes rows
LIST_ITEM = re.compile(r"^\s*([-*+•]|\d+[.)])\s")
# C0 controls (but tab and newline), DEL, and lone surrogates (which cannot be stored as UTF-8).
# C1 characters (U+0080-U+009F) stay: mis-decoded text ("ComÄ\x83neci") is made of them, and a
# citation has to match the source's text as it is.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass
class Page:
    """One physical page (a slide, for a presentation): its text is document.text[start:end]."""
    number: int  # 1-based physical page, as a PDF viewer counts them
    start: int
    end: int
    width: float = 0.0  # in PDF points (1/72 inch); 0 for formats without page geometry
    height: float = 0.0
    read_by: str = "text"  # "text" (its text layer), "ocr", or "none" when nothing could be read
    problem: str | None = None  # why the page has no text, for the ingest report and the API
    label: str | None = None  # the number printed on it ("17", "iv") when known: what a reader calls it


@dataclass
class Box:
    """Where a stretch of document.text stands on its page: a line (or part of one) of a PDF.
    Coordinates in PDF points from the page's top-left corner, y growing downward."""
    start: int
    end: int
    page: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Section:
    """A heading and where its section starts in document.text (Word headings), so a citation can
    name the section it quotes."""
    start: int
    title: str


@dataclass
class Document:
    # As JSON (pydantic), `original` travels as base64: how a reader's child process hands a Document back.
    __pydantic_config__ = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    id: str
    title: str
    source: str
    text: str
    hash: str
    type: str = "txt"  # the format it was read from: txt, md, html, pdf, docx, pptx
    pages: list[Page] = field(default_factory=list)  # empty for documents without pages
    boxes: list[Box] = field(default_factory=list)  # line boxes, for formats with page geometry (PDF)
    sections: list[Section] = field(default_factory=list)  # headings, in order (Word)
    original: bytes | None = None  # the file as given, kept for page previews (PDF)
    file_hash: str = ""  # SHA-256 of the file's bytes, so an unchanged file is not even parsed again
    origin: str = ""  # the folder it was ingested from ("" for a document sent over the API)
    date: str | None = None  # YYYY-MM-DD: from the file's metadata (HTML, PDF), an upload's, else its mtime
    tags: list[str] | None = None  # None: keep the tags of the version it replaces (none for a new one)
    collection: str = "default"  # a question sees the documents of one collection only
    metadata: dict[str, str] = field(default_factory=dict)  # the file's own: title, author, subject, ... (qa/cards.py)
    card: Card | None = None  # who issued it, what it is, the period it covers (qa/cards.py), read with it

    @property
    def label(self) -> str:
        """What each of its passages is indexed under (qa/policy.py): its card's label, else its title."""
        return self.card.label if self.card else self.title

    def place(self, collection: str) -> None:
        """Put the document in a collection: its id names the collection too, so the same file in
        two collections is two documents."""
        self.collection = collection
        self.id = document_id(self.source, self.origin, collection)

    @property
    def unread_pages(self) -> list[Page]:
        return [page for page in self.pages if page.problem]

    def page_spans(self, ranges: list[tuple[int, int]]) -> list[tuple[int, int] | None]:
        """The first and last page each text[start:end] touches; None for a document without pages.
        A range that only touches the separator between pages counts on the page before.

        Example: pages 1 = [0, 100), 2 = [102, 180): (90, 120) -> (1, 2); (150, 160) -> (2, 2)."""
        pages = [page for page in self.pages if page.end > page.start] or self.pages[:1]
        if not pages:
            return [None] * len(ranges)
        starts = [page.start for page in pages]
        ends = [page.end for page in pages]
        spans = []
        for start, end in ranges:
            first = max(bisect.bisect_right(ends, start), 0)  # first page ending after start
            last = max(bisect.bisect_left(starts, end) - 1, 0)  # last page starting before end
            first = min(first, last, len(pages) - 1)
            spans.append((pages[first].number, pages[last].number))
        return spans


def document_id(source: str, origin: str = "", collection: str = "default") -> str:
    """A stable id from where the document came from, so a changed file keeps its id and replaces
    itself, and two folders' (or collections') files of the same name are two documents.

    Two different (collection, origin, source) never share an id, whatever the strings hold:
    the id hashes document_key, which is unambiguous (see there); a 64-bit collision of SHA-256 is
    refused by the store as a conflict (409), never stored over the other document."""
    key = document_key(source, origin, collection)
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def document_key(source: str, origin: str = "", collection: str = "default") -> str:
    """What document_id hashes: one string per (collection, origin, source), never one for two.

    The usual parts (a collection name, an absolute folder or none, a source holding no line break
    or control character, qa/metadata.py check_source) keep the key ids were always made from:
    "collection\norigin\nsource", the default collection and an empty origin left out. Split at
    "\n", it reads back one way only: 3 parts are collection, origin, source; of 2, the first is
    an origin when it starts with "/" and a collection otherwise. Any other parts (a source with a
    newline, a relative origin) are written as a JSON list behind a NUL, which no usual key starts
    with, so the two kinds of key never meet either.

    Example: ("report.pdf", "", "team-b") -> "team-b\nreport.pdf";
    ("team-b\nreport.pdf", "", "default") -> '\x00["default", "", "team-b\\nreport.pdf"]'."""
    usual = (not separators_or_controls(source + origin + collection)
             and (collection == DEFAULT_COLLECTION or COLLECTION_NAME.match(collection) is not None)
             and (origin == "" or origin.startswith("/")))
    if not usual:
        return "\x00" + json.dumps([collection, origin, source], ensure_ascii=False)
    key = f"{origin}\n{source}" if origin else source
    return key if collection == DEFAULT_COLLECTION else f"{collection}\n{key}"


def make_document(raw_text: str, source: str, title: str | None = None, type: str = "txt",
                  metadata: dict[str, str] | None = None) -> Document:
    """Clean raw text into a Document. The title defaults to the first line."""
    return finish_document(clean_text(raw_text), source, title, type=type, metadata=metadata or {})


def finish_document(text: str, source: str, title: str | None = None, **fields) -> Document:
    """A Document for text that is already clean (a paged reader cleans as it goes, so that its page
    offsets and boxes index into the final text), with its card (qa/cards.py). The title defaults to
    the first line; a title that names no document (a form's letterhead) gives way to the card's."""
    from qa.cards import read_card  # here: qa.cards reads Documents

    if not title:
        title = next((line.strip() for line in text.split("\n") if line.strip()), "") or source
    title = " ".join(title.strip().lstrip("#").split())[:MAX_TITLE_CHARS] or source
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    document = Document(id=document_id(source), title=title, source=source, text=text, hash=digest, **fields)
    document.card = read_card(document)
    document.title = document.card.title.value[:MAX_TITLE_CHARS] if document.card.title else title
    return document


def decode(data: bytes) -> str:
    """UTF-8 when it is, else Windows-1252 (what most legacy text files are), never an exception."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def clean_text(raw: str) -> str:
    """Normalise line ends, drop control characters, page furniture and a page's second copies.

    Dropped: furniture lines ("Subscribe", comment-box prompts, stray "-" left by menus), blocks of
    promotions (a "More from ..." or "Related" heading and the teasers under it, see
    furniture_blocks), an author bio as the last line, and long paragraphs the page repeats (kept
    once, with any short lines repeated around them). Everything else stays, repeats included: a
    table's rows and "|---|" line, a second "Yes.", a heading used twice, fenced code as it is.
    Paragraph structure survives: blank lines between blocks stay (collapsed to one), because the
    chunker prefers to cut there.
    """
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in CONTROL_CHARS.sub("", raw).split("\n")]
    judged = prose_lines(lines)
    dropped = {i for i in judged if is_furniture(lines[i])}
    judged = [i for i in judged if i not in dropped or BLOCK_HEADING.match(lines[i])]
    dropped |= set(furniture_blocks([lines[i] for i in judged], judged))
    judged = [i for i in judged if i not in dropped]
    dropped |= set(repeated_paragraphs([lines[i] for i in judged], judged))
    judged = [i for i in judged if i not in dropped]
    if judged and is_author_bio(lines[judged[-1]]):
        dropped.add(judged[-1])
    kept: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            if kept and kept[-1] != "":
                kept.append("")
        elif i not in dropped:
            kept.append(line)
    return "\n".join(kept).strip()


def prose_lines(lines: list[str]) -> list[int]:
    """Positions of the non-blank lines outside fenced code: the lines cleaning may judge."""
    found: list[int] = []
    in_code = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_code = not in_code
        elif line.strip() and not in_code:
            found.append(i)
    return found


def is_furniture(line: str) -> bool:
    line = " ".join(line.split())
    if STRAY_MARK.match(line) or FURNITURE_LINE.match(line):
        return True
    if len(line.split()) <= FOOTER_MAX_WORDS:
        phrases = FOOTER_PHRASE.findall(line)
        if len(phrases) >= 2 or re.search(r"all\s+rights\s+reserved", line, re.IGNORECASE):
            return True
    return len(line) <= FURNITURE_SENTENCE_MAX_CHARS and bool(FURNITURE_SENTENCE.search(line))


def furniture_blocks(lines: list[str], positions: list[int] | None = None) -> list[int]:
    """The lines of promotion blocks: each BLOCK_HEADING line and the run of shorter lines after it,
    up to the next paragraph of prose (PROSE_WORDS or more), the next such heading, or the end.
    A short line just before that paragraph stays as its heading unless it is a list item, and a
    heading with nothing under it stays. `lines` are non-blank lines in order (trafilatura's text of
    a web page, as plain text); the answer is their `positions` (by default their indexes).

    Example: ["Storks migrate...(60 words)", "More from The Daily", "Photo. Herons Are Back",
    "Why the river is clean again.", "Our Region", "The council met...(50 words)"] -> [1, 2, 3]:
    the teasers go, "Our Region" stays as the next section's heading.
    """
    positions = list(range(len(lines))) if positions is None else positions
    found: list[int] = []
    start = 0
    while start < len(lines):
        if not BLOCK_HEADING.match(lines[start]):
            start += 1
            continue
        end = start + 1
        while end < len(lines) and not is_prose(lines[end]) and not BLOCK_HEADING.match(lines[end]):
            end += 1
        if end < len(lines) and is_prose(lines[end]) and end - 1 > start and is_heading(lines[end - 1]):
            end -= 1
        if end - start > 1:
            found.extend(positions[start:end])
        start = max(end, start + 1)
    return found


def repeated_paragraphs(lines: list[str], positions: list[int]) -> list[int]:
    """The second copies of long paragraphs (REPEATED_PARAGRAPH_WORDS or more) in `lines`, with the
    lines around each copy that repeat the lines around its first copy (a heading scraped twice
    with its paragraph). Table rows never count as paragraphs."""
    keys = [" ".join(line.split()).casefold() for line in lines]
    first: dict[str, int] = {}
    found: set[int] = set()
    for i, key in enumerate(keys):
        j = first.setdefault(key, i)
        if j == i or i in found or word_count(lines[i]) < REPEATED_PARAGRAPH_WORDS or TABLE_ROW.match(lines[i]):
            continue
        found.add(i)
        back = 1
        while i - back > j and keys[i - back] == keys[j - back]:
            found.add(i - back)
            back += 1
        ahead = 1
        while i + ahead < len(keys) and j + ahead < i and keys[i + ahead] == keys[j + ahead]:
            found.add(i + ahead)
            ahead += 1
    return [positions[i] for i in sorted(found)]


def is_author_bio(line: str) -> bool:
    return word_count(line) < PROSE_WORDS and bool(AUTHOR_BIO.match(line.strip()))


def is_prose(line: str) -> bool:
    return word_count(line) >= PROSE_WORDS and not TABLE_ROW.match(line)


def is_heading(line: str) -> bool:
    return not LIST_ITEM.match(line) and not line.rstrip().endswith((".", "!", "?", ":", ";", ","))


def word_count(line: str) -> int:
    """Words, or for scripts written without spaces one per six characters."""
    return max(len(line.split()), len(line) // 6)
