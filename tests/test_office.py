"""Word and PowerPoint readers: text in reading order, sections and slide pages that point at the
right text, and damaged or hostile files refused with a message naming the file."""
from __future__ import annotations

import io
import os
import zipfile

import docx
import pptx
import pytest
from docx.oxml import parse_xml
from pptx.util import Inches

from qa.chunking import split_passages
from qa.errors import UnreadableFile
from qa.readers import parse_bytes
from qa.readers.office import MAX_ENTRIES

DOCX_BODY = [  # (kind, text) in the order the document holds them
    ("title", "Annual Report 2024"),
    ("heading", "Introduction"),
    ("paragraph", "The year went well for every region."),
    ("bullet", "Apples"),
    ("bullet", "Pears"),
    ("paragraph", "Steps taken:"),
    ("number", "Hire a team"),
    ("number", "Open an office"),
    ("heading", "Results"),
    ("paragraph", "Sales by region are in the table below."),
    ("table", [("Region", "Q1", "Q2"), ("North", "12", "14"), ("North", "12", "14"), ("South", "9", "11")]),
    ("paragraph", "Sales rose in the second quarter."),
    ("heading", "Outlook"),
    ("paragraph", "OK"),
    ("paragraph", "OK"),
]


def save(office_file) -> bytes:
    buffer = io.BytesIO()
    office_file.save(buffer)
    return buffer.getvalue()


def make_docx(core_title: str | None = "Annual Report", body=DOCX_BODY) -> bytes:
    word = docx.Document()
    if core_title:
        word.core_properties.title = core_title
    styles = {"bullet": "List Bullet", "number": "List Number"}
    for kind, content in body:
        if kind == "title":
            word.add_heading(content, 0)
        elif kind == "heading":
            word.add_heading(content, 1)
        elif kind == "table":
            table = word.add_table(rows=len(content), cols=len(content[0]))
            for r, row in enumerate(content):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            word.add_paragraph(content, style=styles.get(kind))
    return save(word)


