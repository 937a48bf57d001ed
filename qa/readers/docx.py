"""A Word (.docx) file -> its body text in reading order, with its headings as sections.

Paragraphs, list items and tables come in the order they stand in the body (its XML children, so a
table sits between the paragraphs around it). Blocks are separated by a blank line, the chunker's
paragraph break. A list item carries its bullet ("• ") or its number ("2.", "b)") as Word shows it,
one item per line, so a list reads (and is chunked) as one block. A table row is one line, its
cells joined by " | ", a merged cell given once. Headings (an outline level, from the paragraph or
its style, or the Title style) become Document.sections.

Read as Word renders it: deleted tracked changes, field codes and the VML copy of a text box are
skipped; text-box paragraphs follow the paragraph that anchors them. Headers, footers, footnotes
and comments are not read. Repeated paragraphs are kept: a repeated table row is real content.

Example: a "Heading 1" "Results", a paragraph, and a 2x2 table ->
"Results\n\nSales rose.\n\nRegion | Sales\nNorth | 12" with sections [Section(0, "Results")].
"""
from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import docx

from qa.documents import CONTROL_CHARS, Document, Section, finish_document
from qa.readers.office import check_package, core_metadata, unreadable_on_error

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
# Wrappers whose children are read as if they stood in their place.
TRANSPARENT = {W + "sdt", W + "sdtContent", W + "customXml", W + "smartTag", W + "ins", W + "moveTo",
               W + "hyperlink", W + "fldSimple", W + "r", W + "dir", W + "bdo", MC + "AlternateContent",
               MC + "Choice"}
INLINE = {W + "t": None, W + "tab": "\t", W + "ptab": "\t", W + "br": "\n", W + "cr": "\n",
          W + "noBreakHyphen": "-"}
# Not shown: deleted text, field codes, properties, and the VML copy of a drawing (mc:Fallback).
SKIPPED = {W + "del", W + "moveFrom", W + "instrText", W + "delText", W + "pPr", W + "rPr", W + "sdtPr",
           MC + "Fallback"}
NUMBER_FORMATS = {
    "decimal": str, "decimalZero": lambda n: f"{n:02d}",
    "lowerLetter": lambda n: letters(n).lower(), "upperLetter": lambda n: letters(n),
    "lowerRoman": lambda n: roman(n).lower(), "upperRoman": lambda n: roman(n),
}


@dataclass
class Block:
    text: str
    heading: bool = False
    title_style: bool = False
    list_item: bool = False


def read(data: bytes, source: str) -> Document:
    check_package(data, source, ".docx")
    with unreadable_on_error(source, ".docx"):
        word = docx.Document(BytesIO(data))
        blocks = list(Body(word).blocks(word.element.body))
        core_title = (word.core_properties.title or "").strip()
        if core_title.casefold() == "word document":  # python-docx's stand-in when a file has no properties
            core_title = ""
        metadata = core_metadata(word.core_properties)
    text, sections = "", []
    for previous, block in zip([None, *blocks], blocks):
        if text:  # the items of one list stay together, one per line, as one chunker paragraph
            text += "\n" if block.list_item and previous.list_item else "\n\n"
        if block.heading:
            sections.append(Section(len(text), block.text))
        text += block.text
    headings = [b for b in blocks if b.title_style] or [b for b in blocks if b.heading]
    title = core_title or (headings[0].text if headings else None)
    return finish_document(text, source, title, sections=sections, metadata=metadata)


class Body:
    """Walks a document body, resolving paragraph styles (outline level, list numbering) as it goes."""

    def __init__(self, word):
        self.styles = {}  # styleId -> (name, basedOn, outline level, numId, ilvl)
        for style in word.styles.element.iter(W + "style"):
            ppr = style.find(W + "pPr")
            based = style.find(W + "basedOn")
            name = style.find(W + "name")
            self.styles[style.get(W + "styleId")] = (
                (name.get(W + "val") if name is not None else "").casefold(),
                based.get(W + "val") if based is not None else None, *paragraph_properties(ppr))
        self.numbering = Numbering(word.part.numbering_part.element)

    def blocks(self, container):
        for child in container:
            if child.tag == W + "p":
                yield from self.paragraph(child)
            elif child.tag == W + "tbl":
                lines = [line for row in children(child, W + "tr") if (line := self.row(row))]
                if lines:
                    yield Block("\n".join(lines))
            elif child.tag in TRANSPARENT:
                yield from self.blocks(child)

    def row(self, row) -> str:
        cells = []
        for cell in children(row, W + "tc"):
            merge = cell.find(f"{W}tcPr/{W}vMerge")
            if merge is not None and merge.get(W + "val", "continue") != "restart":
                continue  # the lower part of a vertically merged cell: its text is in the top part
            cells.append(" ".join(" ".join(b.text.split()) for b in self.blocks(cell)))
        return " | ".join(cells) if any(cells) else ""

    def paragraph(self, p):
        boxes: list = []
        parts: list[str] = []
        inline_text(p, parts, boxes)
        lines = [line.strip() for line in CONTROL_CHARS.sub("", "".join(parts)).split("\n")]
        text = "\n".join(line for line in lines if line)
        name, outline, num_id, level = self.resolve(p.find(W + "pPr"))
        if text and not name.startswith("toc "):  # a table of contents repeats the headings
            prefix = self.numbering.label(num_id, level)
            if outline is not None and outline < 9 or name == "title":
                yield Block(" ".join(f"{prefix}{text}".split()), heading=True, title_style=name == "title")
            else:
                indent = "  " * (level or 0) if prefix else ""  # a nested list item reads as nested
                yield Block(indent + prefix + text, list_item=bool(prefix))
        for box in boxes:
            yield from self.blocks(box)

    def resolve(self, ppr) -> tuple[str, int | None, str | None, int | None]:
        """(style name, outline level, numId, list level) for a paragraph: its own properties, then
        its style's, then the styles that one is based on."""
        style_id = value(ppr.find(W + "pStyle"), None) if ppr is not None else None
        outline, num_id, level = paragraph_properties(ppr)
        name, seen = "", set()
        while style_id in self.styles and style_id not in seen:
            seen.add(style_id)
            style_name, style_id, style_outline, style_num, style_level = self.styles[style_id]
            name = name or style_name
            outline = style_outline if outline is None else outline
            num_id = style_num if num_id is None else num_id
            level = style_level if level is None else level
        return name, outline, num_id, level


