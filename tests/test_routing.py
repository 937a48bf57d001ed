"""The document stage (qa/routing.py): a question that names a document by its issuer, period or kind
is answered from that document, and one naming a document the collection lacks is doubted."""
from __future__ import annotations

import numpy as np
import pytest

from qa.cards import Card, Fact
from qa.index import Index
from qa.ingest import ingest
from qa.routing import Directory, years_named
from qa.catalog import Scope
from qa.search import Query, Searcher
from tests.pdfs import CASH_FLOW_ROWS, figure, filing_pdf

ISSUERS = {"Harbourside Widgets, Inc.": "HWI", "Northwind Cranes Corporation": "Northwind"}
YEARS = (2017, 2018, 2019)
CAPEX = CASH_FLOW_ROWS.index("Purchases of property and equipment")


@pytest.fixture(scope="module")
def filings(tmp_path_factory) -> Index:
    """Two issuers' annual reports for three years each: every report holds the same rows, and each
    holds the year before's figures too."""
    corpus = tmp_path_factory.mktemp("filings")
    for issuer, short in ISSUERS.items():
        for year in YEARS:
            (corpus / f"{short.lower()}-{year}.pdf").write_bytes(filing_pdf(issuer, year, short))
    index = Index(tmp_path_factory.mktemp("filings-index"), create=True)
    ingest(index, [corpus], progress=False)
    return index


@pytest.mark.parametrize("short", list(ISSUERS.values()))
@pytest.mark.parametrize("year", YEARS)
def test_the_named_year_wins_over_the_same_issuers_other_years(filings, short, year):
    issuer = next(name for name, alias in ISSUERS.items() if alias == short)
    answer = Searcher(filings).ask(f"What were {short}'s capital expenditures in fiscal {year}?", top_k=10)
    named = f"{short.lower()}-{year}.pdf"
    sources = [hit.citation.source for hit in answer.passages]
    first_other = next(i for i, source in enumerate(sources) if source != named)
    assert first_other >= 3 and set(sources[first_other:]) != {named}  # the report named first, all of it
    top = next(hit for hit in answer.passages if "Purchases of property and equipment" in hit.text)
    assert top.citation.source == named and top.rank <= 3 and f"{figure(issuer, year, CAPEX):,}" in top.text
    assert "CONSOLIDATED STATEMENTS OF CASH FLOWS" in top.citation.context + top.text
    assert answer.confident or not any(reason.startswith("no document") for reason in answer.confidence_reasons)


def test_a_question_naming_no_document_keeps_the_plain_ranking(filings):
    searcher = Searcher(filings)
    question = "What were the purchases of property and equipment?"
    route, mask, stranger = filings.reader.catalog.route(Scope(), Query.parse(question))
    assert route.documents == [] and mask is None and stranger is None
    sources = {hit.citation.source for hit in searcher.ask(question, top_k=10).passages}
    assert len(sources) > 1  # nothing narrowed it to one report


def test_a_period_no_document_holds_is_flagged_with_the_closest(filings):
    answer = Searcher(filings).ask("What were HWI's capital expenditures in fiscal 2015?")
    assert not answer.confident
    assert answer.confidence_reasons[0] == "no document for 2015; closest: the annual report (Form 10-K) for 2017"


def test_a_company_no_document_holds_is_flagged(filings):
    answer = Searcher(filings).ask("What were Microsoft's capital expenditures in fiscal 2018?")
    assert not answer.confident
    assert answer.confidence_reasons[0].startswith("no document from Microsoft; the documents are from ")


def test_filters_by_card(filings):
    from qa.schemas import Filter

    answer = Searcher(filings).ask("purchases of property and equipment", top_k=10,
                                   scope=Filter(issuer="Northwind", period="FY2018", kind="10-K").scope("default"))
    assert answer.filter_matched == 1
    assert {hit.citation.source for hit in answer.passages} == {"northwind-2018.pdf"}


def card(issuer: str | None, year: int | None, aliases=(), kind: str | None = "annual report (Form 10-K)") -> tuple:
    """A document of the default collection, as the Directory takes it: (id, collection, card)."""
    return (f"{issuer}-{year}", "default", Card(issuer=Fact(issuer, "cover page") if issuer else None,
                                                aliases=list(aliases), year=year,
                                                kind=Fact(kind, "cover page") if kind else None))