def make_pptx(core_title: str | None = None) -> bytes:
    deck = pptx.Presentation()
    if core_title:
        deck.core_properties.title = core_title
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "Quarterly Plan"
    first.placeholders[1].text_frame.text = "Ship the reader in May\nHire two engineers"
    low = first.shapes.add_textbox(Inches(1), Inches(6.5), Inches(4), Inches(0.5))
    low.text_frame.text = "Budget approved\vby the board"  # a soft line break
    high = first.shapes.add_textbox(Inches(6), Inches(0.1), Inches(3), Inches(0.3))  # added later, above the title
    high.text_frame.text = "Draft for review"
    group = first.shapes.add_group_shape()
    for i, words in enumerate(["Grouped left", "Grouped right"]):
        group.shapes.add_textbox(Inches(1 + 4 * i), Inches(5.5), Inches(3), Inches(0.5)).text_frame.text = words
    first.notes_slide.notes_text_frame.text = "Ask Ana about the budget\nMention hiring"

    second = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    second.shapes.title.text = "Numbers"
    rows = [("Region", "Sales"), ("North", "12"), ("North", "12"), ("South", "9")]
    table = second.shapes.add_table(len(rows), 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell

    deck.slides.add_slide(deck.slide_layouts[6])  # blank: an empty slide
    return save(deck)


def exact_slices(document) -> None:
    passages = split_passages(document, lambda texts: [len(t.split()) for t in texts], target_tokens=20,
                              max_tokens=30, overlap_tokens=5, min_tokens=4)
    assert passages
    for passage in passages:
        assert document.text[passage.start:passage.end] == passage.text


def expected_lines(body) -> list[str]:
    lines = []
    for kind, content in body:
        if kind == "table":
            lines += [" | ".join(row) for row in content]
        else:
            lines.append(content)
    return lines


# Word


def test_docx_reads_every_block_once_in_document_order():
    document = parse_bytes(make_docx(), "report.docx", "report.docx")
    assert document.type == "docx" and document.source == "report.docx"
    assert document.title == "Annual Report"
    lines = document.text.split("\n")
    position = -1
    for text in ["Annual Report 2024", "Introduction", "The year went well for every region.", "Steps taken:",
                 "Results", "Sales by region are in the table below.", "Region | Q1 | Q2", "South | 9 | 11",
                 "Sales rose in the second quarter.", "Outlook"]:
        assert document.text.count(text) == 1, text
        assert text in lines, text  # a whole line: a table row is one line with its cells
        assert document.text.index(text) > position, f"{text} out of order"
        position = document.text.index(text)


def test_docx_lists_read_as_lists():
    lines = parse_bytes(make_docx(), "x.docx", "x.docx").text.split("\n")
    assert lines[lines.index("• Apples") + 1] == "• Pears"  # one list: one item per line
    assert lines[lines.index("1. Hire a team") + 1] == "2. Open an office"


def test_docx_repeated_table_rows_and_paragraphs_survive():
    text = parse_bytes(make_docx(), "x.docx", "x.docx").text
    assert text.count("North | 12 | 14\nNorth | 12 | 14") == 1
    assert text.endswith("Outlook\n\nOK\n\nOK")


def test_docx_blocks_are_paragraphs_for_the_chunker():
    text = parse_bytes(make_docx(), "x.docx", "x.docx").text
    assert "Introduction\n\nThe year went well" in text
    assert "table below.\n\nRegion | Q1 | Q2\nNorth" in text  # the table is one block of row lines
    assert "South | 9 | 11\n\nSales rose" in text


def test_docx_sections_point_at_their_headings():
    document = parse_bytes(make_docx(), "x.docx", "x.docx")
    assert [s.title for s in document.sections] == ["Annual Report 2024", "Introduction", "Results", "Outlook"]
    for section in document.sections:
        assert document.text[section.start:].startswith(section.title)
        assert section.start == 0 or document.text[section.start - 2:section.start] == "\n\n"
    assert [s.start for s in document.sections] == sorted(s.start for s in document.sections)


def test_docx_merged_cells_are_given_once():
    word = docx.Document()
    table = word.add_table(rows=3, cols=3)
    for r, row in enumerate([("Name", "Notes", "Extra"), ("Ana", "Leads the team", ""), ("Ben", "", "")]):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell
    table.cell(1, 1).merge(table.cell(1, 2))  # across
    table.cell(1, 0).merge(table.cell(2, 0)).text = "Ana"  # down
    text = parse_bytes(save(word), "x.docx", "x.docx").text
    assert text.count("Leads the team") == 1 and text.count("Ana") == 1
    assert text.split("\n")[:2] == ["Name | Notes | Extra", "Ana | Leads the team"]


@pytest.mark.parametrize("core_title, body, expected", [
    (None, DOCX_BODY, "Annual Report 2024"),  # the Title-style paragraph
    (None, [("paragraph", "Preface"), ("heading", "Scope"), ("paragraph", "Text.")], "Scope"),  # the first heading
    (None, [("paragraph", "Just a memo"), ("paragraph", "Body.")], "Just a memo"),  # the first line
])
def test_docx_title_without_core_title(core_title, body, expected):
    assert parse_bytes(make_docx(core_title, body), "x.docx", "x.docx").title == expected


NAMESPACES = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
              'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
              'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
              'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
              'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
              'xmlns:v="urn:schemas-microsoft-com:vml"')


def add_xml(word, xml: str) -> None:
    body = word.element.body
    body.insert(len(body) - 1, parse_xml(xml.replace("NS", NAMESPACES)))  # before the final sectPr


