"""The Document: id, title, source, text, hash, and for paged formats its pages and line boxes.

A document's `text` is the cleaned text that every citation offset indexes into. Cleaning keeps the
article and drops what a reader would skip: paragraphs repeated within the document (kept once) and
page furniture such as "Subscribe", "View Comments" or the comment box's username prompts.
The readers that turn each file format into a Document live in qa/readers/.
"""
from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, field

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
class Page:
    """One physical page (a slide, for a presentation): its text is document.text[start:end]."""
    number: int  # 1-based physical page, as a PDF viewer counts them
    start: int
    end: int
    width: float = 0.0  # in PDF points (1/72 inch); 0 for formats without page geometry
    height: float = 0.0
    read_by: str = "text"  # "text" (its text layer), "ocr", or "none" when nothing could be read
    problem: str | None = None  # why the page has no text, for the ingest report and the API


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


def document_id(source: str) -> str:
    """A stable id from the source path, so a changed file keeps its id and replaces itself."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def make_document(raw_text: str, source: str, title: str | None = None, type: str = "txt") -> Document:
    """Clean raw text into a Document. The title defaults to the first line."""
    return finish_document(clean_text(raw_text), source, title, type=type)


def finish_document(text: str, source: str, title: str | None = None, **fields) -> Document:
    """A Document for text that is already clean (a paged reader cleans as it goes, so that its page
    offsets and boxes index into the final text). The title defaults to the first line."""
    if not title:
        title = next((line.strip() for line in text.split("\n") if line.strip()), "") or source
    title = " ".join(title.strip().lstrip("#").split())[:MAX_TITLE_CHARS] or source
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return Document(id=document_id(source), title=title, source=source, text=text, hash=digest, **fields)


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
