"""Page images cannot pin the server (qa/previews.py): a page that takes long to draw is stopped at
the render limit, concurrent requests for it share one render, and its failure is remembered;
other pages keep rendering meanwhile. And a PDF's parse time limit counts the pages PDFium finds,
not page objects outside the page tree."""
from __future__ import annotations

import io
import threading
import time

import pytest

from qa.app import create_app
from tests.conftest import API_TOKEN
from tests.pdfs import crowded_pdf, report_pdf, slow_render_pdf, with_fake_pages

AUTHORIZED = {"Authorization": f"Bearer {API_TOKEN}"}
LIMIT = 2  # seconds: the render limit for these tests (10 by default)


@pytest.fixture
def app(index_dir):
    return create_app({"INDEX": str(index_dir), "API_TOKEN": API_TOKEN, "TESTING": True})


def upload(client, data: bytes, name: str):
    response = client.post("/api/documents", data={"file": (io.BytesIO(data), name)}, headers=AUTHORIZED,
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_a_slow_page_costs_one_bounded_render_then_answers_at_once(app, monkeypatch):
    """The PDF, built here, reads in a moment but its page takes 20 s and more to draw. Eight
    anonymous requests for it at once: one render, stopped at the limit, and all eight answered
    by then; the ninth is answered from the remembered failure; another PDF's page renders
    meanwhile."""
    import qa.readers.pdf

    monkeypatch.setattr("qa.previews.RENDER_SECONDS", LIMIT)
    renders = []
    render_page = qa.readers.pdf.render_page

    def counted(data, number, *args, **kwargs):
        renders.append("slow" if data == slow_pdf else "other")
        return render_page(data, number, *args, **kwargs)

    monkeypatch.setattr(qa.readers.pdf, "render_page", counted)
    client = app.test_client()
    started = time.monotonic()
    slow_pdf = slow_render_pdf()
    slow = upload(client, slow_pdf, "slow.pdf")
    assert time.monotonic() - started < 15  # reading it is quick: only drawing is slow
    report = upload(client, report_pdf(), "report.pdf")
    answers: list = []

    def fetch() -> None:
        response = app.test_client().get(f"/api/documents/{slow}/pages/1.png")
        answers.append((response.status_code, response.get_json()))

    started = time.monotonic()
    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    other = client.get(f"/api/documents/{report}/pages/1.png")  # while the slow page is being drawn
    assert other.status_code == 200 and other.mimetype == "image/png"
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    assert took < LIMIT + 8, f"eight requests held their threads {took:.1f}s"
    assert [status for status, _ in answers] == [422] * 8
    assert all("took longer than" in body["error"]["message"] for _, body in answers)
    assert renders.count("slow") == 1, renders  # one render of the slow page for eight requests
    again = time.monotonic()
    remembered = client.get(f"/api/documents/{slow}/pages/1.png")
    assert remembered.status_code == 422 and time.monotonic() - again < 1
    assert renders.count("slow") == 1


def test_fake_page_objects_do_not_stretch_the_parse_time_limit(app, monkeypatch):
    """The time a PDF may take grows by SECONDS_PER_PAGE a page. Counted as "/Type /Page" in the
    bytes, 3,000 page objects that no page tree holds stretched it to its 600 s maximum; counted
    by PDFium, the file has one page. With the base limit cut to 0.3 s here, a page of 190,000
    characters takes longer than its limit with or without the fake objects."""
    monkeypatch.setattr("qa.readers.child.PARSE_SECONDS", 0.3)
    monkeypatch.setattr("qa.readers.pdf.SECONDS_PER_PAGE", 0.01)
    monkeypatch.setattr("qa.readers.pdf.TESSERACT", "/nonexistent/tesseract")  # no OCR budget
    client = app.test_client()
    crowded = crowded_pdf(190_000)
    for data in (crowded, with_fake_pages(crowded)):
        response = client.post("/api/documents", data={"file": (io.BytesIO(data), "crowded.pdf")},
                               headers=AUTHORIZED, content_type="multipart/form-data")
        assert response.status_code == 422, response.get_json()
        assert "took too long" in response.get_json()["error"]["message"]
