"""Checks on an Office file's bytes before python-docx or python-pptx open them.

A .docx or .pptx is a zip of XML parts, and the libraries read every part into memory and parse
each XML part into a tree (about 16 bytes of memory per byte of XML), so a file that unpacks to
gigabytes (a zip bomb), holds a huge number of entries, more XML than can be parsed in the memory
a reader has (qa/readers/child.py), or is not a zip at all is refused here, before any unpacking,
with a message naming the file and the reason. What the package unpacks to is counted part by
part: all parts together (MAX_UNPACKED_BYTES), the XML parts together (MAX_XML_BYTES), each part's
compression ratio. The sizes come from the zip's directory; zipfile never inflates an entry past
its declared size, so a directory that lies gives a damaged-file error, not unbounded memory.

Example: 63 header parts of 4 MiB each (819 KB zipped; 4.1 GB and 23 s to open in python-docx) ->
"a.docx holds 252 MiB of XML parts; at most 64 MiB can be read ...".

A password-protected .docx/.pptx is not a zip but an OLE compound file (D0 CF 11 E0 ...) holding an
"EncryptedPackage" stream; an old binary .doc/.ppt renamed to .docx is OLE too.
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

from qa.errors import QAError, UnreadableFile

MAX_UNPACKED_BYTES = 256 * 2**20  # all entries together
MAX_XML_BYTES = 64 * 2**20  # the XML parts together: ~1 GiB once parsed, within the reader's 2 GiB
XML_PART = re.compile(r"\.(xml|rels|vml)$", re.IGNORECASE)
MAX_ENTRIES = 10_000
MAX_RATIO = 100  # uncompressed / compressed, for one entry larger than RATIO_MIN_BYTES
RATIO_MIN_BYTES = 4 * 2**20
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")  # OLE directory names are UTF-16

APPS = {".docx": ("Word", "Word document", ".doc"), ".pptx": ("PowerPoint", "PowerPoint presentation", ".ppt")}
# The main part's content type names the format: a .pptx renamed .docx says "presentationml".
MAIN_PART = re.compile(r"vnd\.(?:openxmlformats-officedocument\.|ms-)(wordprocessingml|word|presentationml|powerpoint|"
                       r"spreadsheetml|excel)\.[\w.]+\.main\+xml", re.IGNORECASE)
KINDS = {"wordprocessingml": ".docx", "word": ".docx", "presentationml": ".pptx", "powerpoint": ".pptx",
         "spreadsheetml": ".xlsx", "excel": ".xlsx"}
NOUNS = {".docx": "a Word document", ".pptx": "a PowerPoint presentation", ".xlsx": "an Excel workbook"}


def not_valid(source: str, suffix: str, reason: str = "") -> str:
    app, noun, _ = APPS[suffix]
    detail = f" ({reason})" if reason else ""
    return (f"{source} is not a valid {suffix} file (damaged or not a {noun}){detail}; "
            f"open it in {app} and save it again as {suffix}, then add it again.")


def check_package(data: bytes, source: str, suffix: str) -> None:
    """Refuse bytes that are not a safe zip package: raise UnreadableFile saying why."""
    app, _, legacy = APPS[suffix]
    if data.startswith(OLE_MAGIC):
        if ENCRYPTED_STREAM in data:
            raise UnreadableFile(f"{source} is password-protected; remove the password in {app} "
                                 f"(File > Info > Protect) and add it again.")
        raise UnreadableFile(f"{source} is an old binary {app} file ({legacy}) with a {suffix} name; "
                             f"open it in {app} and save it as {suffix}, then add it again.")
    if declared_entries(data) > MAX_ENTRIES:  # before zipfile builds an object per entry
        raise too_many(source, suffix)
    try:
        package = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise UnreadableFile(not_valid(source, suffix)) from error
    with package:
        check_entries(package, source, suffix)


def check_entries(package: zipfile.ZipFile, source: str, suffix: str) -> None:
    entries = package.infolist()
    if len(entries) > MAX_ENTRIES:
        raise too_many(source, suffix)
    if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
        raise UnreadableFile(f"{source} unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB "
                             f"(a zip bomb, or a file too large to read); refusing to unpack it.")
    xml = sum(entry.file_size for entry in entries if XML_PART.search(entry.filename))
    if xml > MAX_XML_BYTES:
        raise UnreadableFile(f"{source} holds {xml / 2**20:,.0f} MiB of XML parts; at most "
                             f"{MAX_XML_BYTES // 2**20} MiB can be read (a zip bomb, or a file too large to read); "
                             f"refusing to unpack it.")
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO:
            raise UnreadableFile(f"{source}: the entry {entry.filename} is compressed {ratio:,.0f} to 1 "
                                 f"(a zip bomb); refusing to unpack it.")
        if entry.flag_bits & 0x1:
            raise UnreadableFile(f"{source} is password-protected (an encrypted zip); "
                                 f"save it without a password and add it again.")
    types = next((entry for entry in entries if entry.filename == "[Content_Types].xml"), None)
    if types is None or types.file_size > 2**20:
        raise UnreadableFile(not_valid(source, suffix))
    try:
        kinds = {KINDS[m.group(1).lower()] for m in MAIN_PART.finditer(package.read(types).decode("utf-8", "replace"))}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as error:
        raise UnreadableFile(not_valid(source, suffix)) from error
    if kinds and suffix not in kinds:
        other = min(kinds)
        advice = f"rename it to {other} and add it again" if other in APPS else "qa cannot read it"
        raise UnreadableFile(f"{source} is {NOUNS[other]} ({other}), not {NOUNS[suffix]}; {advice}.")


def declared_entries(data: bytes) -> int:
    """The entry count in the zip's end record (0 when there is none: zipfile will say it is no zip).
    A Zip64 archive records 0xFFFF here, and is refused too: no Office file needs that many parts."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))  # the record and a comment of up to 64 KiB
    return int.from_bytes(data[end + 10:end + 12], "little") if 0 <= end <= len(data) - 22 else 0


def too_many(source: str, suffix: str) -> UnreadableFile:
    return UnreadableFile(f"{source} holds more than {MAX_ENTRIES:,} zip entries; it is not a normal {suffix} file.")


@contextmanager
def unreadable_on_error(source: str, suffix: str) -> Iterator[None]:
    """Any library exception while opening or walking the package -> UnreadableFile naming the file
    (a damaged part, a missing relationship, a .pptx named .docx), never a 500."""
    try:
        yield
    except QAError:
        raise
    except Exception as error:
        reason = re.sub(r"<_io\.BytesIO object at \w+>", "the file", " ".join(str(error).split()))
        reason = reason[:200] or type(error).__name__
        raise UnreadableFile(not_valid(source, suffix, reason)) from error


def core_metadata(properties) -> dict[str, str]:
    """An Office file's own metadata (docProps/core.xml) for its card (qa/cards.py): who wrote it and
    what it is about, white space folded; empty fields left out."""
    found = {"author": properties.author, "subject": properties.subject, "keywords": properties.keywords,
             "category": properties.category}
    return {key: " ".join(str(value).split())[:500] for key, value in found.items() if value and str(value).strip()}
