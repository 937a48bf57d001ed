"""The PDF reader on PDFs built with fpdf2 (tests/pdfs.py): offsets, pages, boxes, layout, OCR, errors."""
from __future__ import annotations

import re

import pytest
from PIL import Image

import pdfs
from qa.documents import Document
from qa.errors import NotFound, UnreadableFile
from qa.readers import parse_bytes
from qa.readers import pdf as reader

BUILDERS = {"report": pdfs.report_pdf, "two-column": pdfs.two_column_pdf, "table": pdfs.table_pdf,
            "scanned": pdfs.scanned_pdf}


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    return {name: parse_bytes(build(), ".pdf", f"{name}.pdf") for name, build in BUILDERS.items()}


def fold(text: str) -> str:
    return " ".join(text.split())


def page_of(document: Document, phrase: str) -> int:
    start = document.text.index(phrase)
    return next(p.number for p in document.pages if p.start <= start < p.end)


@pytest.mark.parametrize("name", BUILDERS)
def test_pages_tile_the_text_in_order(documents, name):
    document = documents[name]
    assert document.type == "pdf" and document.original.startswith(b"%PDF")
    assert [p.number for p in document.pages] == list(range(1, len(document.pages) + 1))
    position = 0
    for page in document.pages:
        assert position <= page.start <= page.end <= len(document.text)
        assert document.text[position:page.start].strip() == ""  # only separators between pages
        assert document.text[page.start:page.end] == document.text[page.start:page.end].strip()
        assert (page.width, page.height) == (612, 792)
        position = page.end
    assert document.text[position:] == ""


def test_a_pdf_of_two_thousand_pages_is_read_whole():
    """Long is not hostile: every page is read, in order, each entry on its own page (the time limit
    grows with the page count)."""
    document = parse_bytes(pdfs.long_pdf(2000), ".pdf", "ledger.pdf")
    assert [p.number for p in document.pages] == list(range(1, 2001))
    for number in (1, 999, 2000):
        page = document.pages[number - 1]
        assert document.text[page.start:page.end] == f"Ledger entry {number}: the tide was logged at the quay."


@pytest.mark.parametrize("name", BUILDERS)
def test_boxes_cover_the_text_on_their_pages(documents, name):
    document = documents[name]
    covered = [False] * len(document.text)
    for box in document.boxes:
        page = document.pages[box.page - 1]
        piece = document.text[box.start:box.end]
        assert piece.strip() == piece != ""
        assert page.start <= box.start < box.end <= page.end
        assert 0 <= box.x0 < box.x1 <= page.width and 0 <= box.y0 < box.y1 <= page.height
        covered[box.start:box.end] = [True] * (box.end - box.start)
    # Every character outside a box is a separator the reader put between lines or cells.
    assert {ch for ch, inside in zip(document.text, covered) if not inside} <= {" ", "\n", "|"}


def test_a_sentence_lies_on_its_page_and_its_boxes_too(documents):
    document = documents["report"]
    assert page_of(document, pdfs.ON_PAGE_3) == 3
    start = document.text.index(pdfs.ON_PAGE_3)
    boxes = [b for b in document.boxes if b.start < start + len(pdfs.ON_PAGE_3) and b.end > start]
    assert boxes and {b.page for b in boxes} == {3}
    assert all(80 < b.y0 < 200 for b in boxes)  # near the top of the page, where it was printed


def test_running_headers_footers_and_page_numbers_are_dropped(documents):
    text = documents["report"].text
    assert pdfs.HEADER not in text and "Tide Office" not in text
    assert not re.search(r"Page \d of \d", text)
    assert not [line for line in text.split("\n") if line.strip().isdigit()]


def test_hyphenated_words_are_rejoined_and_compounds_kept(documents):
    text = documents["report"].text
    assert "Ships from the international lanes were logged by a well-known pilot called Ada Brightwater." in text
    assert "inter-" not in text and "inter national" not in text


def test_a_paragraph_runs_on_across_the_page_break(documents):
    document = documents["report"]
    start = document.text.index(pdfs.RUN_ON)  # whole, with single spaces: one paragraph
    assert page_of(document, pdfs.RUN_ON) == 2
    assert start < document.pages[2].start < start + len(pdfs.RUN_ON)


def test_lines_of_a_paragraph_join_and_paragraphs_part(documents):
    text = documents["report"].text
    assert "Entry 1.0 of the harbour log" in text and "\n\nEntry 21.0 of the harbour log" in text
    assert "Harbour Report for the Year\n\nEntry 1.0" in text  # the heading stands alone
    assert fold(pdfs.filler(4, 4)) in text  # wrapped over several lines, read as one


def test_two_columns_are_read_column_by_column(documents):
    text = documents["two-column"].text
    assert text.startswith(pdfs.TWO_COLUMN_TITLE + "\n\n")
    assert pdfs.COLUMN_ONE in text and pdfs.COLUMN_TWO in text
    assert text.index(pdfs.COLUMN_ONE) < text.index(pdfs.COLUMN_TWO)


