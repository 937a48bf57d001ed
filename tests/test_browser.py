"""The chat page in a real browser: Debian's Chromium driven by playwright, against `qa serve`'s app
on loopback (waitress in a thread), over the seeds plus a hostile document (and, for the page-image
tests, a small PDF built here with fpdf2)."""
from __future__ import annotations

import contextlib
import re
import shutil
import threading
from pathlib import Path

import pytest
import waitress

from qa.app import create_app
from qa.index import Index
from qa.ingest import ingest
from tests.conftest import SEEDS

pytestmark = [pytest.mark.browser, pytest.mark.model]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HOSTILE = ("Hostile payloads in a zebra article\n\n"
           "The zebra payload test: <script>window.__pwned = 'script'</script> and "
           "<img src=x onerror=\"window.__pwned = 'img'\"> must show as text.")


def logbook(subject: str, first_year: int, years: int = 14) -> str:
    """Filler for a page or section: distinct sentences (cleaning drops repeated ones) about nothing
    the test questions ask, enough that a page holds more than one passage."""
    return " ".join(f"In {year} the {subject} recorded {year % 37 + 11} ships, {year % 23 + 4} days of fog "
                    f"and {year % 7 + 2} gales." for year in range(first_year, first_year + years))


# Three pages; the answer to PDF_QUESTION is in the middle of page 2 and nowhere else.
PDF_ANSWER = ("The keeper polishes the great Fresnel lens every Thursday morning with vinegar, warm water and a "
              "chamois cloth, because paraffin soot dulls the prisms within a week.")
PDF_QUESTION = "How often does the keeper polish the Fresnel lens?"
PDF_PAGES = [
    ("Keeping the Varnholm Light", [
        "The Varnholm lighthouse stands on a granite skerry at the mouth of the fjord. It was first lit in 1871.",
        logbook("station logbook", 1871), logbook("harbour office", 1885)]),
    ("The lamp room", [
        logbook("lamp room diary", 1899), PDF_ANSWER, logbook("pilot station", 1913)]),
    ("Storms and supplies", [
        "Supplies reach the skerry by boat twice a month when the weather allows.",
        logbook("supply ledger", 1927), logbook("coast guard", 1941)]),
]

# A Word document whose answer falls under its second heading, and slides whose answer is on slide 3.
DOCX_ANSWER = "Scion wood for whip-and-tongue grafting is cut in midwinter while the buds are fully dormant."
DOCX_QUESTION = "When is scion wood for whip-and-tongue grafting cut?"
DOCX_SECTIONS = [
    ("Rootstock", [logbook("nursery", 1950), logbook("orchard", 1964)]),
    ("Whip-and-tongue grafting", [logbook("grafting shed", 1978), DOCX_ANSWER, logbook("cold store", 1992)]),
]
PPTX_ANSWER = "Spoke tension is checked by plucking each spoke and listening for a matching pitch."
PPTX_QUESTION = "How is spoke tension checked by plucking?"
PPTX_SLIDES = [
    ("Wheel building", logbook("wheel shop", 2000, 8)),
    ("Lacing", logbook("lacing bench", 2008, 8)),
    ("Spoke tension", PPTX_ANSWER),
    ("Dish", logbook("dishing stand", 2016, 8)),
]


def build_pdf(pages: list[tuple[str, list[str]]]) -> bytes:
    """A text PDF, a heading and paragraphs a page (fpdf2's core Helvetica: Latin-1 only). Its page
    labels number the first page "i" and the next ones from 1, as a report with a cover does."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 25)
    for number, (heading, paragraphs) in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_page_label("r" if number == 1 else "D", label_start=1 if number <= 2 else None)
        pdf.set_font("helvetica", style="B", size=16)
        pdf.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for paragraph in paragraphs:
            pdf.ln(3)
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def build_docx(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> None:
    import docx

    document = docx.Document()
    document.add_heading(title, 0)
    for heading, paragraphs in sections:
        document.add_heading(heading, 1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(path)


def build_pptx(path: Path, slides: list[tuple[str, str]]) -> None:
    import pptx

    presentation = pptx.Presentation()
    for title, body in slides:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])  # title and content
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    presentation.save(path)


@contextlib.contextmanager
def serve(corpus: Path, folder: Path):
    """Ingest the corpus into a new index in folder and serve it on a loopback port."""
    ingest(Index(folder, create=True), [corpus], progress=False)
    app = create_app({"INDEX": str(folder)})
    wsgi = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}"
    finally:
        wsgi.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SEEDS, corpus / "seeds")
    (corpus / "hostile.txt").write_text(HOSTILE)
    with serve(corpus, tmp_path_factory.mktemp("browser-index")) as url:
        yield url


def paged_corpus(folder: Path) -> Path:
    """The seeds plus a PDF, a Word document and slides built here."""
    shutil.copytree(SEEDS, folder / "seeds")
    (folder / "lighthouse.pdf").write_bytes(build_pdf(PDF_PAGES))
    build_docx(folder / "grafting.docx", "Orchard grafting notes", DOCX_SECTIONS)
    build_pptx(folder / "wheels.pptx", PPTX_SLIDES)
    return folder


@pytest.fixture(scope="module")
def paged_server(tmp_path_factory):
    """Its own index, so the tests above do not depend on the PDF and Office readers."""
    corpus = paged_corpus(tmp_path_factory.mktemp("paged-corpus"))
    with serve(corpus, tmp_path_factory.mktemp("paged-index")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make install-test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextlib.contextmanager
def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """A fresh browser page at url; fails the test on a script error or a dialog."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append("dialog: " + dialog.message), dialog.dismiss()))
    page.goto(url)
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