DIRECTORY = Directory([card("The Coca-Cola Company", 2018), card("The Coca-Cola Company", 2019),
                       card("Advanced Micro Devices, Inc.", 2018, ["AMD"]), card("Advanced Micro Devices, Inc.", 2019, ["AMD"]),
                       card("PG&E Corporation", 2019, ["Pacific Gas and Electric Company"])])
EVERY = np.ones(5, dtype=bool)


@pytest.mark.parametrize("question, documents", [
    ("What was Coca Cola's revenue in FY2019?", [1]),
    ("CocaCola 2018 annual report: total assets?", [0]),
    ("How much did AMD spend on R&D in fiscal 2018 (per its 10-K)?", [2]),
    ("Advanced Micro Devices research spending, 2019", [3]),
    ("What did Pacific Gas and Electric pay in dividends?", [4]),
    ("What were PG&E Corporation's capital expenditures in 2019?", [4]),
    ("What did Coca-Cola report for FY18?", [0]),
    ("In its 10-K for fiscal 2018, how much operating cash flow did AMD report?", [2]),
])
def test_questions_name_documents_in_many_forms(question, documents):
    assert DIRECTORY.route(Query.parse(question), EVERY).documents == documents


def test_several_years_the_most_named_then_the_latest():
    assert DIRECTORY.route(Query.parse("Coca-Cola's FY2019 ROA: FY2019 net income over average assets of FY2018 and FY2019"),
                           EVERY).documents == [1]
    assert DIRECTORY.route(Query.parse("How did Coca-Cola's revenue change from 2018 to 2019?"), EVERY).documents == [1]
    assert years_named("FY18, fiscal 2019 and 2,019 units") == {2018: 1, 2019: 1}


def test_years_alone_route_only_among_periodic_documents():
    articles = Directory([card(None, None, kind=None) for _ in range(9)] + [card(None, 1973, kind=None)])
    assert articles.route(Query.parse("Who won the championship in 1973?"), np.ones(10, dtype=bool)).documents == []
    assert articles.route(Query.parse("Who won the championship in 2016?"), np.ones(10, dtype=bool)).missing is None


def test_a_possessive_without_a_period_or_kind_is_no_company(filings):
    """"China's largest cloud provider" names a place; only a question asking for a document by its
    period or kind ("in fiscal 2018", "its 10-K") is doubted for naming a company none is from."""
    for question in ("Which cities does China's largest cloud provider have teams in?",
                     "What did Hanson's lawyers argue about immunity?"):
        route, _, stranger = filings.reader.catalog.route(Scope(), Query.parse(question))
        assert stranger is None and route.missing is None


def test_routing_reads_only_the_cards_a_write_changed(filings, monkeypatch):
    """Every question routes: it must not rebuild the catalog's tables (a walk of every document,
    145 ms at 100k passages) after each write. The cards follow the store document by document."""
    from qa import catalog as catalog_module
    from qa.documents import make_document
    from qa.ingest import add_documents

    built, read = [], []
    original_tables, original_cards = catalog_module.Tables.__init__, filings.store.cards
    monkeypatch.setattr(catalog_module.Tables, "__init__", lambda self, store: built.append(1) or original_tables(self, store))
    monkeypatch.setattr(filings.store, "cards", lambda rowids: read.append(list(rowids)) or original_cards(rowids))
    searcher = Searcher(filings)
    searcher.ask("What were HWI's capital expenditures in fiscal 2018?")
    added = make_document("Quayside Cranes plc annual report 2019. Quayside Cranes plc built cranes. "
                          "Quayside Cranes plc is in Hull.", "quayside-2019.txt")
    add_documents(filings, [added])
    try:
        answer = searcher.ask("What did Quayside Cranes report for 2019?")
        assert answer.passages[0].citation.source == "quayside-2019.txt"
        assert built == [] and read[-1] and len(read[-1]) == 1  # the new document's card only
    finally:
        filings.remove_document(added.id)


def test_a_route_naming_more_documents_than_sqlite_takes_parameters(filings):
    """A kind ("annual report") can name every document of a large collection; reading their
    passages in one statement failed past SQLite's limit on parameters ("too many SQL variables":
    32,766 in most builds, 250,000 in Debian's)."""
    named = [document["id"] for document in filings.store.documents()]
    expected = sorted(filings.store.passages_of(named))
    padded = [f"absent-{i}" for i in range(260_000)] + named  # past either limit
    assert expected and sorted(filings.store.passages_of(padded)) == expected
