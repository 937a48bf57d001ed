"""PDF, Word and PowerPoint documents end to end: uploaded or ingested, asked, cited to the page (with
boxes on it for a PDF), the page image served, and every bad file refused with a clear 422 while the
index keeps what it had."""
from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
from docx import Document as WordDocument
from pptx import Presentation

from qa.index import Index
from qa.ingest import ingest
from qa.readers import pdf as pdf_reader
from qa.search import Searcher
from tests.pdfs import (HEADER, ON_PAGE_3, SCANNED_WORDS, crowded_pdf, encrypted_pdf, fee_sentence,
                        numbered_after_cover_pdf, report_pdf, scanned_pdf)


def upload(client, headers, name: str, data: bytes):
    return client.post("/api/documents", headers=headers,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def ask(client, question: str, top_k: int = 5) -> list[dict]:
    response = client.post("/api/ask", json={"question": question, "top_k": top_k})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["passages"]


def word_file() -> bytes:
    document = WordDocument()
    document.core_properties.title = "Orchard Handbook"
    document.add_heading("Pruning", level=1)
    document.add_paragraph("Apple trees are pruned in late winter, before the buds break, to open the crown to light.")
    document.add_heading("Grafting", level=1)
    document.add_paragraph("A whip-and-tongue graft joins a scion of pencil thickness to a rootstock of the same "
                           "size; the two tongues lock together and are bound with tape until they have healed.")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Variety", "Rootstock"), ("Bramley", "MM106")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def slides_file() -> bytes:
    deck = Presentation()
    for title, body, notes in [
        ("Quarterly figures", "Revenue grew in every region this quarter.", ""),
        ("Northern depot", "The northern depot shipped eleven thousand crates of pears in October.",
         "Mention the new loading dock."),
        ("Next steps", "Hire two drivers before the winter season.", ""),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def zip_bomb(name: str) -> bytes:
    """A .docx-shaped zip whose one part unpacks to 300 MiB of zeros (a few hundred KB packed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            chunk = b"\0" * (1 << 20)
            for _ in range(300):
                part.write(chunk)
    return buffer.getvalue()


@pytest.fixture
def pdf_client(write_client, authorized):
    assert upload(write_client, authorized, "harbour-report.pdf", report_pdf()).status_code == 201
    return write_client


def test_a_pdf_passage_is_cited_to_its_page_with_boxes_on_that_page(pdf_client):
    passages = ask(pdf_client, "How many ships did the lighthouse keeper count in the third week of March?")
    cited = next(p for p in passages if ON_PAGE_3 in p["text"])
    citation = cited["citation"]
    assert citation["page"] == citation["pages"][0] and citation["pages"][0] <= 3 <= citation["pages"][1]
    document = pdf_client.get(f"/api/documents/{citation['document_id']}").get_json()
    assert document["type"] == "pdf" and document["page_count"] == 5
    assert document["text"][citation["start"]:citation["end"]] == cited["text"]
    assert citation["document_hash"] == document["hash"]
    pages = {page["number"]: page for page in document["pages"]}
    # The sentence is on page 3 of the file: page 3's text holds it.
    page_3 = pages[3]
    assert ON_PAGE_3 in document["text"][page_3["start"]:page_3["end"]]
    assert citation["boxes"]
    for box in citation["boxes"]:
        page = pages[box["page"]]
        assert citation["pages"][0] <= box["page"] <= citation["pages"][1]
        assert 0 <= box["x0"] < box["x1"] <= page["width"] and 0 <= box["y0"] < box["y1"] <= page["height"]


def test_pages_list_their_offsets_in_order_and_running_headers_are_gone(pdf_client):
    listed = next(d for d in pdf_client.get("/api/documents").get_json()["documents"] if d["type"] == "pdf")
    document = pdf_client.get(f"/api/documents/{listed['id']}").get_json()
    numbers = [page["number"] for page in document["pages"]]
    assert numbers == [1, 2, 3, 4, 5]
    for before, after in zip(document["pages"], document["pages"][1:]):
        assert before["start"] <= before["end"] <= after["start"] <= after["end"]
    assert all(page["read_by"] == "text" and page["problem"] is None for page in document["pages"])
    assert HEADER not in document["text"] and "Page 3 of 5" not in document["text"]


@pytest.mark.parametrize("named, pages", [("page 2", {2, 3}), ("page four", {4, 5})])
def test_a_question_naming_a_page_finds_that_page_first(write_client, authorized, named, pages):
    """Every page after the cover states a mooring fee; "on page 2" means the page printed 2 (the
    3rd of the file) or the file's 2nd page, so those two come first, whichever the wording favours."""
    assert upload(write_client, authorized, "fees.pdf", numbered_after_cover_pdf()).status_code == 201
    passages = ask(write_client, f"What is the mooring fee for a fishing boat on {named}?")
    spans = [set(range(p["citation"]["pages"][0], p["citation"]["pages"][1] + 1)) for p in passages[:2]]
    assert all(span & pages for span in spans) and set().union(*spans) >= pages
    assert any(fee_sentence(page) in p["text"] for p in passages[:2] for page in pages)


def test_a_citation_carries_the_numbers_printed_on_its_pages(write_client, authorized):
    """The file's 4th page prints "3" in its footer: a reader holding the report looks for page 3."""
    assert upload(write_client, authorized, "fees.pdf", numbered_after_cover_pdf()).status_code == 201
    passages = ask(write_client, "What is the mooring fee for a fishing boat?")
    fee_pages = [p for p in passages if p["citation"]["source"] == "fees.pdf"]
    assert fee_pages
    for passage in fee_pages:
        first, last = passage["citation"]["pages"]
        printed = [str(n - 1) if n > 1 else None for n in (first, last)]
        assert passage["citation"]["page_labels"] == (printed if any(printed) else None)
    other = [p for p in passages if not p["citation"]["source"].endswith(".pdf")]
    assert all(p["citation"]["page_labels"] is None for p in other)


def test_a_page_image_is_a_png_rendered_once_then_cached(pdf_client, write_app):
    document_id = next(d["id"] for d in pdf_client.get("/api/documents").get_json()["documents"] if d["type"] == "pdf")
    response = pdf_client.get(f"/api/documents/{document_id}/pages/3.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    png = response.data
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert 0 < width <= 1200 and height > width  # a portrait letter page, bounded scale
    cached = list((Path(write_app.config["INDEX"]) / "previews").glob(f"{document_id}-*-3.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == png
    assert pdf_client.get(f"/api/documents/{document_id}/pages/3.png").data == png
    for missing in (0, 6):
        error = pdf_client.get(f"/api/documents/{document_id}/pages/{missing}.png")
        assert error.status_code == 404 and error.get_json()["error"]["code"] == "page_not_found"


def test_a_text_document_has_no_page_images(client):
    document_id = client.get("/api/documents").get_json()["documents"][0]["id"]
    response = client.get(f"/api/documents/{document_id}/pages/1.png")
    assert response.status_code == 404 and "only PDF pages" in response.get_json()["error"]["message"]


def test_removing_a_pdf_removes_its_original_and_page_images(pdf_client, write_app, authorized):
    document_id = next(d["id"] for d in pdf_client.get("/api/documents").get_json()["documents"] if d["type"] == "pdf")
    assert pdf_client.get(f"/api/documents/{document_id}/pages/1.png").status_code == 200
    folder = Path(write_app.config["INDEX"])
    assert list(folder.glob(f"*/{document_id}*"))
    assert pdf_client.delete(f"/api/documents/{document_id}", headers=authorized).status_code == 204
    assert not list(folder.glob(f"*/{document_id}*"))


def test_word_and_slide_uploads_cite_their_section_and_slide(write_client, authorized):
    assert upload(write_client, authorized, "orchard.docx", word_file()).status_code == 201
    assert upload(write_client, authorized, "depots.pptx", slides_file()).status_code == 201
    listed = {d["source"]: d for d in write_client.get("/api/documents").get_json()["documents"]}
    assert listed["orchard.docx"]["type"] == "docx" and listed["orchard.docx"]["title"] == "Orchard Handbook"
    assert listed["depots.pptx"]["type"] == "pptx" and listed["depots.pptx"]["page_count"] == 3

    crates = next(p for p in ask(write_client, "How many crates of pears did the northern depot ship?")
                  if p["citation"]["source"] == "depots.pptx")
    assert crates["citation"]["boxes"] == []
    slides = write_client.get(f"/api/documents/{crates['citation']['document_id']}").get_json()
    slide_2 = slides["pages"][1]
    assert "eleven thousand crates" in slides["text"][slide_2["start"]:slide_2["end"]]

    graft = next(p for p in ask(write_client, "How is a whip-and-tongue graft bound?")
                 if p["citation"]["source"] == "orchard.docx")
    assert graft["citation"]["page"] is None and graft["citation"]["section"] in ("Pruning", "Grafting")


@pytest.mark.parametrize("name, data, reason", [
    ("locked.pdf", encrypted_pdf(), "password"),
    ("cut.pdf", report_pdf()[: len(report_pdf()) // 2], "truncated"),
    ("noise.pdf", bytes(range(256)) * 40, "not a PDF"),
    ("crowded.pdf", crowded_pdf(), "characters"),
    ("bomb.docx", zip_bomb("bomb.docx"), "unpack"),
    ("noise.pptx", b"PK\x03\x04" + bytes(2000), "not a valid"),
])
def test_a_bad_file_is_a_422_naming_it_and_the_index_keeps_what_it_had(write_client, authorized, name, data, reason):
    before = write_client.get("/api/documents").get_json()["documents"]
    response = upload(write_client, authorized, name, data)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "unreadable_file" and name in error["message"]
    assert reason.lower() in error["message"].lower()
    assert write_client.get("/api/documents").get_json()["documents"] == before
    health = write_client.get("/api/health").get_json()
    assert health["consistent"] is True


def test_a_scanned_page_is_read_by_ocr_or_listed_as_unread(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "scan.pdf").write_bytes(scanned_pdf())
    index = Index(tmp_path / "index", create=True)
    report = ingest(index, [corpus], progress=False)
    document = index.store.documents()[0]
    detail = index.store.document(document["id"])
    # `make test` installs tesseract-ocr, as `make run` leaves it to the user.
    assert detail["pages"][1]["read_by"] == "ocr"
    assert "beacon was repaired" in detail["text"].lower()
    assert report.unread_pages == []
    # Without Tesseract the page is listed as unread, with how to read it, and the rest still goes in.
    monkeypatch.setattr(pdf_reader, "TESSERACT", str(tmp_path / "no-tesseract"))
    (corpus / "scan.pdf").write_bytes(scanned_pdf() + b"\n% changed bytes\n")
    report = ingest(Index(tmp_path / "index"), [corpus], progress=False)
    assert [(source, page) for source, page, _ in report.unread_pages] == [("scan.pdf", 2)]
    assert "apt-get install tesseract-ocr" in report.unread_pages[0][2]
    listed = Index(tmp_path / "index").store.documents()[0]
    assert listed["unread_pages"] == [{"number": 2, "problem": report.unread_pages[0][2]}]
    assert SCANNED_WORDS[1].lower() not in Index(tmp_path / "index").store.document(listed["id"])["text"].lower()


def test_a_newer_reader_refreshes_the_page_numbers_of_a_document_it_does_not_re_embed(tmp_path):
    """An index read before pages carried their printed numbers gets them on the next ingest, though
    the text (and so every passage) is unchanged and nothing is embedded again."""
    corpus, index, document_id = numbered_pdf_read_by_an_older_reader(tmp_path)
    passages = index.store.db.execute("SELECT id, text FROM passages ORDER BY id").fetchall()
    report = ingest(Index(tmp_path / "index"), [corpus], progress=False)
    assert report.unchanged == 1 and report.passages == 0
    reopened = Index(tmp_path / "index")
    assert [page["label"] for page in reopened.store.document(document_id)["pages"]] == [None, "1", "2", "3", "4"]
    assert reopened.store.db.execute("SELECT id, text FROM passages ORDER BY id").fetchall() == passages


def test_a_server_cites_the_page_numbers_a_newer_reading_brought(tmp_path):
    """Citations keep each cited document's page labels in memory (they stand after the text in its
    row). A reading that brings printed numbers to an unchanged document changes no passage and no
    generation; a server that had cited it before must still cite the new numbers."""
    corpus, _, _ = numbered_pdf_read_by_an_older_reader(tmp_path)
    serving = Searcher(Index(tmp_path / "index"))
    before = serving.ask("What are the fees?", 5).passages
    assert before and all(hit.citation.page_labels is None for hit in before)
    ingest(Index(tmp_path / "index"), [corpus], progress=False)  # another process reads the file again
    after = serving.ask("What are the fees?", 5).passages
    assert any(hit.citation.page_labels for hit in after)


def numbered_pdf_read_by_an_older_reader(tmp_path: Path) -> tuple[Path, Index, str]:
    """(corpus, index, document id) of a PDF with printed page numbers, stored as a reader from before
    page labels left it: no labels, and another version of the file's reading."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "fees.pdf").write_bytes(numbered_after_cover_pdf())
    index = Index(tmp_path / "index", create=True)
    ingest(index, [corpus], progress=False)
    document_id = index.store.documents()[0]["id"]
    with index.store.write(bump=False) as db:  # as an older reader left it: no labels, another version
        pages = [{**page, "label": None} for page in index.store.document(document_id)["pages"]]
        db.execute("UPDATE documents SET pages = ?, file_hash = 'older' WHERE id = ?", (json.dumps(pages), document_id))
    return corpus, index, document_id
