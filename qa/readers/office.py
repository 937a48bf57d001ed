"""Checks on an Office file's bytes before python-docx or python-pptx open them.

A .docx or .pptx is a zip of XML parts, and the libraries read every part into memory, so a file
that unpacks to gigabytes (a zip bomb), holds a huge number of entries, or is not a zip at all is
refused here, before any unpacking, with a message naming the file and the reason. The sizes come
from the zip's directory; zipfile never inflates an entry past its declared size, so a directory
that lies gives a damaged-file error, not unbounded memory.

A password-protected .docx/.pptx is not a zip but an OLE compound file (D0 CF 11 E0 ...) holding an
"EncryptedPackage" stream; an old binary .doc/.ppt renamed to .docx is OLE too.
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

from qa.errors import QAError, UnreadableFile

MAX_UNPACKED_BYTES = 256 * 2**20  # all entries together
MAX_ENTRIES = 10_000
MAX_RATIO = 100  # uncompressed / compressed, for one entry larger than RATIO_MIN_BYTES
RATIO_MIN_BYTES = 4 * 2**20
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")  # OLE directory names are UTF-16

APPS = {".docx": ("Word", "Word document", ".doc"), ".pptx": ("PowerPoint", "PowerPoint presentation", ".ppt")}


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
    try:
        with zipfile.ZipFile(BytesIO(data)) as package:
            entries = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise UnreadableFile(not_valid(source, suffix)) from error
    if len(entries) > MAX_ENTRIES:
        raise UnreadableFile(f"{source} holds {len(entries):,} zip entries (at most {MAX_ENTRIES:,}); "
                             f"it is not a normal {suffix} file.")
    if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
        raise UnreadableFile(f"{source} unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB "
                             f"(a zip bomb, or a file too large to read); refusing to unpack it.")
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO:
            raise UnreadableFile(f"{source}: the entry {entry.filename} is compressed {ratio:,.0f} to 1 "
                                 f"(a zip bomb); refusing to unpack it.")
        if entry.flag_bits & 0x1:
            raise UnreadableFile(f"{source} is password-protected (an encrypted zip); "
                                 f"save it without a password and add it again.")
    if not any(entry.filename == "[Content_Types].xml" for entry in entries):
        raise UnreadableFile(not_valid(source, suffix))


@contextmanager
def unreadable_on_error(source: str, suffix: str) -> Iterator[None]:
    """Any library exception while opening or walking the package -> UnreadableFile naming the file
    (a damaged part, a missing relationship, a .pptx named .docx), never a 500."""
    try:
        yield
    except QAError:
        raise
    except Exception as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise UnreadableFile(not_valid(source, suffix, reason)) from error
