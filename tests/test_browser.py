"""The chat page in a real browser: Debian's Chromium driven by playwright, against `qa serve`'s app
on loopback (waitress in a thread), over the seeds plus a hostile document (and, for the page-image
tests, a small PDF built here with fpdf2)."""
from __future__ import annotations

import contextlib
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


# Three pages; the answer to PDF_QUESTION is on page 2 and nowhere else.
PDF_PAGES = [
    ("Keeping the Varnholm Light",
     "The Varnholm lighthouse stands on a granite skerry at the mouth of the fjord. It was first lit in 1871 "
     "and has been kept by the same family of keepers for four generations. Its tower is painted white with "
     "a single red band, so that fishermen can tell it from the neighbouring lights by day."),
    ("The lamp room",
     "The keeper polishes the great Fresnel lens of the Varnholm lighthouse every Thursday morning with "
     "vinegar, warm water and a chamois cloth. Paraffin soot dulls the prisms within a week, and a dull lens "
     "throws its beam barely half as far. The brass fittings around the lens are polished once a month."),
    ("Storms and supplies",
     "Supplies reach the skerry by boat twice a month when the weather allows. In the winter storms the boat "
     "may not come for six weeks, so the keepers store flour, dried fish and paraffin in the cellar below the "
     "tower."),
]
PDF_QUESTION = "How often does the keeper polish the Fresnel lens of the Varnholm lighthouse?"
PDF_ANSWER = "polishes the great Fresnel lens"


def build_pdf(pages: list[tuple[str, str]]) -> bytes:
    """A small text PDF, one heading and paragraph a page (fpdf2's core Helvetica: Latin-1 only)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 25)
    for heading, paragraph in pages:
        pdf.add_page()
        pdf.set_font("helvetica", style="B", size=16)
        pdf.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 7, paragraph, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


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


@pytest.fixture(scope="module")
def pdf_server(tmp_path_factory):
    """The seeds plus lighthouse.pdf. Its own index, so the other tests do not need the PDF reader."""
    corpus = tmp_path_factory.mktemp("pdf-corpus")
    shutil.copytree(SEEDS, corpus / "seeds")
    (corpus / "lighthouse.pdf").write_bytes(build_pdf(PDF_PAGES))
    with serve(corpus, tmp_path_factory.mktemp("pdf-index")) as url:
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
    assert "page 2" in first.locator(".passage-where").inner_text()
    answer.locator(".cite-marker").click()
    page.locator("#cited-passage").wait_for()
    page.locator("#page-boxes .page-box").first.wait_for()
    return page.evaluate(GEOMETRY)


def test_a_pdf_citation_opens_its_page_with_the_passage_outlined(browser, pdf_server):
    with open_page(browser, pdf_server) as page:
        geometry = open_pdf_citation(page)
        assert geometry["natural"] > 0
        left, top, right, bottom = geometry["image"]
        assert geometry["boxes"]
        for x0, y0, x1, y1 in geometry["boxes"]:
            assert left - 0.5 <= x0 < x1 <= right + 0.5 and top - 0.5 <= y0 < y1 <= bottom + 0.5
        # The panel names the page, and the text beside the image has the passage marked.
        assert "page 2" in page.locator("#document-meta").inner_text()
        assert page.locator("#page-label").inner_text().startswith("Page 2 of 3")
        assert PDF_ANSWER in page.locator("#cited-passage").inner_text()
        # Boxes are drawn only on the page they belong to; the user can step to the next page.
        page.click("#page-next")
        page.locator("#page-label", has_text="Page 3 of 3").wait_for()
        page.wait_for_function("() => document.querySelector('#page-image').complete")
        assert page.locator("#page-boxes .page-box").count() == 0
        page.click("#page-prev")
        page.locator("#page-boxes .page-box").first.wait_for()
        # Resizing the window places the boxes again, still on the image.
        page.set_viewport_size({"width": 900, "height": 700})
        page.wait_for_function("""() => { const img = document.querySelector('#page-image').getBoundingClientRect();
            const b = document.querySelector('#page-boxes .page-box').getBoundingClientRect();
            return b.right <= img.right + 0.5 && b.left >= img.left - 0.5; }""")


def test_a_pdf_citation_on_a_phone_shows_the_page_above_the_text(browser, pdf_server):
    with open_page(browser, pdf_server, width=375, height=740) as page:
        geometry = open_pdf_citation(page)
        left, top, right, bottom = geometry["image"]
        assert right <= 375 and geometry["boxes"]
        text_top = page.locator("#document-text").evaluate("e => e.getBoundingClientRect().top")
        assert text_top >= page.locator("#document-page").evaluate("e => e.getBoundingClientRect().bottom") - 1
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_missing_page_image_leaves_the_text_readable(browser, pdf_server):
    with open_page(browser, pdf_server) as page:
        page.route("**/api/documents/*/pages/*.png", lambda route: route.fulfill(status=404, body=""))
        answer = ask(page, PDF_QUESTION)
        answer.locator(".cite-marker").click()
        page.locator("#page-note", has_text="unavailable").wait_for()
        assert PDF_ANSWER in page.locator("#cited-passage").inner_text()
        assert not page.locator("#page-image").is_visible()