def test_docx_reads_what_word_shows():
    word = docx.Document()
    add_xml(word, """<w:p NS>
      <w:r><w:t xml:space="preserve">See </w:t></w:r><w:hyperlink><w:r><w:t>the manual</w:t></w:r></w:hyperlink>
      <w:del w:id="1" w:author="A"><w:r><w:delText>withdrawn words</w:delText></w:r></w:del>
      <w:ins w:id="2" w:author="A"><w:r><w:t xml:space="preserve"> on page </w:t></w:r></w:ins>
      <w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGEREF intro</w:instrText></w:r>
      <w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>7</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>
      <w:r><mc:AlternateContent>
        <mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData><wps:wsp><wps:txbx>
          <w:txbxContent><w:p><w:r><w:t>Boxed remark</w:t></w:r></w:p></w:txbxContent>
        </wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>
        <mc:Fallback><w:pict><v:shape><v:textbox>
          <w:txbxContent><w:p><w:r><w:t>Boxed remark</w:t></w:r></w:p></w:txbxContent>
        </v:textbox></v:shape></w:pict></mc:Fallback>
      </mc:AlternateContent></w:r></w:p>""")
    add_xml(word, """<w:sdt NS><w:sdtPr><w:alias w:val="Client"/></w:sdtPr>
      <w:sdtContent><w:p><w:r><w:t>Inside a content control</w:t></w:r></w:p></w:sdtContent></w:sdt>""")
    text = parse_bytes(save(word), "x.docx", "x.docx").text
    assert text == "See the manual on page 7\n\nBoxed remark\n\nInside a content control"


def test_docx_multilevel_list_numbers_as_word_does():
    word = docx.Document()
    numbering = word.part.numbering_part.element
    numbering.insert(0, parse_xml(f"""<w:abstractNum {NAMESPACES} w:abstractNumId="90">
      <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
      <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%2)"/></w:lvl>
      <w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="upperRoman"/><w:lvlText w:val="%1.%3"/></w:lvl>
    </w:abstractNum>"""))
    numbering.append(parse_xml(f'<w:num {NAMESPACES} w:numId="90"><w:abstractNumId w:val="90"/></w:num>'))
    numbering.append(parse_xml(f"""<w:num {NAMESPACES} w:numId="91"><w:abstractNumId w:val="90"/>
      <w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride></w:num>"""))
    items = [("90", 0, "Plan"), ("90", 1, "Budget"), ("90", 1, "Staff"), ("90", 2, "Hiring"), ("90", 0, "Build"),
             ("90", 1, "Code"), ("91", 0, "Restarted")]
    for num_id, level, words in items:
        add_xml(word, f"""<w:p NS><w:pPr><w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>
          </w:pPr><w:r><w:t>{words}</w:t></w:r></w:p>""")
    text = parse_bytes(save(word), "x.docx", "x.docx").text
    assert text.split("\n") == ["1. Plan", "  a) Budget", "  b) Staff", "    1.I Hiring", "2. Build", "  a) Code",
                                 "1. Restarted"]


def test_docx_passages_are_exact_slices():
    exact_slices(parse_bytes(make_docx(), "x.docx", "x.docx"))


# PowerPoint


def test_pptx_has_one_page_per_slide_holding_its_text():
    document = parse_bytes(make_pptx(), "deck.pptx", "deck.pptx")
    assert document.type == "pptx"
    assert [page.number for page in document.pages] == [1, 2, 3]
    assert all((page.width, page.height) == (720, 540) for page in document.pages)
    assert all(page.read_by == "text" and page.problem is None for page in document.pages)
    first, second, empty = (document.text[p.start:p.end] for p in document.pages)
    assert first.split("\n") == [
        "Quarterly Plan", "Draft for review", "Ship the reader in May", "Hire two engineers", "Grouped left",
        "Grouped right", "Budget approved", "by the board", "Notes: Ask Ana about the budget", "Mention hiring",
    ]
    assert second.split("\n") == ["Numbers", "Region | Sales", "North | 12", "North | 12", "South | 9"]
    assert empty == "" and document.pages[2].start == document.pages[2].end
    assert document.text == first + "\n\n" + second


def test_pptx_pages_are_in_order_and_do_not_overlap():
    pages = parse_bytes(make_pptx(), "x.pptx", "x.pptx").pages
    for before, after in zip(pages, pages[1:]):
        assert before.end <= after.start


