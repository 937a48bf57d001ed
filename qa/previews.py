"""Page images of PDFs: the original file kept beside the index, pages rendered on demand and cached.

    embeddings/originals/<document id>-<hash>.pdf            the file as ingested or uploaded
    embeddings/previews/<document id>-<hash>-<page>.png      rendered pages (deleted with the document)

A changed document keeps its id but gets a new hash, so a page image never shows an old version.
The original is written after the document's row commits (qa/writer.py), under its version's name:
a write that fails leaves the files of the document there before untouched, and a crash between
the commit and the file leaves a page that cannot be shown, never an older version's page.
Originals from before the hash was in the name (<document id>.pdf) are still read.
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
        """The PNG of page `number`, rendered once and then read from the cache."""
        cached = self.previews / f"{document_id}-{document_hash[:16]}-{number}.png"
        if cached.is_file():
            return cached.read_bytes()
        original = self.original(document_id, document_hash)
        if not original.is_file():
            original = self.originals / f"{document_id}.pdf"  # kept before the hash was in the name
        if not original.is_file():
            raise PageNotFound(f"Document {document_id!r} has no page images (only PDFs do).")
        from qa.readers.pdf import render_page  # PDFium runs in a child process, with limits

        image, _ = render_page(original.read_bytes(), number, MAX_WIDTH)
        try:
            write_atomically(cached, image)
        except OSError as error:  # a read-only index folder still serves pages, uncached
            log.warning("could not cache %s: %s", cached, error)
        return image