@pytest.fixture
def page(browser, server):
    with open_page(browser, server) as page:
        yield page


def ask(page, question: str):
    answers = page.locator(".turn-answer")
    before = answers.count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    answers.nth(before).wait_for(timeout=30_000)
    return answers.nth(before)


def test_ask_and_see_cited_passages(page):
    answer = ask(page, "How much in rare earth metals did Trump demand from Ukraine?")
    first = answer.locator(".passage").first
    assert "$500 billion" in first.locator(".passage-text").inner_text()
    assert "002_aadcb0dba0a30b9a.txt" in first.locator(".passage-source").inner_text()
    assert "$500 billion" in first.locator("mark.highlight").inner_text()
    assert answer.locator(".confidence").get_attribute("data-confident") == "true"


def test_a_reply_that_is_not_confident_leads_with_not_found_and_quotes_nothing(page):
    """A question near the seeds about someone they never name: the reply says so first, names what
    is missing, and shows the passages only as the closest matches, never quoted as an answer."""
    answer = ask(page, "What did Olaf Scholz say about NATO membership for Ukraine?")
    assert answer.locator(".confidence").get_attribute("data-confident") == "false"
    first = answer.locator(".answer-meta ~ *").first
    assert first.inner_text() == "Not found in these documents"
    assert "Scholz" in answer.locator(".not-found-reasons").inner_text()
    assert answer.locator(".answer-quote").count() == 0
    assert answer.locator(".evidence-summary").inner_text().startswith("Closest matches")
    assert answer.locator(".evidence .passage").count() > 0


def test_follow_up_is_resolved_through_the_conversation(page):
    ask(page, "Who did Greek lawmakers name as the country's next president?")
    answer = ask(page, "Why have people been protesting against him?")
    assert "train crash" in answer.locator(".passage-text").first.inner_text()


def test_clicking_a_citation_opens_the_document_at_the_passage(page):
    answer = ask(page, "What did Modi hope to avoid on his visit to Washington?")
    passage_text = answer.locator(".passage-text").first.inner_text()
    answer.locator(".cite").first.click()
    view = page.locator("#document-view")
    view.wait_for(state="visible")
    cited = page.locator("#cited-passage")
    cited.wait_for()
    assert " ".join(cited.inner_text().split()) == " ".join(passage_text.split())
    assert cited.evaluate("e => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }")
    page.keyboard.press("Escape")
    view.wait_for(state="hidden")


def test_the_reply_leads_with_the_best_sentence_and_a_marker_that_opens_it(page):
    answer = ask(page, "How much in rare earth metals did Trump demand from Ukraine?")
    lead = answer.locator(".answer-lead")
    quote = lead.locator(".answer-quote").inner_text()
    # The lead is the top passage's highlighted sentence, word for word, ahead of the evidence.
    assert "$500 billion" in quote
    assert quote == answer.locator(".passage").first.locator("mark.highlight").inner_text().strip()
    assert lead.evaluate("(e) => !!(e.compareDocumentPosition(e.parentNode.querySelector('.evidence')) "
                         "& Node.DOCUMENT_POSITION_FOLLOWING)")
    marker = lead.locator(".cite-marker")
    assert marker.inner_text() == "[1]"
    assert answer.locator(".passage-rank").first.inner_text() == "[1]"
    marker.click()
    page.locator("#cited-passage").wait_for()
    assert page.locator("#cited-passage .cited-sentence").inner_text().strip() == quote
    assert page.locator("#cited-passage").evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }")
    page.keyboard.press("Escape")
    page.locator("#document-view").wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.classList.contains('cite-marker')")  # focus returns


