"""Page images of PDFs: the original file kept beside the index, pages rendered on demand and cached.

    embeddings/originals/<document id>-<hash>.pdf            the file as ingested or uploaded
    embeddings/previews/<document id>-<hash>-<page>.png      rendered pages (deleted with the document)
    embeddings/previews/<document id>-<hash>-<page>.failed   why a page could not be drawn (remembered)

A changed document keeps its id but gets a new hash, so a page image never shows an old version.
The original is written after the document's row commits (qa/writer.py), under its version's name:
a write that fails leaves the files of the document there before untouched, and a crash between
the commit and the file leaves a page that cannot be shown, never an older version's page.
Originals from before the hash was in the name (<document id>.pdf) are still read.

A page request is often anonymous, and a PDF can be built to take minutes to draw (a 17 KB file
took 33 s for its first page). So drawing is bounded:

- RENDER_SECONDS: a render is killed past it (PDFium runs in a child process, qa/readers/pdf.py);
- one render per page at a time: concurrent requests for a page wait for the one render under way;
- RENDER_WORKERS renders at once in this process; a request for another page waits at most
  RENDER_WAIT_SECONDS for one to finish, then is answered 503 (busy, with Retry-After);
- a failure is remembered beside the page images and answered at once (422), for
  RETRY_FAILED_SECONDS, then tried again.

So an anonymous request for a slow page holds a thread at most RENDER_SECONDS, once per day.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from qa.documents import Document
from qa.errors import PageNotFound, RenderBusy, UnreadableFile
from qa.files import write_atomically

log = logging.getLogger(__name__)

ORIGINALS = "originals"
PREVIEWS = "previews"
MAX_WIDTH = 1200  # pixels: sharp on a laptop screen, ~200-400 KB a page
RENDER_SECONDS = 10  # an ordinary page draws in well under a second
RENDER_WORKERS = 2  # renders at once (each a PDFium child process)
RENDER_WAIT_SECONDS = 2  # how long a request waits for a render slot before 503
RETRY_FAILED_SECONDS = 24 * 3600  # a page that failed to draw is answered from its failure this long


class Previews:
    def __init__(self, folder: Path):
        self.originals = Path(folder) / ORIGINALS
        self.previews = Path(folder) / PREVIEWS
        self._lock = threading.Lock()
        self._rendering: dict[str, Future] = {}  # page -> the render under way
        self._slots = threading.BoundedSemaphore(RENDER_WORKERS)

    def keep(self, document: Document) -> None:
        """Keep a stored document's original file (PDFs only: the other formats are shown as text)
        and drop the files of its earlier versions. Called once its row has committed."""
        if document.original is not None and document.type == "pdf":
            write_atomically(self.original(document.id, document.hash), document.original)
        self.forget(document.id, keep=document.hash)

    def forget(self, document_id: str, keep: str | None = None) -> None:
        """Delete a document's original and page images (but those of the version `keep`, a hash)."""
        version = f"{document_id}-{keep[:16]}" if keep else None
        for path in [self.originals / f"{document_id}.pdf", *self.originals.glob(f"{document_id}-*.pdf"),
                     *self.previews.glob(f"{document_id}-*")]:
            if version is None or not path.name.startswith(version):
                path.unlink(missing_ok=True)

    def original(self, document_id: str, document_hash: str) -> Path:
        return self.originals / f"{document_id}-{document_hash[:16]}.pdf"

    def page(self, document_id: str, document_hash: str, number: int) -> bytes:
        """The PNG of page `number`, rendered once and then read from the cache (see the module
        docstring for the limits); UnreadableFile (422) for a page that cannot be drawn."""
        name = f"{document_id}-{document_hash[:16]}-{number}"
        cached = self.previews / f"{name}.png"
        if cached.is_file():
            return cached.read_bytes()
        self.raise_remembered(name)
        original = self.original(document_id, document_hash)
        if not original.is_file():
            original = self.originals / f"{document_id}.pdf"  # kept before the hash was in the name
        if not original.is_file():
            raise PageNotFound(f"Document {document_id!r} has no page images (only PDFs do).")
        with self._lock:
            under_way = self._rendering.get(name)
            if under_way is None:
                self._rendering[name] = mine = Future()
        if under_way is not None:  # another request is drawing this page: wait for its result
            return under_way.result(timeout=RENDER_WAIT_SECONDS + RENDER_SECONDS + 5)
        try:
            image = self.render(original, number, name)
            mine.set_result(image)
            return image
        except BaseException as error:
            mine.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._rendering[name]

    def render(self, original: Path, number: int, name: str) -> bytes:
        """Draw a page in one of the RENDER_WORKERS slots; cache the image, or remember the failure."""
        from qa.readers.pdf import render_page  # PDFium runs in a child process, with limits

        if not self._slots.acquire(timeout=RENDER_WAIT_SECONDS):
            raise RenderBusy(f"Every page renderer is busy ({RENDER_WORKERS} at once); ask again in a few seconds.")
        try:
            image, _ = render_page(original.read_bytes(), number, MAX_WIDTH, RENDER_SECONDS)
        except UnreadableFile as error:
            self.remember(name, error.message)
            raise
        finally:
            self._slots.release()
        try:
            write_atomically(self.previews / f"{name}.png", image)
        except OSError as error:  # a read-only index folder still serves pages, uncached
            log.warning("could not cache page %s: %s", name, error)
        return image

    def remember(self, name: str, message: str) -> None:
        try:
            write_atomically(self.previews / f"{name}.failed", message.encode())
        except OSError as error:
            log.warning("could not remember the failure of page %s: %s", name, error)

    def raise_remembered(self, name: str) -> None:
        """Raise the remembered failure of a page, unless there is none or it is older than RETRY_FAILED_SECONDS."""
        failed = self.previews / f"{name}.failed"
        try:
            if time.time() - failed.stat().st_mtime < RETRY_FAILED_SECONDS:
                raise UnreadableFile(failed.read_text(errors="replace"))
        except FileNotFoundError:
            return
