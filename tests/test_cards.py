"""Document cards (qa/cards.py): who issued a document, what it is, the period it covers, each with
where it was read; stored, listed, editable, and used to find the document a question names."""
from __future__ import annotations

import pytest
from docx import Document as WordDocument

from qa.cards import Card, read_card
from qa.documents import make_document
from qa.readers import parse_bytes
from tests.pdfs import filing_pdf


def test_a_filing_cover_gives_issuer_kind_and_period():
    document = parse_bytes(filing_pdf("Harbourside Widgets, Inc.", 2019, "HWI"), ".pdf", "report.pdf")
    card = document.card
    assert card.issuer.value == "Harbourside Widgets, Inc." and card.issuer.found_in == "cover page"
    assert "HWI" in card.aliases  # the short name the report defines for itself
    assert card.kind.value == "annual report (Form 10-K)" and card.kind.found_in == "cover page"
    assert card.period.value == "fiscal year ended December 31, 2019" and card.year == 2019
    # The cover's letterhead ("UNITED STATES") is no title: whose and what it is, is.
    assert document.title == "Harbourside Widgets, Inc. annual report (Form 10-K)"
    assert document.label.startswith("Harbourside Widgets, Inc. annual report (Form 10-K) · fiscal year ended")


def test_running_footers_are_recorded_and_name_the_issuer():
    """No caption on the cover: the footer printed on every page names the issuer, the form and the year."""
    text_pages = "\n\n".join(f"Page {n} of the review discusses harbour cranes and tides." for n in range(5))
    document = make_document(text_pages, "review.txt")
    document.metadata["running_headers"] = "Tidewater Cranes plc | 2021 Annual Report"
    document.text += "\n\nTidewater Cranes plc builds cranes. Tidewater Cranes plc is based in Hull. Tidewater Cranes plc."
    card = read_card(document)
    assert card.issuer.value == "Tidewater Cranes plc" and card.issuer.found_in == "running header"
    assert card.kind.value == "annual report" and card.kind.found_in == "running header"
    assert card.year == 2021 and card.period.found_in == "running header"


def test_pdf_reader_records_the_running_footer():
    document = parse_bytes(filing_pdf("Harbourside Widgets, Inc.", 2019, "HWI"), ".pdf", "report.pdf")
    assert "Harbourside Widgets, Inc. | 2019 Form 10-K" in document.metadata["running_headers"].split("\n")
    assert "2019 Form 10-K | 3" not in document.text  # the footer itself is not text to cite


def test_word_metadata_names_the_author_when_the_text_does():
    word = WordDocument()
    word.core_properties.author = "Quayside Logistics"
    word.add_heading("Operations handbook", level=1)
    word.add_paragraph("This handbook is kept by Quayside Logistics for its dock crews.")
    import io
    data = io.BytesIO()
    word.save(data)
    document = parse_bytes(data.getvalue(), ".docx", "handbook.docx")
    assert document.metadata["author"] == "Quayside Logistics"
    assert document.card.issuer.value == "Quayside Logistics" and document.card.issuer.found_in == "metadata"
    assert document.card.kind.value == "manual"


def test_the_file_name_is_the_last_resort():
    document = make_document("Cash flows and other figures for the year.\n\nNothing on the cover.", "ACME_2017_10K.txt")
    assert document.card.year == 2017 and document.card.period.found_in == "file name"
    assert document.card.kind.value == "annual report (Form 10-K)" and document.card.kind.found_in == "file name"


def test_an_article_gets_no_invented_fields():
    document = make_document("Nikola Tesla\n\nTesla worked for Westinghouse Electric Company in 1888. "
                             "Westinghouse Electric Company bought his patents.", "Nikola_Tesla.txt")
    card = document.card
    assert card.issuer is None and card.kind is None and card.year is None
    assert document.label == "Nikola Tesla"  # the passages are indexed under the title alone, as before


@pytest.mark.parametrize("cover, period, year, quarter", [
    ("FORM 10-Q\n\nFor the quarterly period ended June 30, 2023", "quarterly period ended June 30, 2023", 2023, 2),
    ("Annual Report 2019\n\nOur year in review", "Annual Report 2019", 2019, None),
    ("For the Fis cal Year Ended December 31, 2016", "fiscal year ended December 31, 2016", 2016, None),
    ("Q3 2022 Results\n\nRevenue grew.", "Q3 2022", 2022, 3),
])
def test_periods_in_their_forms(cover, period, year, quarter):
    card = make_document(cover + "\n\nMore text follows here.", "x.txt").card
    assert (card.period.value, card.year, card.quarter) == (period, year, quarter)


def test_a_card_survives_its_json():
    card = parse_bytes(filing_pdf("Harbourside Widgets, Inc.", 2019, "HWI"), ".pdf", "report.pdf").card
    assert Card.from_json(card.to_json()) == card