def test_evidence_folds_and_unfolds(page):
    answer = ask(page, "Who is Kaja Kallas?")
    passages = answer.locator(".evidence .passage")
    summary = answer.locator(".evidence-summary")
    assert passages.first.is_visible()  # unfolded to begin with
    assert "passage" in summary.inner_text()
    summary.click()
    passages.first.wait_for(state="hidden")
    assert answer.locator(".answer-quote").is_visible()  # the quoted answer stays
    summary.focus()
    page.keyboard.press("Enter")  # and the keyboard unfolds it again
    passages.first.wait_for(state="visible")
    assert passages.count() > 0


def test_a_document_with_script_is_shown_as_text_and_runs_nothing(page):
    answer = ask(page, "zebra payload test")
    text = answer.locator(".passage-text").first.inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text
    assert "<img src=x onerror=" in text
    answer.locator(".cite").first.click()
    page.locator("#cited-passage").wait_for()  # the document has loaded, not just the panel
    assert "<script>" in page.locator("#document-text").inner_text()
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#messages img, #document-text img, #messages script").count() == 0


def test_reload_keeps_the_conversation(page):
    ask(page, "Who is Kaja Kallas?")
    page.reload()
    page.locator(".turn-user", has_text="Who is Kaja Kallas?").wait_for(timeout=10_000)
    assert page.locator(".turn-answer .passage").count() > 0
    page.click("#new-conversation")
    assert page.locator(".turn-user").count() == 0


def test_server_down_gives_a_readable_error(browser, server):
    with open_page(browser, server) as page:
        page.route("**/api/ask", lambda route: route.abort())
        page.fill("#question", "anything")
        page.press("#question", "Enter")
        assert "Cannot reach the server" in page.locator(".error").first.inner_text(timeout=10_000)


def test_phone_width_has_no_horizontal_scroll(browser, server):
    with open_page(browser, server, width=375, height=740) as page:
        ask(page, "What did Hegseth say about NATO membership for Ukraine?")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


# The page image's rectangle and every highlight box's, in viewport pixels.
GEOMETRY = """() => {
  const rect = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const img = document.querySelector('#page-image');
  return { natural: img.naturalWidth, image: rect(img),
           boxes: [...document.querySelectorAll('#page-boxes .page-box')].map(rect) };
}"""


def open_pdf_citation(page):
    answer = ask(page, PDF_QUESTION)
    first = answer.locator(".passage").first
    assert PDF_ANSWER in first.locator(".passage-text").inner_text()
    assert "lighthouse.pdf" in first.locator(".passage-source").inner_text()
    assert re.match(r"pages? 2\b.* \(printed 1\b", first.locator(".passage-where").inner_text())
    answer.locator(".cite-marker").click()
    page.locator("#cited-passage").wait_for()
    page.locator("#page-boxes .page-box").first.wait_for()
    return page.evaluate(GEOMETRY)


def test_a_pdf_citation_opens_its_page_with_the_passage_outlined(browser, paged_server):
    with open_page(browser, paged_server) as page:
        geometry = open_pdf_citation(page)
        assert geometry["natural"] > 0
        left, top, right, bottom = geometry["image"]
        assert geometry["boxes"]
        for x0, y0, x1, y1 in geometry["boxes"]:
            assert left - 0.5 <= x0 < x1 <= right + 0.5 and top - 0.5 <= y0 < y1 <= bottom + 0.5
        # The panel names the page, and the text beside the image has the passage marked.
        assert re.search(r"\bpages? 2\b", page.locator("#document-meta").inner_text())
        assert page.locator("#page-label").inner_text().startswith("Page 2 of 3 (printed 1)")
        assert PDF_ANSWER in page.locator("#cited-passage").inner_text()
        # Boxes are drawn only on the page they belong to, and the user can step between pages.
        page.click("#page-prev")
        page.locator("#page-label", has_text="Page 1 of 3").wait_for()
        assert page.evaluate("() => document.activeElement.id") == "page-next"  # focus kept on a control
        page.wait_for_function("() => document.querySelector('#page-image').complete")
        assert page.locator("#page-boxes .page-box").count() == 0
        page.click("#page-next")
        page.locator("#page-label", has_text="Page 2 of 3").wait_for()
        page.locator("#page-boxes .page-box").first.wait_for()
        page.click("#page-next")
        page.locator("#page-label", has_text="Page 3 of 3").wait_for()
        assert page.locator("#page-next").is_disabled()
        page.click("#page-prev")
        page.locator("#page-boxes .page-box").first.wait_for()
        # Resizing the window places the boxes again, still on the image.
        page.set_viewport_size({"width": 900, "height": 700})
        page.wait_for_function("""() => { const img = document.querySelector('#page-image').getBoundingClientRect();
            const b = document.querySelector('#page-boxes .page-box').getBoundingClientRect();
            return b.right <= img.right + 0.5 && b.left >= img.left - 0.5; }""")


