"""Tables in a document's text: where each stands, and the title and header rows that govern its rows.

Every reader writes a table row as one line with its cells joined by " | " (PDF, Word, HTML), so a
table is a run of such lines, with the short lines a printed table holds between them (a group's
label "Cash flows from investing activities:", a row label set on a line of its own, "(In
millions)"). What stands above its body says what the rows are: the title lines over it
("Consolidated Statements of Cash Flows") and the header rows before the first row of figures
("December 26, | December 27," over "2015 | 2014", read as "December 26, 2015 | December 27, 2014").
A chunker cuts a table between rows and gives every piece that heading (qa/chunking.py).

Tables are found page by page: a table that runs on to the next page is two tables there, and the
second, when it starts with rows of figures (no header of its own), takes the first one's heading.

Example: "Balance Sheets\\n\\nDecember 31, | 2019 | 2018\\nCash | 10 | 8\\nTotal assets | 90 | 80" ->
Table(start=0, body=<offset of "Cash">, end=<end of text>,
heading="Balance Sheets. December 31, | 2019 | 2018").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ROW = re.compile(r"^\s*\||\s\|\s")  # "| a | b |", or "a | b" as the readers write rows
AMOUNT = re.compile(r"^[\s$€£¥(]*[-–—]?\s*\$?\s*\(?\d[\d,.]*\)?\s*%?\s*[)$]*$|^\s*[-–—]+\s*$")
YEAR_CELL = re.compile(r"^\s*(?:fy\s*)?'?(?:19|20)\d\d\s*\.?\s*$", re.I)
SENTENCE_END = re.compile(r"[.!?;]['\"”’)]*$")
TITLE_LINES = 3  # heading lines above a table taken as its title, at most
TITLE_WORDS = 14  # a title line is at most this long
GAP_LINES = 3  # short lines between rows that a table holds; more end it
PROSE_WORDS = 20  # a line this long is prose: it ends a table
MAX_HEADING_CHARS = 400


@dataclass
class Table:
    start: int  # its first title line (or first row) in the text
    body: int  # its first row of figures: what stands before is title and header
    end: int  # the end of its last row
    heading: str  # the title and header lines, one line of text (empty when it has none)


def find_tables(text: str, page_starts: list[int] | None = None) -> list[Table]:
    """The tables of `text`, in order; `page_starts` (offsets where each page begins) keeps each
    within a page."""
    bounds = sorted({0, *(page_starts or []), len(text)})
    tables: list[Table] = []
    for first, last in zip(bounds, bounds[1:]):
        found = tables_in(text, first, last)
        if found and tables and not found[0].heading and found[0].start == first_line_start(text, first, last):
            found[0].heading = tables[-1].heading  # the rows run on from the page before, under its heading
        tables += found
    return tables


def first_line_start(text: str, first: int, last: int) -> int:
    """Where the first non-blank line of text[first:last] starts."""
    position = first
    while position < last and text[position] in "\n \t":
        position += 1
    return position


def lines_of(text: str, first: int, last: int) -> list[tuple[int, int, str]]:
    """(start, end, line) of every line of text[first:last]."""
    found, position = [], first
    for line in text[first:last].split("\n"):
        found.append((position, position + len(line), line))
        position += len(line) + 1
    return found


def tables_in(text: str, first: int, last: int) -> list[Table]:
    lines = lines_of(text, first, last)
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        if not is_row(lines[i][2]):
            i += 1
            continue
        last_row, rows, gap, k = i, 1, 0, i + 1
        while k < len(lines):
            line = lines[k][2]
            if is_row(line):
                last_row, rows, gap = k, rows + 1, 0
            elif line.strip():
                gap += 1
                if is_prose(line) or gap > GAP_LINES:
                    break
            k += 1
        if rows >= 2:
            tables.append(make_table(lines, title_start(lines, i, tables), i, last_row))
        i = last_row + 1
    return tables


def title_start(lines: list[tuple[int, int, str]], row: int, tables: list[Table]) -> int:
    """The index of the first title line over the table whose first row is lines[row]: up to
    TITLE_LINES short lines that do not end a sentence, blank lines between them skipped."""
    start, taken, k = row, 0, row - 1
    floor = tables[-1].end if tables else -1
    while k >= 0 and taken < TITLE_LINES:
        begin, _, line = lines[k]
        if begin <= floor:
            break
        if line.strip():
            if not is_title_line(line):
                break
            start, taken = k, taken + 1
        k -= 1
    return start


def make_table(lines: list[tuple[int, int, str]], top: int, first_row: int, last_row: int) -> Table:
    """A table from its title's first line, its first row and its last row (indexes into lines)."""
    body = next((k for k in range(first_row, last_row + 1) if is_data_row(lines[k][2])), first_row)
    if body == first_row and not any(is_data_row(lines[k][2]) for k in range(first_row, last_row + 1)):
        body = min(first_row + 1, last_row)  # a table of words: its first row is its header
    # A group's label just over the first row ("Cash flows from operating activities:") is no heading.
    heading = [line.strip() for _, _, line in lines[top:body] if line.strip() and not line.rstrip().endswith(":")]
    return Table(lines[top][0], lines[body][0], lines[last_row][1], join_heading(heading))


def join_heading(lines: list[str]) -> str:
    """Title and header lines as one line; two header rows of as many cells read cell by cell
    ("December 26, | December 27," + "2015 | 2014" -> "December 26, 2015 | December 27, 2014")."""
    merged: list[str] = []
    for line in lines:
        cells, before = line.split(" | "), merged[-1].split(" | ") if merged else []
        if merged and len(cells) == len(before) > 1 and is_row(merged[-1]):
            merged[-1] = " | ".join(f"{a} {b}" for a, b in zip(before, cells))
        else:
            merged.append(line)
    heading = ""
    for line in merged:  # a line that runs on ("Year Ended December 31,") joins the next with a space
        heading += ("" if not heading else " " if heading.endswith((",", ":")) else ". ") + line.rstrip(".")
    return heading[:MAX_HEADING_CHARS]


def is_row(line: str) -> bool:
    return bool(ROW.search(line))


def is_prose(line: str) -> bool:
    return len(line.split()) >= PROSE_WORDS and not is_row(line)


def is_title_line(line: str) -> bool:
    line = line.strip()
    return (0 < len(line.split()) <= TITLE_WORDS and not is_row(line) and not SENTENCE_END.search(line)
            and sum(ch.isalpha() for ch in line) >= 2)


def is_data_row(line: str) -> bool:
    """A row of figures under a label ("Net loss | $ | (660) $ | (403)"); years alone make a header."""
    cells = line.split(" | ")
    label = cells[0]
    return (sum(ch.isalpha() for ch in label) >= 2
            and any(AMOUNT.match(cell) and not YEAR_CELL.match(cell) for cell in cells[1:]))


def table_at(tables: list[Table], position: int) -> Table | None:
    """The table whose span holds `position`, if any (tables are in order)."""
    for table in tables:
        if table.start <= position < table.end:
            return table
        if table.start > position:
            return None
    return None