def test_table_rows_stay_on_one_line(documents):
    lines = documents["table"].text.split("\n")
    for row in pdfs.TABLE:
        assert " | ".join(row) in lines
    assert documents["table"].text.index("Harbour | Ships") < documents["table"].text.index("Ostend | 97 | 2250")


def test_a_scanned_page_is_read_by_ocr(documents):
    """Needs tesseract-ocr (`make test` installs it)."""
    document = documents["scanned"]
    text, scanned, blank = document.pages[0], document.pages[1], document.pages[2]
    assert (text.read_by, scanned.read_by) == ("text", "ocr")
    assert "beacon was repaired" in document.text[scanned.start:scanned.end].casefold()
    assert [b for b in document.boxes if b.page == 2]
    assert blank.problem is None and blank.start == blank.end
    assert document.unread_pages == []


def test_without_tesseract_a_scanned_page_says_how_to_read_it(monkeypatch, caplog):
    monkeypatch.setattr(reader, "TESSERACT", "/nonexistent/tesseract")
    document = reader.read(pdfs.scanned_pdf(), "scan.pdf")
    assert document.pages[1].read_by == "none"
    assert "apt-get install tesseract-ocr" in document.pages[1].problem
    assert document.unread_pages == [document.pages[1]]
    assert "scan.pdf" in caplog.text and "tesseract" in caplog.text


@pytest.mark.parametrize("metadata, title", [
    ("Harbour Report", "Harbour Report"),
    ("Microsoft Word - harbour.doc", "Harbour Report for the Year"),
    (None, "Harbour Report for the Year"),
])
def test_title_is_the_metadata_title_when_meaningful_else_the_heading(metadata, title):
    assert reader.read(pdfs.report_pdf(metadata), "r.pdf").title == title


def test_a_title_set_on_two_lines_is_whole_and_the_smaller_byline_is_not_the_title():
    pdf = pdfs.new_pdf()
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    pdf.text(pdfs.LEFT, 40, "Journal of Harbour Studies 12 (2024) 1-20")
    pdf.set_font("Helvetica", "B", size=20)
    pdfs.lines_at(pdf, pdfs.LEFT, 120, ["Tidal Patterns of the Northern Shore:", "A Survey of Ten Harbours"],
                  leading=24)
    pdf.set_font("Helvetica", size=13)
    pdf.text(pdfs.LEFT, 190, "BY Ada Brightwater and Tom Pilot")
    pdf.set_font("Helvetica", size=11)
    pdfs.lines_at(pdf, pdfs.LEFT, 230, pdfs.wrap(pdf, pdfs.filler(1, 6), pdfs.WIDTH - 2 * pdfs.LEFT))
    title = reader.read(bytes(pdf.output()), "t.pdf").title
    assert title == "Tidal Patterns of the Northern Shore: A Survey of Ten Harbours"


@pytest.mark.parametrize("data, reason", [
    (pdfs.encrypted_pdf, "encrypted (password-protected)"),
    (lambda: pdfs.report_pdf()[: len(pdfs.report_pdf()) * 2 // 3], "truncated"),
    (lambda: bytes(range(256)) * 40, "damaged or not a PDF"),
    (lambda: b"", "damaged or not a PDF"),
    (pdfs.crowded_pdf, "page 1 has more than 200,000 characters"),
])
def test_unreadable_pdfs_are_refused_clearly(data, reason):
    with pytest.raises(UnreadableFile) as error:
        reader.read(data(), "bad.pdf")
    assert error.value.message.startswith("bad.pdf: ") and reason in error.value.message
    assert error.value.status_code == 422


def test_render_page_gives_a_png_no_wider_than_asked(tmp_path):
    png, scale = reader.render_page(pdfs.report_pdf(), 3, max_width=600, seconds=30)
    path = tmp_path / "page.png"
    path.write_bytes(png)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width <= 600
        assert image.width == pytest.approx(612 * scale, abs=1) and image.height == pytest.approx(792 * scale, abs=1)


def test_render_page_refuses_a_missing_page_and_a_bad_file():
    with pytest.raises(NotFound, match="5 pages"):
        reader.render_page(pdfs.report_pdf(), 6, 1200, 30)
    with pytest.raises(UnreadableFile):
        reader.render_page(b"not a pdf at all", 1, 1200, 30)


@pytest.mark.parametrize("labels", [False, True], ids=["printed-footer", "pdf-page-labels"])
def test_pages_carry_the_number_printed_on_them(labels):
    """After an unnumbered cover, physical page 3 is the page printed "2": a reader asking about
    "page 2" means it, so the page records it (from the PDF's page labels, else from its footer)."""
    document = parse_bytes(pdfs.numbered_after_cover_pdf(labels), ".pdf", "fees.pdf")
    assert [page.label for page in document.pages] == ["i" if labels else None, "1", "2", "3", "4"]
    assert page_of(document, pdfs.fee_sentence(3)) == 3


def test_a_number_that_does_not_move_with_the_pages_is_no_page_number(documents):
    """The report's header ends in "2024" on every page; only the footer's "Page N of 5" counts."""
    assert [page.label for page in documents["report"].pages] == ["1", "2", "3", "4", "5"]
    assert [page.label for page in documents["two-column"].pages] == [None]
