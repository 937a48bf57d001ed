"""Page images of PDFs: the original file kept beside the index, pages rendered on demand and cached.

    embeddings/originals/<document id>.pdf                   the file as ingested or uploaded
    embeddings/previews/<document id>-<hash>-<page>.png      rendered pages (deleted with the document)

A changed document keeps its id but gets a new hash, so a page image never shows an old version.
"""
from __future__ import annotations

import logging
from pathlib import Path

from qa.documents import Document
from qa.errors import PageNotFound
from qa.files import write_atomically

log = logging.getLogger(__name__)

ORIGINALS = "originals"
PREVIEWS = "previews"
MAX_WIDTH = 1200  # pixels: sharp on a laptop screen, ~200-400 KB a page


class Previews:
    def __init__(self, folder: Path):
        self.originals = Path(folder) / ORIGINALS
        self.previews = Path(folder) / PREVIEWS

    def keep(self, document: Document) -> None:
        """Keep a document's original file (PDFs only: the other formats are shown as text)."""
        self.forget(document.id)
        if document.original is None or document.type != "pdf":
            return
        write_atomically(self.originals / f"{document.id}.pdf", document.original)

    def original(self, document_id: str) -> bytes | None:
        """The document's original file as kept (PDFs), or None."""
        path = self.originals / f"{document_id}.pdf"
        return path.read_bytes() if path.is_file() else None

    def forget(self, document_id: str) -> None:
        for path in [self.originals / f"{document_id}.pdf", *self.previews.glob(f"{document_id}-*.png")]:
            path.unlink(missing_ok=True)

    def page(self, document_id: str, document_hash: str, number: int) -> bytes:
        """The PNG of page `number`, rendered once and then read from the cache."""
        cached = self.previews / f"{document_id}-{document_hash[:16]}-{number}.png"
        if cached.is_file():
            return cached.read_bytes()
        original = self.originals / f"{document_id}.pdf"
        if not original.is_file():
            raise PageNotFound(f"Document {document_id!r} has no page images (only PDFs do).")
        from qa.readers.pdf import render_page  # PDFium runs in a child process, with limits

        image, _ = render_page(original.read_bytes(), number, MAX_WIDTH)
        try:
            write_atomically(cached, image)
        except OSError as error:  # a read-only index folder still serves pages, uncached
            log.warning("could not cache %s: %s", cached, error)
        return image