def paragraph_properties(ppr) -> tuple[int | None, str | None, int | None]:
    """(outline level, numId, list level) set directly in a pPr, None where not set."""
    if ppr is None:
        return None, None, None
    outline = ppr.find(W + "outlineLvl")
    return integer(outline), value(ppr.find(f"{W}numPr/{W}numId"), None), integer(ppr.find(f"{W}numPr/{W}ilvl"))


def inline_text(element, parts: list[str], boxes: list) -> None:
    """Append a paragraph's visible text to `parts`; text boxes found inside go to `boxes`."""
    for child in element:
        tag = child.tag
        if tag in INLINE:
            parts.append(child.text or "" if tag == W + "t" else INLINE[tag])
        elif tag == W + "txbxContent":
            boxes.append(child)
        elif tag not in SKIPPED:
            inline_text(child, parts, boxes)  # runs, links, fields, and the drawings around text boxes


def children(element, tag: str):
    """The `tag` children of an element, looking through content controls and custom XML."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag in (W + "sdt", W + "sdtContent", W + "customXml"):
            yield from children(child, tag)


def integer(element, attribute: str = "val") -> int | None:
    try:
        return int(element.get(W + attribute)) if element is not None else None
    except (TypeError, ValueError):
        return None


def value(element, default):
    return element.get(W + "val", default) if element is not None else default


class Numbering:
    """List labels as Word shows them: one counter per list definition and level, restarted where a
    list instance overrides its start; an item resets the counters of the levels below it."""

    def __init__(self, element):
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}  # abstractNumId -> level -> (format, text, start)
        for abstract in element.iter(W + "abstractNum"):
            levels = self.levels.setdefault(abstract.get(W + "abstractNumId"), {})
            for lvl in abstract.iter(W + "lvl"):
                number_format = value(lvl.find(W + "numFmt"), "decimal")
                levels[integer(lvl, "ilvl") or 0] = (number_format, value(lvl.find(W + "lvlText"), ""),
                                                     integer(lvl.find(W + "start")) or 0)
        self.instances: dict[str, tuple[str | None, dict[int, int]]] = {}  # numId -> (abstractNumId, level -> start)
        for num in element.iter(W + "num"):
            starts = {}
            for override in num.iter(W + "lvlOverride"):
                level, start = integer(override, "ilvl") or 0, integer(override.find(W + "startOverride"))
                if start is not None and 0 <= level < 9:
                    starts[level] = start
            self.instances[num.get(W + "numId")] = (value(num.find(W + "abstractNumId"), None), starts)
        self.counters: dict[str | None, list[int | None]] = {}  # the last number given, per level
        self.started: set[str] = set()

    def label(self, num_id: str | None, level: int | None) -> str:
        """'• ', '3. ' or 'b) ' for the next item of list `num_id` at `level`; '' when not a list."""
        if num_id is None or num_id not in self.instances:
            return ""  # numId 0 (numbering switched off) is never defined
        level = min(max(level or 0, 0), 8)
        abstract, overrides = self.instances[num_id]
        levels = self.levels.get(abstract, {})
        counters = self.counters.setdefault(abstract, [None] * 9)
        if num_id not in self.started:
            self.started.add(num_id)
            for overridden, start in overrides.items():
                counters[overridden] = start - 1
        number_format, text, start = levels.get(level, ("bullet", "", 1))
        counters[level] = start if counters[level] is None else counters[level] + 1
        counters[level + 1:] = [None] * (8 - level)
        if number_format == "bullet":
            return "• "
        for n in range(9):
            shown_format, _, shown_start = levels.get(n, ("decimal", "", 1))
            number = counters[n] if counters[n] is not None else shown_start
            text = text.replace(f"%{n + 1}", NUMBER_FORMATS.get(shown_format, str)(number))
        return text.strip() + " " if number_format != "none" and text.strip() else ""


def letters(n: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA (Word repeats the letter)."""
    return chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1) if n > 0 else str(n)


def roman(n: int) -> str:
    if not 0 < n < 4000:
        return str(n)
    out = ""
    for value, numeral in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out += numeral * count
    return out
