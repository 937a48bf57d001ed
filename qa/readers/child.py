"""A reader run in a child process under a time and a memory cap, so a hostile file costs one
UnreadableFile (422), never the server's memory, a request thread held for minutes, or the
questions' share of the CPU and the GIL.

What every parse may cost (the one place these limits are set):

    MEMORY_LIMIT    2 GiB of address space for the child (RLIMIT_AS), and so for the parser in it
    PARSE_SECONDS   60 s of wall-clock time; the child is killed past it
    NICENESS        the child runs at a lower CPU priority than the questions

PDFs run in qa/readers/pdf_worker.py (PDFium, a script that never imports qa) under the same
memory limit and a time limit of their own that grows with the pages PDFium counts (qa/readers/
pdf.py). Every other format runs its reader's read(data, source) here: in a process forked from a
fork server that has the readers imported (a few milliseconds a file, not an interpreter start),
the Document sent back as JSON (pydantic, every field of the dataclass, so fields added later
arrive too) and the reader's own error as its class and message. Nothing from the child is
unpickled: a child that a parser bug let an attacker control can send bad JSON, not code.

Example: read_in_child("docx", data, "a.docx") -> Document, or UnreadableFile("a.docx: reading
it took longer than 60 s ...") after 60 s, the child killed.
"""
from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import resource
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from pydantic import TypeAdapter, ValidationError

from qa.documents import Document
from qa.errors import BadRequest, QAError, UnreadableFile, UnsupportedFile

MEMORY_LIMIT = 2 << 30  # bytes of address space for a parsing child (pdf_worker.py takes it as an argument)
PARSE_SECONDS = 60
NICENESS = 10  # added to the child's nice value: questions get the CPU first
PRELOADED = ["qa.readers.child", "qa.readers.text", "qa.readers.html", "qa.readers.docx", "qa.readers.pptx",
             "trafilatura"]

DOCUMENT = TypeAdapter(Document)
REPORTED = {kind.__name__: kind for kind in (UnreadableFile, UnsupportedFile, BadRequest)}  # what a reader raises
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOADED)


_starting = threading.Lock()


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """Start children without the caller's main module. multiprocessing runs the parent's main script
    again in the fork server and in each child (to find targets defined there); ours is in this
    module, and a script that calls qa.read_document without an `if __name__ == "__main__":` guard
    would otherwise run itself again in every child, each read failing."""
    main = sys.modules.get("__main__")
    with _starting:
        saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if main and name in main.__dict__}
        for name in saved:
            setattr(main, name, None) if name == "__spec__" else delattr(main, name)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(main, name, value)


def read_in_child(reader: str, data: bytes, source: str) -> Document:
    """`qa.readers.<reader>.read(data, source)` in a bounded child process."""
    receiving, sending = _context.Pipe(duplex=False)
    process = _context.Process(target=child_main, args=(reader, data, source, sending), name=f"qa-read-{reader}",
                               daemon=True)
    with main_module_hidden():
        process.start()
    sending.close()
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(PARSE_SECONDS, stop)
    timer.daemon = True
    timer.start()
    try:
        try:
            message = receiving.recv_bytes()  # until the child answers, or dies (killed past the limit)
        except (EOFError, OSError):
            message = None
    finally:
        timer.cancel()
        receiving.close()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    if message is None:
        if timed_out.is_set():
            raise UnreadableFile(f"{source}: reading it took longer than {PARSE_SECONDS} s; it may be damaged "
                                 f"or built to stall the reader.")
        raise UnreadableFile(f"{source}: the reader failed on it ({death(process.exitcode)}).")
    return answer(message, source)


def answer(message: bytes, source: str) -> Document:
    """The child's message -> its Document, or the error it reported raised here."""
    if message.startswith(b'{"error"'):
        found = json.loads(message)["error"]
        raise REPORTED.get(found.get("class"), UnreadableFile)(str(found.get("message", "")))
    try:
        return DOCUMENT.validate_json(message)
    except ValidationError as error:
        raise UnreadableFile(f"{source}: the reader's answer was not a document ({error.error_count()} "
                             f"errors).") from None


def death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"it crashed ({signal.Signals(-exitcode).name})"
    return f"it ran out of memory ({MEMORY_LIMIT >> 30} GiB) or crashed"


def child_main(reader: str, data: bytes, source: str, sending: Connection) -> None:
    """In the child: cap the memory, step back on the CPU, read, send the answer."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.nice(NICENESS)
    try:
        document = importlib.import_module(f"qa.readers.{reader}").read(data, source)
        message = DOCUMENT.dump_json(document)
    except QAError as error:
        message = error_message(type(error).__name__, error.message)
    except MemoryError:
        message = error_message("UnreadableFile", f"{source}: reading it needed more than the "
                                                  f"{MEMORY_LIMIT >> 30} GiB a file may take")
    except RecursionError:
        message = error_message("UnreadableFile", f"{source}: it is nested too deeply to read")
    except Exception as error:  # noqa: BLE001 - a reader's bug is this file's 422, not the server's 500
        message = error_message("UnreadableFile", f"{source}: the reader failed on it "
                                                  f"({type(error).__name__}: {str(error)[:200]})")
    sending.send_bytes(message)
    sending.close()


def error_message(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"class": kind, "message": message}}).encode()
