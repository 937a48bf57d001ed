"""Document -> list[Passage]: sentence-aligned passages sized in the embedding model's tokens.

Every passage is an exact slice of its document: `document.text[p.start:p.end] == p.text`.
Tables (qa/tables.py finds them) are cut between rows, never across a page, and each passage of a
table but its first carries the table's title and header rows as its `context`: the row
"Purchases of property, plant and equipment | (96) | (96)" is read (embedded, and indexed for BM25)
under "Consolidated Statements of Cash Flows, Year Ended December 26, 2015 | December 27, 2014".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import blingfire

from qa.documents import Document
from qa.tables import Table, find_tables, table_at

HEADING_TOKENS = 16  # a heading line is at most this long
SENTENCE_ENDS = (".", "!", "?", ";", ",", '"', "\u201d")

# Counts word pieces for each text, without the model's special tokens.
TokenCounter = Callable[[list[str]], list[int]]


@dataclass
class Passage:
    document_id: str
    index: int  # position within the document, from 0
    start: int  # character offsets into document.text
    end: int
    text: str
    sentences: list[tuple[int, int]] = field(default_factory=list)  # (start, end) in document.text
    context: str = ""  # what it stands under and does not repeat: its table's title and header rows


@dataclass
class Span:
    start: int
    end: int
    tokens: int = 0
    opens_paragraph: bool = False  # first sentence after a blank line
    paragraph_tokens: int = 0  # on a paragraph's first unit: the whole paragraph's size


def sentence_spans(text: str) -> list[Span]:
    """Sentences as (start, end) spans of `text`, trimmed of white space.

    Lines are hard boundaries (headings and list items end without a full stop), and blingfire
    splits sentences inside a line.
    """
    spans: list[Span] = []
    position = 0
    after_blank = True
    for line in text.split("\n"):
        if line.strip():
            _, offsets = blingfire.text_to_sentences_and_offsets(line)
            first = True
            for start, end in offsets or [(0, len(line))]:
                start, end = _trim(line, start, end)
                if start < end:
                    spans.append(Span(position + start, position + end, opens_paragraph=after_blank and first))
                    first = False
            after_blank = False
        else:
            after_blank = True
        position += len(line) + 1
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_long(text: str, span: Span, budget: int, count_tokens: TokenCounter) -> list[Span]:
    """Cut a sentence longer than `budget` tokens at word boundaries (characters, for a giant word)."""
    words: list[Span] = []
    position = span.start
    for word in text[span.start : span.end].split():
        start = text.index(word, position)
        position = start + len(word)
        if len(word) > budget:  # one word piece per character at most, so this many chars fit
            words += [Span(start + i, min(start + i + budget, position)) for i in range(0, len(word), budget)]
        else:
            words.append(Span(start, position))
    for word, tokens in zip(words, count_tokens([text[w.start : w.end] for w in words])):
        word.tokens = tokens
    pieces: list[Span] = []
    for word in words:
        if pieces and pieces[-1].tokens + word.tokens <= budget:
            pieces[-1].end, pieces[-1].tokens = word.end, pieces[-1].tokens + word.tokens
        else:
            pieces.append(Span(word.start, word.end, word.tokens))
    if pieces:
        pieces[0].opens_paragraph = span.opens_paragraph
    return pieces


def split_passages(
    document: Document,
    count_tokens: TokenCounter,
    target_tokens: int = 198,
    max_tokens: int = 254,
    overlap_tokens: int = 48,
    min_tokens: int = 32,
    headings_lead: bool = False,
    tables: bool = False,
) -> list[Passage]:
    """Pack whole sentences into passages of at most `target_tokens` (never over `max_tokens`).

    A paragraph that does not fit whole in the room left starts a new passage, so passages tend to
    be whole paragraphs. Inside a paragraph, the next passage starts with the previous passage's
    last sentence when that sentence is at most `overlap_tokens` long, so an answer that straddles
    a cut is still whole in one passage. A sentence longer than the limit is cut at word boundaries.

    Passages shorter than `min_tokens` are not closed at a paragraph break: a title or heading line
    joins the paragraph after it rather than standing alone (a passage "Super Bowl 50" matches
    every question naming the title and answers none). With `headings_lead`, heading lines left at
    the end of a full passage move to the next one, which they introduce: a table's column header
    ("Geographic Market Name | Code") or a section title belongs with the rows or text below it.

    With `tables`, a table (qa/tables.py) is packed apart from the prose around it: whole rows, cut
    where a group of rows ends when one ends late enough, never across a page, and every passage
    after its first carries the table's title and header rows as its context (their tokens count
    against `max_tokens`, since the model reads them in front of the rows).

    Example (target 10): sentences of 4, 5, 3 and 6 tokens in one paragraph -> [s1 s2], [s2 s3],
    [s3 s4]. If s3 opens a new paragraph instead -> [s1 s2], [s3 s4].
    """
    budget = max(1, min(target_tokens, max_tokens))
    text = document.text
    units = sentence_units(text, count_tokens, max_tokens)
    found = find_tables(text, [page.start for page in document.pages]) if tables else []
    groups: list[tuple[list[Span], str]] = []
    for table, part in segments(units, found, min_tokens, budget):
        if table is None:
            groups += [(group, "") for group in pack_prose(text, part, budget, overlap_tokens, min_tokens, headings_lead)]
        else:
            groups += pack_rows(text, part, table, budget, max_tokens, count_tokens)
    return [
        Passage(document.id, index, group[0].start, group[-1].end, text[group[0].start : group[-1].end],
                [(unit.start, unit.end) for unit in group], context)
        for index, (group, context) in enumerate(groups)
    ]


TABLE_SHARE = 0.5  # a table smaller than this share of a passage stays in the prose around it


def segments(units: list[Span], tables: list[Table], min_tokens: int, budget: int) -> list[tuple[Table | None, list[Span]]]:
    """The units in runs of prose and of one table each. A table too small to need cutting (a
    chart's few labels) stays in the prose around it, which says what it shows; a run of prose too
    short to be a passage of its own between tables ("See accompanying notes.") stays with the table
    before it."""
    runs: list[tuple[Table | None, list[Span]]] = []
    for unit in units:
        table = table_at(tables, unit.start)
        if runs and runs[-1][0] is table:
            runs[-1][1].append(unit)
        else:
            runs.append((table, [unit]))
    runs = [(table if table is None or sum(u.tokens for u in part) >= TABLE_SHARE * budget else None, part)
            for table, part in runs]
    merged: list[tuple[Table | None, list[Span]]] = []
    for table, part in runs:
        short = table is None and sum(u.tokens for u in part) < min_tokens
        if merged and merged[-1][0] is None and table is None:
            merged[-1][1].extend(part)  # prose again after a small table left in it
        elif short and merged and merged[-1][0] is not None:
            merged[-1][1].extend(part)
        else:
            merged.append((table, part))
    return merged


def pack_prose(text: str, units: list[Span], budget: int, overlap_tokens: int, min_tokens: int,
               headings_lead: bool) -> list[list[Span]]:
    """Sentences into passages (see split_passages)."""
    groups: list[list[Span]] = []
    current: list[Span] = []
    size = 0
    for unit in units:
        if unit.opens_paragraph and size >= min_tokens:
            full = size + min(unit.paragraph_tokens, budget) > budget
        else:
            full = size + unit.tokens > budget
        if current and full:
            lead = trailing_headings(text, current, overlap_tokens) if headings_lead else []
            if lead and unit.opens_paragraph and sum(h.tokens for h in lead) + unit.tokens <= budget:
                groups.append(current[: len(current) - len(lead)])
                current, size = lead, sum(h.tokens for h in lead)
                current.append(unit)
                size += unit.tokens
                continue
            groups.append(current)
            last = current[-1]
            keep = (not unit.opens_paragraph and len(current) > 1 and last.tokens <= overlap_tokens
                    and last.tokens + unit.tokens <= budget)
            current, size = ([last], last.tokens) if keep else ([], 0)
        current.append(unit)
        size += unit.tokens
    if current:
        groups.append(current)
    return groups


GROUP_CUT_SHARE = 0.6  # a table's passage ends where a group of rows ends, once it is this full


def pack_rows(text: str, units: list[Span], table: Table, budget: int, max_tokens: int,
              count_tokens: TokenCounter) -> list[tuple[list[Span], str]]:
    """A table's units into passages of whole rows, each after the first with the table's heading
    (and the group label over its first row, "Cash flows from investing activities:") as context."""
    rows: list[list[Span]] = []
    for unit in units:  # a row is the units of one line
        if rows and "\n" not in text[rows[-1][-1].end : unit.start]:
            rows[-1].append(unit)
        else:
            rows.append([unit])
    heading_tokens = count_tokens([table.heading])[0] + 2 if table.heading else 0
    room = max(16, min(budget, max_tokens - heading_tokens - GROUP_LABEL_TOKENS))
    pieces: list[list[Span]] = []
    for row in rows:  # a row too long for the room goes in pieces, unit by unit
        pieces += [row] if sum(u.tokens for u in row) <= room else [[unit] for unit in row]
    groups: list[list[Span]] = []
    current: list[Span] = []
    size, cut_at = 0, 0  # cut_at: units of `current` up to the last blank line between rows
    for piece in pieces:
        tokens = sum(u.tokens for u in piece)
        if current and size + tokens > room:
            cut = cut_at if cut_at and sum(u.tokens for u in current[:cut_at]) >= GROUP_CUT_SHARE * room else len(current)
            groups.append(current[:cut])
            current = current[cut:]
            size = sum(u.tokens for u in current)
            cut_at = 0
        if current and "\n\n" in text[current[-1].end : piece[0].start]:
            cut_at = len(current)
        current += piece
        size += tokens
    if current:
        groups.append(current)
    packed = []
    for group in groups:
        context = "" if group[0].start <= table.body else context_of(text, table, group[0].start)
        packed.append((group, context))
    return packed


GROUP_LABEL_TOKENS = 12  # room kept for the group label a passage's context may add


def context_of(text: str, table: Table, position: int) -> str:
    """The table's heading, and the last group label above `position` in its body (a short line
    that is not a row: "INVESTING ACTIVITIES", "Cash flows from financing activities:")."""
    label = ""
    for line in text[table.body : position].split("\n"):
        stripped = line.strip()
        if stripped and " | " not in stripped and len(stripped.split()) <= 8 and not stripped[0].isdigit():
            label = stripped
    parts = [table.heading, label] if label and label not in table.heading else [table.heading]
    return ". ".join(part.rstrip(".") for part in parts if part)[: 2 * len(table.heading) + 80]


def trailing_headings(text: str, units: list[Span], most_tokens: int) -> list[Span]:
    """The heading lines that end `units` (at most `most_tokens` of them), or [] when nothing else
    would stay behind. A heading line is a paragraph of one short line that does not end a sentence."""
    lead: list[Span] = []
    tokens = 0
    for unit in reversed(units):
        line = text[unit.start : unit.end]
        heading = (unit.opens_paragraph and unit.paragraph_tokens == unit.tokens and unit.tokens <= HEADING_TOKENS
                   and not line.endswith(SENTENCE_ENDS))
        if not heading or tokens + unit.tokens > most_tokens:
            break
        lead.insert(0, unit)
        tokens += unit.tokens
    return lead if len(lead) < len(units) else []


def sentence_units(text: str, count_tokens: TokenCounter, max_tokens: int) -> list[Span]:
    """Sentences with their token counts, long ones cut to fit, paragraph sizes on their first unit."""
    sentences = sentence_spans(text)
    counts = count_tokens([text[s.start : s.end] for s in sentences]) if sentences else []
    units: list[Span] = []
    for sentence, tokens in zip(sentences, counts):
        sentence.tokens = tokens
        units += [sentence] if tokens <= max_tokens else split_long(text, sentence, max_tokens, count_tokens)
    opener = None
    for unit in units:
        if unit.opens_paragraph or opener is None:
            opener = unit
        opener.paragraph_tokens += unit.tokens
    return units
