"""The chat page in a real browser: Debian's Chromium driven by playwright, against `qa serve`'s app
on loopback (waitress in a thread), over the seeds plus a hostile document."""
from __future__ import annotations

import shutil
import threading

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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SEEDS, corpus / "seeds")
    (corpus / "hostile.txt").write_text(HOSTILE)
    folder = tmp_path_factory.mktemp("browser-index")
    ingest(Index(folder, create=True), [corpus], progress=False)
    app = create_app({"INDEX": str(folder)})
    wsgi = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make install-test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append("dialog: " + dialog.message), dialog.dismiss()))
    page.goto(server)
    yield page
    context.close()
    assert errors == [], errors


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
    context = browser.new_context()
    page = context.new_page()
    page.goto(server)
    page.route("**/api/ask", lambda route: route.abort())
    page.fill("#question", "anything")
    page.press("#question", "Enter")
    assert "Cannot reach the server" in page.locator(".error").first.inner_text(timeout=10_000)
    context.close()


def test_phone_width_has_no_horizontal_scroll(browser, server):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(server)
    ask(page, "What did Hegseth say about NATO membership for Ukraine?")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