@pytest.mark.parametrize("core_title, expected", [("Roadmap 2025", "Roadmap 2025"), (None, "Quarterly Plan")])
def test_pptx_title_is_the_core_title_else_the_first_slide_title(core_title, expected):
    assert parse_bytes(make_pptx(core_title), "x.pptx", "x.pptx").title == expected


def test_pptx_passages_are_exact_slices():
    exact_slices(parse_bytes(make_pptx(), "x.pptx", "x.pptx"))


# Damaged and hostile files


def zip_bytes(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression, compresslevel=1) as package:
        for name, data in entries.items():
            package.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def unpacks_too_large() -> bytes:
    """A zip of about 300 KiB that unpacks to 257 MiB of zeros, written a MiB at a time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        with package.open("word/media/padding.bin", "w") as entry:
            for _ in range(257):
                entry.write(bytes(2**20))
    return buffer.getvalue()


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
HOSTILE = {
    "random bytes": (os.urandom(4096), "is not a valid {suffix} file"),
    "empty": (b"", "is not a valid {suffix} file"),
    "a zip of other things": (zip_bytes({"notes.txt": b"hello"}), "is not a valid {suffix} file"),
    "one highly compressed entry": (zip_bytes({"[Content_Types].xml": b"<Types/>", "big.xml": bytes(5 * 2**20)}),
                                    "(a zip bomb)"),
    "too many entries": (zip_bytes({f"e{i}": b"" for i in range(MAX_ENTRIES + 1)}, zipfile.ZIP_STORED),
                         "holds more than 10,000 zip entries"),
    "encrypted": (OLE + "EncryptedInfo".encode("utf-16-le") + "EncryptedPackage".encode("utf-16-le") + bytes(512),
                  "is password-protected"),
    "legacy binary": (OLE + bytes(1024), "old binary"),
}


@pytest.mark.parametrize("suffix", [".docx", ".pptx"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_refused_with_the_reason(case, suffix):
    data, reason = HOSTILE[case]
    with pytest.raises(UnreadableFile) as raised:
        parse_bytes(data, f"bad{suffix}", f"folder/bad{suffix}")
    assert raised.value.message.startswith("folder/bad")
    assert reason.format(suffix=suffix) in raised.value.message
    assert raised.value.status_code == 422


@pytest.mark.parametrize("suffix", [".docx", ".pptx"])
def test_a_zip_bomb_is_refused_before_unpacking(unpacks_too_large, suffix):
    with pytest.raises(UnreadableFile, match=r"x\S+ unpacks to more than 256 MiB \(a zip bomb"):
        parse_bytes(unpacks_too_large, f"x{suffix}", f"x{suffix}")


@pytest.mark.parametrize("suffix, make", [(".docx", make_docx), (".pptx", make_pptx)])
def test_a_truncated_file_is_refused(suffix, make):
    data = make()
    with pytest.raises(UnreadableFile, match=f"cut{suffix} is not a valid \\{suffix} file"):
        parse_bytes(data[: len(data) // 2], suffix, f"cut{suffix}")


@pytest.mark.parametrize("suffix, make, says", [
    (".docx", make_pptx, r"wrong.docx is a PowerPoint presentation \(.pptx\), not a Word document; rename it to .pptx"),
    (".pptx", make_docx, r"wrong.pptx is a Word document \(.docx\), not a PowerPoint presentation; rename it to .docx"),
])
def test_the_other_office_format_under_the_wrong_name_is_refused(suffix, make, says):
    with pytest.raises(UnreadableFile, match=says):
        parse_bytes(make(), suffix, f"wrong{suffix}")


def test_a_damaged_part_is_refused_not_a_crash():
    with zipfile.ZipFile(io.BytesIO(make_docx())) as original:
        entries = {info.filename: original.read(info) for info in original.infolist()}
    entries["word/document.xml"] = entries["word/document.xml"][:500]  # XML cut off mid-element
    with pytest.raises(UnreadableFile, match=r"report.docx is not a valid \.docx file .*; open it in Word"):
        parse_bytes(zip_bytes(entries), ".docx", "report.docx")
