"""Files -> Documents: one reader per format, chosen by the file's suffix from FORMATS.

FORMATS is the one list of what qa reads: the ingest's file walk, the upload allow-list, every
"supported formats" message and the OpenAPI description are all written from it. Each reader is a
function `read(data: bytes, source: str) -> Document` in the module named here, run in a child
process under a time and memory cap (qa/readers/child.py), never in the server's own process.
"""
from __future__ import annotations

import hashlib
import importlib
import os
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
    own_child: bool = False  # the reader runs its parser in a bounded child of its own; else qa/readers/child.py


FORMATS: tuple[Format, ...] = (
    Format("txt", (".txt",), "plain text", "text"),
    Format("md", (".md", ".markdown"), "Markdown", "text"),
    Format("html", (".html", ".htm"), "HTML", "html"),
    Format("pdf", (".pdf",), "PDF", "pdf", paged=True, own_child=True),
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
    """A file's bytes -> Document, by the reader for its suffix (".pdf" or a name like "a.pdf"), run
    in a child process with a time and memory cap (qa/readers/child.py; PDFium in its own).
    `origin` is the folder the file was ingested from ("" for an upload)."""
    format = BY_SUFFIX.get(suffix_or_name.lower()) or format_for(suffix_or_name)
    if format.own_child:
        document = importlib.import_module(f"qa.readers.{format.reader}").read(data, source)
    else:
        from qa.readers.child import read_in_child

        document = read_in_child(format.reader, data, source)
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
    """Read one file. `source` is how citations name it (default: the file name); its suffix picks
    the reader (a link's real path may have another name)."""
    name = source or path.name
    format_for(name)  # refuse an unsupported file before reading its bytes
    return parse_bytes(path.read_bytes(), name, name, origin)


def iter_files(paths: list[Path], follow_links: bool = False,
               skipped: list[tuple[str, str]] | None = None) -> Iterator[tuple[Path, str]]:
    """Yield (file, source) for every supported file under the given files and folders.

    The source is the path relative to the folder given (the file name for a file argument), in
    sorted order so ingest is deterministic. Hidden files and folders are skipped. A link, to a
    file or a folder, is read when it points inside the folder given; one that leaves it (to
    /etc/passwd, to /proc/self/environ, to another user's folder) is not, and is listed in
    `skipped` as (source, why), unless `follow_links`. A link read is yielded as the real path it
    points to, so reading it does not follow the link again. Each real folder is walked once, so
    a link back up cannot loop. A file named itself is read as named, link or not.

    Example: docs/{a.txt, passwd.txt -> /etc/passwd, notes -> /home/x/notes} -> ("a.txt") only;
    skipped ["passwd.txt: a link to /etc/passwd, outside the folder ...", "notes: ..."]."""
    for root in paths:
        if root.is_file():
            yield root, root.name
        elif root.is_dir():
            yield from walk(root, follow_links, skipped if skipped is not None else [])
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")


def walk(root: Path, follow_links: bool, skipped: list[tuple[str, str]]) -> Iterator[tuple[Path, str]]:
    """iter_files for one folder: a walk in sorted order that judges every link it meets."""
    top = root.resolve()
    walked: set[Path] = set()

    def visit(folder: Path, prefix: str) -> Iterator[tuple[Path, str]]:
        real = folder.resolve()
        if real in walked:
            return
        walked.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:  # a folder we may not list is passed over, as before
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path, source = Path(entry.path), prefix + entry.name
            wanted = path.suffix.lower() in SUFFIXES
            if entry.is_symlink():
                target = path.resolve()
                if not follow_links and not target.is_relative_to(top):
                    if target.is_dir() or (wanted and target.exists()):
                        skipped.append((source, f"a link to {target}, outside the folder; not read "
                                                f"(--follow-links reads links that leave the folder)"))
                    continue
                path = target
            if path.is_dir():
                yield from visit(path, source + "/")
            elif wanted and path.is_file():
                yield path, source

    yield from visit(root, "")


def read_paths(paths: list[Path]) -> Iterator[Document]:
    for path, source in iter_files(paths):
        yield read_document(path, source)
