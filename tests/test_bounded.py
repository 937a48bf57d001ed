"""Parsers that cannot stall the server: every format is read in a child process with a time and
memory cap (qa/readers/child.py), so a hostile upload costs a 422 and a child, never the server's
memory, a request thread held for minutes, or the questions' speed."""
from __future__ import annotations

import dataclasses
import io
import resource
import statistics
import threading
import time
import zipfile
from pathlib import Path

import docx
import pytest

from qa.app import create_app
from qa.documents import Box, Document, Page, Section
from tests.conftest import API_TOKEN

AUTHORIZED = {"Authorization": f"Bearer {API_TOKEN}"}
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
HEADER_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"


def header_bomb(parts: int = 63, part_bytes: int = 4 * 2**20 - 4096) -> bytes:
    """A Word file whose document points at `parts` header parts of just under 4 MiB of XML each
    (each under the size at which a part's compression ratio is judged): under a megabyte zipped,
    252 MiB of XML that python-docx parses into trees (4.1 GB and 23 s in the server before)."""
    base = io.BytesIO()
    word = docx.Document()
    word.add_paragraph("A short letter about the harbour cranes.")
    word.save(base)
    paragraph = b"<w:p><w:r><w:t>Harbour letterhead, repeated.</w:t></w:r></w:p>"
    header = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:hdr xmlns:w="{W}">'.encode()
              + paragraph * (part_bytes // len(paragraph)) + b"</w:hdr>")
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "[Content_Types].xml":
                overrides = "".join(f'<Override PartName="/word/header{n}.xml" ContentType="{HEADER_TYPE}"/>'
                                    for n in range(parts))
                data = data.replace(b"</Types>", overrides.encode() + b"</Types>")
            elif entry.filename == "word/_rels/document.xml.rels":
                links = "".join(f'<Relationship Id="rIdBomb{n}" Type="{R}/header" Target="header{n}.xml"/>'
                                for n in range(parts))
                data = data.replace(b"</Relationships>", links.encode() + b"</Relationships>")
            bomb.writestr(entry, data)
        for n in range(parts):
            bomb.writestr(f"word/header{n}.xml", header)
    return out.getvalue()


def nested_lists(size: int = 4_000_000, depth: int = 120) -> bytes:
    """A page of lists nested `depth` deep, `size` bytes of them (66 s in the server before, every
    question 5-14x slower meanwhile)."""
    one = "".join(f"<ul><li>Heron entry {level} of the nested list" for level in range(depth)) + "</li></ul>" * depth
    return ("<html><head><title>Nested lists</title></head><body><p>Herons wade in the shallows.</p>"
            + one * (size // len(one)) + "</body></html>").encode()


def resident_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


class Watch:
    """While a request runs: the most this process held (sampled), and its CPU seconds."""

    def __init__(self):
        self.peak, self.stop = resident_mib(), threading.Event()
        self.thread = threading.Thread(target=self.sample)

    def sample(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, resident_mib())

    def __enter__(self):
        self.before, self.cpu = resident_mib(), time.process_time()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.cpu = time.process_time() - self.cpu


@pytest.fixture
def app(index_dir):
    return create_app({"INDEX": str(index_dir), "API_TOKEN": API_TOKEN, "TESTING": True})


def upload(client, data: bytes, name: str):
    return client.post("/api/documents", data={"file": (io.BytesIO(data), name)}, headers=AUTHORIZED,
                       content_type="multipart/form-data")


def test_an_office_bomb_is_refused_without_touching_the_servers_memory(app):
    bomb = header_bomb()
    assert len(bomb) < 2 * 2**20
    client = app.test_client()
    started = time.monotonic()
    with Watch() as watch:
        response = upload(client, bomb, "letter.docx")
    assert response.status_code == 422, response.get_json()
    assert "MiB of XML parts" in response.get_json()["error"]["message"]
    assert time.monotonic() - started < 10
    assert watch.peak - watch.before < 150, f"the server grew by {watch.peak - watch.before:.0f} MiB"


def test_a_deeply_nested_page_holds_no_request_thread_and_slows_no_question(app, monkeypatch):
    """The page is read in a child, at a lower CPU priority, for at most PARSE_SECONDS (5 here):
    the upload answers by then, questions asked meanwhile stay quick, and the server spends almost
    no CPU of its own on the page."""
    monkeypatch.setattr("qa.readers.child.PARSE_SECONDS", 5)
    page = nested_lists()
    client = app.test_client()
    question = {"question": "Who is Kaja Kallas?"}

    def timed() -> float:
        began = time.perf_counter()
        assert client.post("/api/ask", json=question).status_code == 200
        return time.perf_counter() - began

    quiet = statistics.median(timed() for _ in range(9))
    answered, during = [], []

    def add() -> None:
        answered.append(upload(app.test_client(), page, "nested.html"))

    started = time.monotonic()
    with Watch() as watch:
        uploading = threading.Thread(target=add)
        uploading.start()
        while uploading.is_alive():
            during.append(timed())
        uploading.join()
    took = time.monotonic() - started
    assert answered[0].status_code in (201, 422), answered[0].get_json()
    assert took < 5 + 5, f"the upload held its thread {took:.1f}s"
    assert statistics.median(during) < 3 * quiet + 0.05, (quiet, statistics.median(during))
    questions_cpu = len(during) * quiet * 2  # generous: what the questions themselves cost
    assert watch.cpu < questions_cpu + 2.0, f"the server's own CPU: {watch.cpu:.1f}s"


def test_every_field_of_a_document_comes_back_from_the_child():
    """The child sends the whole Document (pydantic, every dataclass field), so a field added to
    Document later arrives without touching the child."""
    from qa.cards import Card, Fact

    full = Document(id="x1", title="T", source="a/b.docx", text="Herons.\n\nEgrets.", hash="h" * 64, type="docx",
                    pages=[Page(1, 0, 7, 612.0, 792.0, "ocr", "blurred", "iv")], boxes=[Box(0, 7, 1, 1, 2, 3, 4)],
                    sections=[Section(0, "Birds")], original=b"\x00\xffPK", file_hash="f/3", origin="/srv",
                    date="2024-05-01", tags=["birds"], collection="team-a", metadata={"author": "Ada"},
                    card=Card(issuer=Fact("Heron Trust", "cover page"), aliases=["HT"], year=2024))
    from qa.readers.child import DOCUMENT, answer

    defaults = Document(id="", title="", source="", text="", hash="")
    assert all(getattr(full, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(Document))
    assert answer(DOCUMENT.dump_json(full), "a/b.docx") == full


def test_a_word_files_metadata_arrives_through_the_child(app):
    """What the reader fills in is what the service stores, core title included."""
    word = docx.Document()
    word.core_properties.title = "Crane Survey"
    word.add_paragraph("The cranes of the harbour were counted in May.")
    data = io.BytesIO()
    word.save(data)
    added = upload(app.test_client(), data.getvalue(), "survey.docx")
    assert added.status_code == 201 and added.get_json()["title"] == "Crane Survey"


def test_a_script_without_a_main_guard_reads_files(tmp_path):
    """`qa.read_document` from a plain script (no `if __name__ == "__main__":`): the child process
    must not run the script again (each read failed, reported as a crash)."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "read.py"
    script.write_text("from pathlib import Path\nfrom qa import read_document\n"
                      f"print('TITLE', read_document(Path({str(Path(__file__).parent.parent / 'seeds' / '000_2e21b0443b55ba82.txt')!r})).title)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.count("TITLE") == 1 and "Hegseth" in done.stdout