def test_a_pdf_citation_on_a_phone_shows_the_page_above_the_text(browser, paged_server):
    with open_page(browser, paged_server, width=375, height=740) as page:
        geometry = open_pdf_citation(page)
        left, top, right, bottom = geometry["image"]
        assert right <= 375 and geometry["boxes"]
        text_top = page.locator("#document-text").evaluate("e => e.getBoundingClientRect().top")
        assert text_top >= page.locator("#document-page").evaluate("e => e.getBoundingClientRect().bottom") - 1
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_missing_page_image_leaves_the_text_readable(browser, paged_server):
    with open_page(browser, paged_server) as page:
        page.route("**/api/documents/*/pages/*.png", lambda route: route.fulfill(status=404, body=""))
        answer = ask(page, PDF_QUESTION)
        answer.locator(".cite-marker").click()
        page.locator("#page-note", has_text="unavailable").wait_for()
        assert PDF_ANSWER in page.locator("#cited-passage").inner_text()
        assert not page.locator("#page-image").is_visible()



def test_word_and_slide_citations_name_their_section_and_slide(browser, paged_server):
    with open_page(browser, paged_server) as page:
        answer = ask(page, DOCX_QUESTION)
        first = answer.locator(".passage").first
        assert "grafting.docx" in first.locator(".passage-source").inner_text()
        assert "Whip-and-tongue grafting" in first.locator(".passage-where").inner_text()
        answer.locator(".cite-marker").click()
        page.locator("#cited-passage").wait_for()
        assert "Whip-and-tongue grafting" in page.locator("#document-meta").inner_text()
        assert DOCX_ANSWER in page.locator("#cited-passage").inner_text()
        assert page.locator("#document-page").is_hidden()  # a Word document has no page image
        page.keyboard.press("Escape")

        answer = ask(page, PPTX_QUESTION)
        first = answer.locator(".passage").first
        assert PPTX_ANSWER in first.locator("mark.highlight").inner_text()
        where = first.locator(".passage-where").inner_text()
        numbers = re.fullmatch(r"slides? (\d+)(?:–(\d+))?", where)
        assert numbers, where
        assert int(numbers[1]) <= 3 <= int(numbers[2] or numbers[1])  # the answer is on slide 3
        answer.locator(".cite-marker").click()
        page.locator("#cited-passage").wait_for()
        assert where in page.locator("#document-meta").inner_text()
        assert page.locator("#document-page").is_hidden()


def test_a_citation_of_a_changed_document_says_so(browser, tmp_path):
    """A turn quotes the version it was given; after the file changes, opening its citation says the
    document changed rather than marking text that is no longer what was quoted."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copytree(SEEDS, corpus / "seeds")
    notes = corpus / "notes.txt"
    notes.write_text("Ferry timetable\n\nThe morning ferry to Skye leaves Mallaig at seven forty, every day but Sunday.")
    with serve(corpus, tmp_path / "index") as url, open_page(browser, url) as page:
        answer = ask(page, "When does the morning ferry to Skye leave Mallaig?")
        assert "seven forty" in answer.locator(".passage-text").first.inner_text()
        notes.write_text("Ferry timetable\n\nFrom May the morning ferry to Skye leaves Mallaig at eight fifteen.")
        ingest(Index(tmp_path / "index"), [corpus], progress=False)
        answer.locator(".cite").first.click()
        page.locator(".doc-changed").wait_for(timeout=10_000)
        assert "changed since this answer" in page.locator(".doc-changed").inner_text()
        assert "eight fifteen" in page.locator("#document-text").inner_text()
        assert page.locator("#cited-passage").inner_text() == ""  # the old words are gone: nothing marked
