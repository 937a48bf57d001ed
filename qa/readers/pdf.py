"""PDF -> Document: text fit to read and to cite, with its pages and a box for every line.

PDFium (pypdfium2) runs in a child process (qa/readers/pdf_worker.py) under the memory cap of every
reader (qa/readers/child.py) and a time limit that grows with the pages PDFium counts, so a hostile
PDF that hangs or crashes PDFium costs one UnreadableFile (422), never the server.
The child hands back each page's line fragments with their rectangles; this module lays them out:

- running headers, footers and page numbers (top or bottom tenth of the page, repeated on several
  pages once digits are masked, or a lone "12", "Page 3 of 10", "- 4 -") are dropped;
- a page whose lines leave a clear vertical gutter between two text columns is read column by column
  (a full-width title or caption across the gutter stays where it stands);
- cells of a table row stay on one line, joined by " | ";
- lines of a paragraph are joined with a space, and a paragraph ends ("\\n\\n") at a wider line gap,
  a change of font size, an indented line, or a short line that ends a sentence or looks like a heading;
- a word hyphenated at a line end is rejoined ("inter-" + "national" -> "international") unless the
  document writes it with the hyphen elsewhere ("pre-training"), the next part starts with a capital,
  or the first part is a word that forms compounds ("well-known", "self-aware");
- a paragraph running on to the next page (or column) stays one paragraph; otherwise pages are
  separated by "\\n\\n".

Pages without a text layer but with images are read by Tesseract in the child when it is installed.
"""
from __future__ import annotations

import base64
import bisect
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from statistics import median

from qa.dates import parse_date
from qa.documents import CONTROL_CHARS, Box, Document, Page, finish_document
from qa.errors import NotFound, UnreadableFile
from qa.readers import child

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("pdf_worker.py")
TESSERACT = "/usr/bin/tesseract"  # reads scanned pages when installed (apt-get install tesseract-ocr)
OCR_SECONDS = 240  # Tesseract's time budget per file; pages past it are reported, not read
# The child's time limit: PARSE_SECONDS (qa/readers/child.py), plus SECONDS_PER_PAGE for each page PDFium
# counts, at most MAX_PARSE_SECONDS, plus OCR_SECONDS when Tesseract reads scanned pages.
SECONDS_PER_PAGE = 0.5
MAX_PARSE_SECONDS = 600
GRACE_SECONDS = 10  # the parent waits this much longer before killing a child its own alarm should have ended
TITLE_LINES = 3  # a title runs on for at most this many lines
BAND = 0.1  # share of the page height at the top and bottom where running headers and footers stand
OUTER_BAND = 0.15  # ... or, for the page's first or last line, this share (a footer set higher, over a wide margin)
# A table's cells line up row by row within this share of their size (a label may sit a point or two
# above its figures); text beside a chart lines up with the chart's labels only by chance.
ROW_ALIGNMENT = 0.1
RUNNING_HEADERS = 3  # the running headers and footers recorded for the document's card (qa/cards.py)

LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                           "\ufb05": "st", "\ufb06": "st"})
LINE_END_HYPHENS = "-\u00ad\ufffe\u0002\u2010"  # PDFium marks a hyphen that ends a line as U+FFFE or U+0002
PAGE_NUMBER = re.compile(r"^(page\s*)?[-–—(]?\s*(\d{1,4}|[ivxlc]{1,7})\s*[-–—)]?(\s*(of|/)\s*\d{1,4})?$", re.I)
# A page number that leads or ends a header or footer line ("12", "Page 12 of 30", "Report 2016 | 12").
PRINTED_NUMBER = re.compile(r"^(?:page\s*)?(\d{1,4})\b(?!\s*[./:,-]\s*\d)|(?<![\d./:,-])\b(\d{1,4})$", re.I)
SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
BULLET = re.compile(r"^([•●▪■◦‣∙·\-–—*]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
WORD = re.compile(r"\w+(?:-\w+)*")
# First parts that make compounds rather than split words: "well-" + "known" keeps its hyphen.
COMPOUND_HEADS = frozenset("well self non all half cross ill far best world state long short high low full".split())
MEANINGLESS_TITLE = re.compile(r"^(untitled|title|document|slide \d+|)$|^microsoft \w+ - |\.(docx?|pdf|pptx?|"
                               r"xlsx?|txt|rtf|indd|tex|dvi|qxd|cdr|ai|eps)$", re.I)


@dataclass
class Fragment:
    """A stretch of one text line: PDF points from the page's top-left corner; size = glyph height."""
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    upright: bool = True  # false for rotated text (a margin note set vertically)
    letters: int = field(init=False)
    glyphs: int = field(init=False)

    def __post_init__(self) -> None:
        self.letters = sum(map(str.isalpha, self.text))
        self.glyphs = len(self.text) - self.text.count(" ")

    @property
    def center(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class Line:
    cells: list[Fragment]  # left to right
    left: float  # the column (or page) it stands in
    right: float
    separators: list[str] = field(default_factory=list)  # between cells: " " or " | "

    def __post_init__(self) -> None:
        self.separators = [" | " if b.x0 - a.x1 > 1.5 * max(a.size, b.size) else " "
                           for a, b in zip(self.cells, self.cells[1:])]

    @property
    def table(self) -> bool:
        return " | " in self.separators

    @property
    def text(self) -> str:
        return self.cells[0].text + "".join(s + c.text for s, c in zip(self.separators, self.cells[1:]))

    x0 = cached_property(lambda self: self.cells[0].x0)
    x1 = cached_property(lambda self: self.cells[-1].x1)
    y0 = cached_property(lambda self: min(c.y0 for c in self.cells))
    y1 = cached_property(lambda self: max(c.y1 for c in self.cells))
    size = cached_property(lambda self: max(c.size for c in self.cells))


def read(data: bytes, source: str) -> Document:
    """A PDF's bytes -> Document with pages, line boxes and the original bytes (for page previews)."""
    tesseract = TESSERACT if os.path.exists(TESSERACT) else ""
    ocr_seconds = OCR_SECONDS if tesseract else 0
    too_long = (f"{source}: reading this PDF took too long (over {child.PARSE_SECONDS} s and {SECONDS_PER_PAGE} s "
                f"a page, at most {MAX_PARSE_SECONDS} s{f', plus {ocr_seconds} s for OCR' if ocr_seconds else ''}); "
                f"it may be damaged or built to stall PDF readers.")
    result = run_worker(child.PARSE_SECONDS, ["extract", tesseract, str(ocr_seconds), str(SECONDS_PER_PAGE),
                                              str(MAX_PARSE_SECONDS)], data, source,
                        MAX_PARSE_SECONDS + ocr_seconds, too_long)
    if not result["pages"]:
        raise UnreadableFile(f"{source}: this PDF has no pages.")
    if any("install tesseract" in (page["problem"] or "") for page in result["pages"]):
        log.warning("%s: some pages are scanned images and tesseract is not installed, so they were not read; "
                    "install it with: apt-get install tesseract-ocr", source)
    text, pages, boxes, lines, headers = assemble(result["pages"])
    metadata = {key: " ".join(CONTROL_CHARS.sub("", value).split())[:500]
                for key, value in (result.get("metadata") or {}).items() if isinstance(value, str) and value.strip()}
    if headers:
        metadata["running_headers"] = "\n".join(headers)
    return finish_document(text, source, choose_title(result.get("title") or "", lines), type="pdf",
                           pages=pages, boxes=boxes, original=data, date=parse_date(result.get("date")),
                           metadata=metadata)


def render_page(data: bytes, number: int, max_width: int, seconds: float) -> tuple[bytes, float]:
    """PNG of page `number` (1-based) at most `max_width` pixels wide, and its scale (pixels per
    point), drawn within `seconds` (qa/previews.py sets both)."""
    too_long = f"PDF: drawing page {number} took longer than {seconds:g} s; it is built to stall PDF renderers."
    result = run_worker(seconds, ["render", str(number), str(max_width)], data, "PDF", seconds, too_long)
    return base64.b64decode(result["png"]), result["scale"]


def run_worker(seconds: float, args: list[str], data: bytes, source: str, most: float, too_long: str) -> dict:
    """Run pdf_worker.py on `data` in its own process group, with the memory limit of every reader
    (qa/readers/child.py) and `seconds` on its alarm (an extract's grows with its pages, at most
    `most`); its JSON answer, or UnreadableFile (`too_long` when it ran out of time)."""
    command = [sys.executable, str(WORKER), str(child.MEMORY_LIMIT), str(seconds), *args]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        out, err = process.communicate(data, timeout=most + GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and any tesseract it started
        process.communicate()
        raise UnreadableFile(too_long) from None
    if process.returncode < 0:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # a tesseract the worker left running
        except ProcessLookupError:
            pass
    if process.returncode == -signal.SIGALRM:
        raise UnreadableFile(too_long)
    try:
        result = json.loads(out)
    except ValueError:
        result = None
    if not isinstance(result, dict) or ("error" not in result and process.returncode != 0):
        if b"MemoryError" in err or b"bad_alloc" in err or b"Out of memory" in err:
            reason = "reading it ran out of memory (2 GiB)"
        elif process.returncode < 0:
            reason = f"the PDF library crashed on it ({signal.Signals(-process.returncode).name})"
        else:
            reason = "the PDF library failed on it: " + (err.decode("utf-8", "replace").strip().splitlines() or
                                                          ["no message"])[-1][:200]
        raise UnreadableFile(f"{source}: cannot read this PDF: {reason}.")
    error = result.get("error")
    if error == "page_range":
        raise NotFound(f"{source}: no page {args[1]}; {result['message']}.")
    if error == "encrypted":
        raise UnreadableFile(f"{source}: this PDF is encrypted (password-protected); save a copy without the "
                             f"password and add that instead.")
    if error == "truncated":
        raise UnreadableFile(f"{source}: this PDF is truncated (the file ends early); copy or download it again.")
    if error == "too_many_chars":
        raise UnreadableFile(f"{source}: cannot read this PDF: {result['message']}; such a page is refused "
                             f"rather than cut short.")
    if error:
        raise UnreadableFile(f"{source}: cannot read this PDF: {result['message']}.")
    return result


def clean(text: str) -> str:
    """Fragment text as read: ligatures spelt out, a line-end hyphen as "-", controls and odd spaces gone."""
    text = text.translate(LIGATURES)
    hyphen = text[-1:] in LINE_END_HYPHENS and len(text) > 1
    text = CONTROL_CHARS.sub("", text.rstrip(LINE_END_HYPHENS[1:]) if hyphen else text)
    text = " ".join(text.replace("\u00ad", "").replace("\ufffe", "").split())
    return text + "-" if hyphen and not text.endswith("-") else text


def assemble(raw_pages: list[dict]) -> tuple[str, list[Page], list[Box], list[Line], list[str]]:
    """Pages of fragments -> (text, pages, boxes, page 1's lines, running headers): the one text all
    offsets index into, and the most repeated running headers and footers (what the document calls
    itself on every page: "Apple Inc. | 2019 Form 10-K")."""
    fragments = [on_page([Fragment(clean(s[0]), *s[1:]) for s in page["segments"]], page["width"], page["height"])
                 for page in raw_pages]
    drop = furniture(fragments, [page["height"] for page in raw_pages])
    headers = running_headers(fragments, drop)
    labels = [page.get("label") for page in raw_pages]
    if not any(labels):
        furniture_of: list[list[Fragment]] = [[] for _ in fragments]
        for number, i in sorted(drop):
            furniture_of[number].append(fragments[number][i])
        labels = printed_numbers(furniture_of)
    ordered = [page_order([f for i, f in enumerate(page) if (number, i) not in drop])
               for number, page in enumerate(fragments)]
    vocabulary = words(f.text for page in fragments for f in page)
    flat = [(number, line) for number, lines in enumerate(ordered) for line in lines]
    pitches = [page_pitch(lines) for lines in ordered]
    parts: list[str] = []
    position = 0
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    boxes: list[Box] = []
    for k, (number, line) in enumerate(flat):
        if k:
            before_number, before = flat[k - 1]
            joint = joiner(before, line, pitches[number], before_number == number)
            if joint == " " and re.search(r"\w-$", before.text) and re.match(r"\w", line.text):
                if keep_hyphen(before.text, line.text, vocabulary):
                    joint = ""
                else:  # drop the hyphen: "inter-" + "national"
                    joint = ""
                    parts[-1] = parts[-1][:-1]
                    position -= 1
                    boxes[-1].end -= 1
            if before_number != number:
                ends[before_number] = position
            parts.append(joint)
            position += len(joint)
        starts.setdefault(number, position)
        for i, cell in enumerate(line.cells):
            if i:
                parts.append(line.separators[i - 1])
                position += len(line.separators[i - 1])
            boxes.append(Box(position, position + len(cell.text), number + 1,
                             round(cell.x0, 2), round(cell.y0, 2), round(cell.x1, 2), round(cell.y1, 2)))
            parts.append(cell.text)
            position += len(cell.text)
    if flat:
        ends[flat[-1][0]] = position
    pages: list[Page] = []
    cursor = 0
    for number, raw in enumerate(raw_pages):
        start = starts.get(number, cursor)
        end = ends.get(number, start)
        cursor = end
        pages.append(Page(number + 1, start, end, round(raw["width"], 2), round(raw["height"], 2),
                          raw["read_by"], raw["problem"], labels[number]))
    return "".join(parts), pages, boxes, ordered[0] if ordered else [], headers


def on_page(fragments: list[Fragment], width: float, height: float) -> list[Fragment]:
    """The fragments a reader can see: text set off the page (clipped away when printed) is dropped,
    and a box reaching past the page's edge is cut at it."""
    seen = []
    for f in fragments:
        f.x0, f.y0, f.x1, f.y1 = max(f.x0, 0.0), max(f.y0, 0.0), min(f.x1, width), min(f.y1, height)
        if f.text and f.x0 < f.x1 and f.y0 < f.y1:
            seen.append(f)
    return seen


def words(texts) -> set[str]:
    """The document's words, casefolded, with each hyphenated pair ("the-art" of "state-of-the-art")."""
    found: set[str] = set()
    for text in texts:
        for word in WORD.findall(text.casefold()):
            found.add(word)
            parts = word.split("-")
            found.update(f"{a}-{b}" for a, b in zip(parts, parts[1:]))
    return found


def furniture(pages: list[list[Fragment]], heights: list[float]) -> set[tuple[int, int]]:
    """(page index, fragment index) of running headers, footers and page numbers."""
    needed = max(2, min(4, math.ceil(len(pages) / 2)))
    keys: dict[tuple[str, str], set[int]] = {}
    banded: list[tuple[int, int, tuple[str, str] | None]] = []
    for number, (fragments, height) in enumerate(zip(pages, heights)):
        top = min((f.y0 for f in fragments), default=0.0)
        bottom = max((f.y1 for f in fragments), default=0.0)
        # The wider band counts only on a page with body text between the bands: a page's one line is its body.
        body = any(OUTER_BAND * height < f.center < (1 - OUTER_BAND) * height for f in fragments)
        for i, fragment in enumerate(fragments):
            band = ("top" if fragment.y1 <= BAND * height or body and fragment.y1 <= OUTER_BAND * height
                    and fragment.y0 <= top + 1
                    else "bottom" if fragment.y0 >= (1 - BAND) * height
                    or body and fragment.y0 >= (1 - OUTER_BAND) * height and fragment.y1 >= bottom - 1 else "")
            if not band:
                continue
            if PAGE_NUMBER.match(fragment.text):
                banded.append((number, i, None))
                continue
            key = (band, re.sub(r"\d+", "#", " ".join(fragment.text.casefold().split())))
            keys.setdefault(key, set()).add(number)
            banded.append((number, i, key))
    return {(number, i) for number, i, key in banded if key is None or len(keys[key]) >= needed}


def running_headers(pages: list[list[Fragment]], drop: set[tuple[int, int]]) -> list[str]:
    """The RUNNING_HEADERS dropped lines repeated on the most pages, as first printed (page numbers
    left out): "Apple Inc. | 2019 Form 10-K | 30" appears on every page, digits aside."""
    seen: dict[str, tuple[int, str]] = {}
    for number, i in sorted(drop):
        text = pages[number][i].text
        if PAGE_NUMBER.match(text) or sum(ch.isalpha() for ch in text) < 3:
            continue
        key = re.sub(r"\d+", "#", " ".join(text.casefold().split()))
        count, first = seen.get(key, (0, text))
        seen[key] = (count + 1, first)
    ranked = sorted(seen.values(), key=lambda found: -found[0])
    return [PRINTED_NUMBER.sub("", text).strip(" |-–—") for _, text in ranked[:RUNNING_HEADERS]]


def printed_numbers(furniture_of_pages: list[list[Fragment]]) -> list[str | None]:
    """Each page's printed number, from its running header or footer ("2", "Version 1.3  2",
    "Page 7 of 20"), kept only when most numbered pages agree on one offset from the physical count
    (a cover and a contents page before page 1 make the offset -2): a date or an issue number in a
    footer does not move with the pages, so it is not taken for one."""
    found: dict[int, set[int]] = {}
    for number, fragments in enumerate(furniture_of_pages, start=1):
        for fragment in fragments:
            match = PRINTED_NUMBER.search(fragment.text)
            if match:
                found.setdefault(number, set()).add(int(match.group(1) or match.group(2)))
    offsets = Counter(value - number for number, values in found.items() for value in values)
    if not offsets:
        return [None] * len(furniture_of_pages)
    offset, agreeing = offsets.most_common(1)[0]
    if agreeing < max(2, len(found) / 2):
        return [None] * len(furniture_of_pages)
    return [str(number + offset) if number + offset in found.get(number, ()) else None
            for number in range(1, len(furniture_of_pages) + 1)]


def rows(fragments: list[Fragment]) -> list[list[Fragment]]:
    """Fragments grouped into rows by their vertical centres, top to bottom, each row left to right."""
    grouped: list[list[Fragment]] = []
    for fragment in sorted(fragments, key=lambda f: (f.center, f.x0)):
        anchor = grouped[-1][0] if grouped else None
        if anchor and fragment.center - anchor.center <= 0.5 * min(anchor.size, fragment.size):
            grouped[-1].append(fragment)
        else:
            grouped.append([fragment])
    return [sorted(row, key=lambda f: f.x0) for row in grouped]


def page_order(fragments: list[Fragment]) -> list[Line]:
    """The page's lines in reading order; rotated text (margin notes) after the rest."""
    level = [f for f in fragments if f.upright]
    left, right = (min(f.x0 for f in level), max(f.x1 for f in level)) if level else (0.0, 0.0)
    return reading_order(level) + [Line([f], left, right) for f in fragments if not f.upright]


def reading_order(fragments: list[Fragment], depth: int = 0) -> list[Line]:
    """Lines in reading order: column by column where a gutter splits the text; else band by band
    where a wide blank strip crosses the whole region; else row by row."""
    if not fragments:
        return []
    left, right = min(f.x0 for f in fragments), max(f.x1 for f in fragments)
    gutter = find_gutter(fragments) if depth < 6 else None
    if gutter is None:
        parts = bands(fragments) if depth < 6 else [fragments]
        if len(parts) > 1:  # read band by band: each may have columns of its own (a brochure)
            return [line for part in parts for line in reading_order(part, depth + 1)]
        return [Line(row, left, right) for row in rows(fragments)]
    lines: list[Line] = []
    run: list[Fragment] = []
    for row in rows(fragments) + [[]]:
        if row and not any(f.x0 < gutter < f.x1 for f in row):
            run += row
            continue
        lines += reading_order([f for f in run if f.x1 <= gutter], depth + 1)
        lines += reading_order([f for f in run if f.x1 > gutter], depth + 1)
        run = []
        if row:
            lines.append(Line(row, left, right))
    return lines


def bands(fragments: list[Fragment]) -> list[list[Fragment]]:
    """The region cut at blank horizontal strips taller than two lines, top to bottom."""
    ordered = sorted(fragments, key=lambda f: f.y0)
    tall = 2 * median(f.size for f in fragments)
    parts = [[ordered[0]]]
    bottom = ordered[0].y1
    for fragment in ordered[1:]:
        if fragment.y0 - bottom > tall:
            parts.append([])
        parts[-1].append(fragment)
        bottom = max(bottom, fragment.y1)
    return parts


def find_gutter(fragments: list[Fragment]) -> float | None:
    """The x of a vertical gap between two columns of text that few fragments cross, or None.

    A gap between table columns does not count: at least one side must be lines of running text,
    and when only one is (text beside a chart), its lines must not line up row by row with the other
    side's as a table's rows do.
    """
    if len(fragments) < 6:
        return None
    left, right = min(f.x0 for f in fragments), max(f.x1 for f in fragments)
    width = right - left
    starts = sorted(f.x0 for f in fragments)
    narrowest = 0.5 * median(f.size for f in fragments)
    gaps: dict[float, float] = {}  # where a gap ends -> where it starts (the last line end before it)
    for edge in {f.x1 for f in fragments if left + 0.15 * width <= f.x1 <= right - 0.15 * width}:
        i = bisect.bisect_left(starts, edge)
        end = starts[i] if i < len(starts) else right
        if end - edge >= narrowest and edge > gaps.get(end, -math.inf):
            gaps[end] = edge
    candidates: list[tuple[int, float, float]] = []
    for end, edge in gaps.items():
        x = (edge + end) / 2
        crossing = sum(f.x0 < x < f.x1 for f in fragments)
        if crossing > len(fragments) // 4:
            continue
        if columns([f for f in fragments if f.x1 <= x], [f for f in fragments if f.x0 >= x]):
            candidates.append((-crossing, end - edge, x))  # the clearest gutter: fewest across, widest
    return max(candidates)[2] if candidates else None


def columns(one: list[Fragment], two: list[Fragment]) -> bool:
    prose = [running_text(one), running_text(two)]
    if all(prose) or (wordy(one) and wordy(two)):  # columns of text, or of list items (a brochure)
        return True
    if not any(prose):
        return False
    text, other = (one, two) if prose[0] else (two, one)
    aligned = sum(any(abs(f.center - g.center) < ROW_ALIGNMENT * f.size for g in other) for f in text)
    return aligned < 0.7 * len(text)  # a table's rows line up exactly; text beside a chart only by chance


def running_text(side: list[Fragment]) -> bool:
    """Mostly lines of prose (a table's cells or a chart's labels are short)."""
    long = [len(f.text) for f in side if len(f.text) >= 25]
    return len(long) >= 3 and sum(long) >= 0.6 * sum(len(f.text) for f in side)


def wordy(side: list[Fragment]) -> bool:
    """Mostly words, where a table has figures: a list's items, headings, captions."""
    return len(side) >= 3 and sum(f.letters for f in side) >= 0.75 * sum(f.glyphs for f in side)


def page_pitch(lines: list[Line]) -> float | None:
    """The usual distance between the bottoms of consecutive lines of the same size on a page."""
    steps = [b.y1 - a.y1 for a, b in zip(lines, lines[1:])
             if abs(a.size - b.size) < 0.1 * a.size and 0.5 * a.size < b.y1 - a.y1 < 3 * a.size]
    return median(steps) if steps else None


def joiner(a: Line, b: Line, pitch: float | None, same_page: bool) -> str:
    """What goes between line a and the next line b: " " (same paragraph), "\\n" or "\\n\\n"."""
    if not (a.cells[0].upright and b.cells[0].upright):
        return "\n\n"
    if not same_page or b.y0 < a.y0 or (b.left, b.right) != (a.left, a.right):  # next page or column
        return " " if continues(a, b) else "\n\n"
    if a.table or b.table:
        return "\n" if a.table and b.table else "\n\n"
    if abs(a.size - b.size) > 0.15 * min(a.size, b.size):
        return "\n\n"
    if b.y1 - a.y1 > 1.4 * max(pitch or 1.2 * a.size, a.size):
        return "\n\n"
    if b.x0 > a.x0 + a.size and b.x0 > b.left + 0.8 * b.size and not BULLET.match(a.text):
        return "\n\n"
    if BULLET.match(b.text):
        return "\n"
    if a.x1 < a.right - max(2 * a.size, 0.12 * (a.right - a.left)):  # a short line
        if SENTENCE_END.search(a.text) or (heading_like(a.text) and b.text[:1].isupper()):
            return "\n\n"
    return " "


def continues(a: Line, b: Line) -> bool:
    """Whether b, at the top of the next page or column, carries on a's sentence."""
    full = a.x1 >= a.right - max(2 * a.size, 0.25 * (a.right - a.left))
    return full and not a.table and not b.table and not SENTENCE_END.search(a.text) and b.text[:1].islower()


def heading_like(text: str) -> bool:
    return len(text.split()) <= 12 and (text[:1].isupper() or text[:1].isdigit()) and not text.endswith((",", "-"))


def keep_hyphen(before: str, after: str, vocabulary: set[str]) -> bool:
    """Whether "...head-" at a line end and "tail..." next form "head-tail" (else "headtail")."""
    head, tail = re.search(r"(\w+)-$", before).group(1), re.match(r"\w+", after).group()
    if not (head[-1].isalpha() and tail[0].islower()):
        return True
    first, second = head.casefold(), tail.casefold()
    if f"{first}-{second}" in vocabulary:
        return True
    if first + second in vocabulary:
        return False
    return first in COMPOUND_HEADS


def choose_title(metadata: str, lines: list[Line]) -> str | None:
    """The metadata Title when it means something, else page 1's title lines, else None (first line).

    Page 1's title is its largest print (a byline or a journal's name is set smaller) with the lines
    of the same size right under it, up to TITLE_LINES: a title set on two lines ("LOGIC-LM:
    Empowering Large Language Models with" / "Symbolic Solvers for ...") is kept whole. A page of
    text in one size has no title.
    """
    metadata = " ".join(CONTROL_CHARS.sub("", metadata).split())
    if sum(ch.isalpha() for ch in metadata) >= 3 and not MEANINGLESS_TITLE.search(metadata.strip().casefold()):
        return metadata
    lines = [line for line in lines if line.cells[0].upright and sum(map(str.isalpha, line.text)) >= 3]
    if not lines:
        return None
    sizes = [min(cell.size for cell in line.cells) for line in lines]  # a drop cap does not make a title
    top = max(sizes)
    if len(lines) >= 8 and top < 1.2 * median(sizes):
        return None
    first = next(i for i, size in enumerate(sizes) if size >= 0.9 * top)
    title = [lines[first]]
    for line, size in zip(lines[first + 1 : first + TITLE_LINES], sizes[first + 1 : first + TITLE_LINES]):
        if abs(size - sizes[first]) > 0.1 * top or not -top / 2 <= line.y0 - title[-1].y1 <= top:
            break
        title.append(line)
    return " ".join(line.text for line in title)
