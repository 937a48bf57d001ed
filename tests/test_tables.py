"""Tables stay tables (qa/tables.py, qa/chunking.py): cut between rows, within a page, each piece
under its table's title and header rows."""
from __future__ import annotations

from qa.chunking import split_passages
from qa.documents import make_document
from qa.readers import parse_bytes
from qa.tables import find_tables
from tests.pdfs import CASH_FLOW_ROWS, filing_pdf


def whitespace_tokens(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


STATEMENT = """Our cash came from operations, as the statement below shows in full for both years of the review.

Consolidated Balance Sheets

December 31, | December 31,
2019 | 2018

(In millions)

ASSETS

Cash and cash equivalents | $ | 2,279 $ | 1,130
Trade receivables | 1,973 | 2,129
Inventories | 2,721 | 2,667
Total current assets | 7,875 | 8,095
Property, plant and equipment, net | 7,055 | 7,078
Goodwill | 35,546 | 36,503
Total assets | $ | 101,450 $ | 103,461

The notes that follow are part of these statements and explain each line of them in turn."""


def test_a_table_is_found_with_its_title_and_header_rows():
    [table] = find_tables(STATEMENT)
    assert STATEMENT[table.start:].startswith("Consolidated Balance Sheets")
    assert STATEMENT[table.body:].startswith("Cash and cash equivalents")
    assert STATEMENT[:table.end].endswith("Total assets | $ | 101,450 $ | 103,461")
    # Two header rows of as many cells read cell by cell: each column's date is whole.
    assert table.heading == "Consolidated Balance Sheets. December 31, 2019 | December 31, 2018. (In millions). ASSETS"


def test_a_table_is_cut_between_rows_and_each_piece_carries_the_heading():
    document = make_document(STATEMENT, "statement.txt")
    passages = split_passages(document, whitespace_tokens, target_tokens=30, max_tokens=60, min_tokens=4, tables=True)
    for row in [line for line in STATEMENT.split("\n") if " | " in line]:  # every row whole in one passage
        assert sum(row in p.text for p in passages) == 1, row
    in_table = [p for p in passages if "Total assets" in p.text or "Goodwill" in p.text]
    assert in_table and all("Consolidated Balance Sheets. December 31, 2019 | December 31, 2018" in p.context
                            for p in in_table if not p.text.startswith("Consolidated"))
    # The prose around the table is not mixed into its passages, and has no table context.
    assert passages[0].text.startswith("Our cash came") and passages[0].context == ""
    assert passages[-1].text.startswith("The notes that follow") and passages[-1].context == ""


def test_without_tables_the_rows_lose_their_header():
    """The old chunking, for contrast: the row that answers "total assets in 2019" stands apart from
    the header that says which column is 2019."""
    document = make_document(STATEMENT, "statement.txt")
    passages = split_passages(document, whitespace_tokens, target_tokens=30, max_tokens=60, min_tokens=4)
    holding = next(p for p in passages if "Total assets" in p.text)
    assert "2019" not in holding.text and holding.context == ""


def test_a_statement_over_two_pages_is_cut_at_the_page_and_both_parts_keep_a_heading():
    document = parse_bytes(filing_pdf("Harbourside Widgets, Inc.", 2019, "HWI"), ".pdf", "report.pdf")
    passages = split_passages(document, whitespace_tokens, target_tokens=40, max_tokens=80, min_tokens=4, tables=True)
    spans = document.page_spans([(p.start, p.end) for p in passages])
    rows = [(p, span) for p, span in zip(passages, spans) if any(row in p.text for row in CASH_FLOW_ROWS)]
    assert all(span[0] == span[1] for _, span in rows)  # no table passage runs across the page
    assert {span[0] for _, span in rows} == {3, 4}
    for passage, span in rows:
        heading = passage.context or passage.text
        assert "CONSOLIDATED STATEMENTS OF CASH FLOWS" in heading and "2019 | 2018" in heading.replace("\n", " ")
    capex = next(p for p, _ in rows if "Purchases of property and equipment" in p.text)
    assert "Year Ended December 31, 2019 | 2018" in capex.context