def test_edits_are_marked_and_kept_by_a_new_reading():
    card = make_document("FORM 10-K\n\nFor the fiscal year ended December 31, 2018\n\nText.", "a.txt").card
    card.edit({"issuer": "Acme Corp", "year": 2019})
    assert card.issuer.found_in == "edited" and card.edited == ["issuer", "year"]
    fresh = make_document("FORM 10-K\n\nFor the fiscal year ended December 31, 2018\n\nText again.", "a.txt").card
    fresh.keep_edits(card)
    assert fresh.issuer.value == "Acme Corp" and fresh.year == 2019 and fresh.kind.found_in == "cover page"


# -- through the API -------------------------------------------------------------------------------

@pytest.fixture
def filing_client(write_client, authorized):
    """The seeds plus two annual reports of one issuer, uploaded."""
    for year in (2018, 2019):
        response = write_client.post("/api/documents", headers=authorized, data={
            "file": (__import__("io").BytesIO(filing_pdf("Harbourside Widgets, Inc.", year, "HWI")), f"hwi-{year}.pdf")})
        assert response.status_code == 201, response.get_json()
    return write_client


def test_cards_are_listed_with_where_each_field_was_read(filing_client):
    documents = {d["source"]: d for d in filing_client.get("/api/documents").get_json()["documents"]}
    card = documents["hwi-2019.pdf"]["card"]
    assert card["issuer"] == {"value": "Harbourside Widgets, Inc.", "found_in": "cover page"}
    assert card["period"] == {"value": "fiscal year ended December 31, 2019", "found_in": "cover page"}
    assert card["year"] == 2019 and "HWI" in card["aliases"]
    assert documents["hwi-2019.pdf"]["name"] == ("Harbourside Widgets, Inc. annual report (Form 10-K) · "
                                                  "fiscal year ended December 31, 2019")


def test_a_citation_names_its_document_and_its_table(filing_client):
    body = filing_client.post("/api/ask", json={"question": "What were HWI's purchases of property and equipment in fiscal 2018?",
                                                "top_k": 3}).get_json()
    top = next(p for p in body["passages"] if "Purchases of property and equipment" in p["text"])
    assert top["citation"]["source"] == "hwi-2018.pdf"
    assert top["citation"]["card"] == {"name": "Harbourside Widgets, Inc. annual report (Form 10-K) · fiscal year "
                                               "ended December 31, 2018", "issuer": "Harbourside Widgets, Inc.",
                                       "kind": "annual report (Form 10-K)",
                                       "period": "fiscal year ended December 31, 2018", "year": 2018}
    assert "CONSOLIDATED STATEMENTS OF CASH FLOWS" in top["citation"]["context"] + top["text"]


def test_a_card_is_edited_and_its_passages_follow(filing_client, authorized):
    documents = {d["source"]: d for d in filing_client.get("/api/documents").get_json()["documents"]}
    target = documents["hwi-2018.pdf"]["id"]
    response = filing_client.patch(f"/api/documents/{target}", headers=authorized,
                                   json={"card": {"issuer": "Quayside Holdings plc", "aliases": ["QH"]}})
    assert response.status_code == 200, response.get_json()
    edited = response.get_json()
    assert edited["card"]["issuer"] == {"value": "Quayside Holdings plc", "found_in": "edited"}
    assert edited["card"]["kind"]["found_in"] == "cover page"  # the rest as read
    body = filing_client.post("/api/ask", json={"question": "What were QH's capital expenditures in 2018?",
                                                "top_k": 1}).get_json()
    assert body["passages"][0]["citation"]["source"] == "hwi-2018.pdf"  # the new alias names it
    assert body["passages"][0]["citation"]["card"]["issuer"] == "Quayside Holdings plc"
    health = filing_client.get("/api/health").get_json()
    assert health["consistent"]


def test_a_bad_card_edit_is_refused(filing_client, authorized):
    documents = filing_client.get("/api/documents").get_json()["documents"]
    target = documents[0]["id"]
    for body, field in (({"card": {}}, "card"), ({"card": {"year": 12}}, "year"), ({"card": {"colour": "red"}}, "colour"),
                        ({"card": {"issuer": "x" * 201}}, "issuer")):
        response = filing_client.patch(f"/api/documents/{target}", headers=authorized, json=body)
        assert response.status_code == 400 and field in response.get_json()["error"]["message"], (body, response.get_json())


def test_asking_with_a_card_filter(filing_client):
    body = filing_client.post("/api/ask", json={"question": "purchases of property and equipment", "top_k": 10,
                                                "filter": {"issuer": "HWI", "period": "2019"}}).get_json()
    assert body["filter_matched"] == 1
    assert {p["citation"]["source"] for p in body["passages"]} == {"hwi-2019.pdf"}
