"""Files -> Documents: one reader per format, chosen by the file's suffix from FORMATS.

FORMATS is the one list of what qa reads: the ingest's file walk, the upload allow-list, every
"supported formats" message and the OpenAPI description are all written from it. Each reader is a
function `read(data: bytes, source: str) -> Document` in the module named here, imported on first use
(PDF and Office libraries are slow to import and not needed for a folder of text files).
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from qa.documents import Document, document_id
from qa.errors import UnsupportedFile


@dataclass(frozen=True)
class Format:
    type: str  # recorded on the document: txt, md, html, pdf, docx, pptx
    suffixes: tuple[str, ...]
    name: str  # for people: "PDF", "Word (.docx)"
    reader: str  # the module under qa.readers with its read(data, source) function
    paged: bool = False  # citations name pages (or slides)


FORMATS: tuple[Format, ...] = (
    Format("txt", (".txt",), "plain text", "text"),
    Format("md", (".md", ".markdown"), "Markdown", "text"),
    Format("html", (".html", ".htm"), "HTML", "html"),
    Format("pdf", (".pdf",), "PDF", "pdf", paged=True),
    Format("docx", (".docx",), "Word (.docx)", "docx"),
    Format("pptx", (".pptx",), "PowerPoint (.pptx)", "pptx", paged=True),
)
BY_SUFFIX: dict[str, Format] = {suffix: f for f in FORMATS for suffix in f.suffixes}
SUFFIXES = frozenset(BY_SUFFIX)


def supported() -> str:
    """'.txt, .md, .markdown, .html, .htm, .pdf, .docx or .pptx': for error messages and docs."""
    suffixes = [suffix for f in FORMATS for suffix in f.suffixes]
    return ", ".join(suffixes[:-1]) + " or " + suffixes[-1]


def format_for(name: str) -> Format:
    suffix = Path(name).suffix.lower()
    found = BY_SUFFIX.get(suffix)
    if found is None:
        raise UnsupportedFile(f"{name}: unsupported file type {suffix or '(none)'}; qa reads {supported()} files.")
    return found


def parse_bytes(data: bytes, suffix_or_name: str, source: str, origin: str = "") -> Document:
    """A file's bytes -> Document, by the reader for its suffix (".pdf" or a name like "a.pdf").
    `origin` is the folder the file was ingested from ("" for an upload)."""
    format = BY_SUFFIX.get(suffix_or_name.lower()) or format_for(suffix_or_name)
    read = importlib.import_module(f"qa.readers.{format.reader}").read
    document = read(data, source)
    document.type = format.type
    document.file_hash = file_hash(data)
    document.origin = origin
    document.id = document_id(source, origin)
    return document


# Bumped when a reader changes what it makes of the same bytes: the next ingest then reads every
# file again (and embeds only those whose text changed), instead of keeping the old reading.
READERS_VERSION = 5


def file_hash(data: bytes) -> str:
    """The file's SHA-256, tagged with the readers' version that read it."""
    return f"{hashlib.sha256(data).hexdigest()}/{READERS_VERSION}"


def read_document(path: Path, source: str | None = None, origin: str = "") -> Document:
    """Read one file. `source` is how citations name it (default: the file name)."""
    format_for(path.name)  # refuse an unsupported file before reading its bytes
    return parse_bytes(path.read_bytes(), path.name, source or path.name, origin)


def iter_files(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """Yield (file, source) for every supported file under the given files and folders.

    The source is the path relative to the folder given (the file name for a file argument), in
    sorted order so ingest is deterministic. Hidden files and folders are skipped.
    """
    for root in paths:
        if root.is_file():
            yield root, root.name
        elif root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if path.is_file() and path.suffix.lower() in SUFFIXES:
                    yield path, relative.as_posix()
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")


def read_paths(paths: list[Path]) -> Iterator[Document]:
    for path, source in iter_files(paths):
        yield read_document(path, source)
