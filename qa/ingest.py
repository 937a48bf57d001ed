"""Files -> documents -> passages -> vectors -> the index, with a progress bar.

Files are parsed in parallel (PDFs each in a child process of their own) while the model embeds
what is already parsed. Each document is stored in one SQLite transaction, so a killed ingest leaves
every document either whole or absent, and the index still loads and answers. Unchanged files (same
bytes, same chunking settings) are skipped without parsing them or loading the model.
"""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from qa.documents import Document
from qa.errors import QAError
from qa.index import Index
from qa.readers import file_hash, iter_files, read_document

log = logging.getLogger(__name__)

EMBED_BATCH_PASSAGES = 256  # passages embedded together, across small documents
PARSE_WORKERS = max(1, min(4, os.cpu_count() or 1))  # files parsed at once, ahead of the model


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    empty: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unread_pages: list[tuple[str, int, str]] = field(default_factory=list)  # (source, page, why)
    passages: int = 0
    pages: int = 0  # pages (slides) of the paged documents read
    seconds: float = 0.0
    embed_seconds: float = 0.0
    parse_seconds: float = 0.0  # summed over the parsing workers
    parse_wait_seconds: float = 0.0  # time the writer waited for a file to be parsed
    first_batch_at: float | None = None  # the model loads lazily: the rate is counted from here

    @property
    def passages_per_second(self) -> float:
        return self.passages / self.seconds if self.seconds else 0.0

    @property
    def pages_per_second(self) -> float:
        """Pages parsed per second of one worker's time."""
        return self.pages / self.parse_seconds if self.parse_seconds else 0.0


def ingest(index: Index, paths: list[Path], prune: bool = False, progress: bool = True) -> IngestReport:
    report = IngestReport()
    started = time.perf_counter()
    files = list(iter_files([Path(p) for p in paths]))
    rechunk = index.chunking_changed
    existing = index.store.document_hashes()
    known_files = {} if rechunk else index.store.file_hashes()
    pending: list[Document] = []

    bar = tqdm(total=len(files), unit="doc", desc="ingest", disable=not progress, dynamic_ncols=True)
    for source, document in parse_ahead(files, known_files, report):
        if isinstance(document, Exception):
            report.failed.append((source, str(document)))
            log.warning("skipped %s: %s", source, document)
        elif document is None or (not rechunk and existing.get(source) == document.hash):
            report.unchanged += 1  # same bytes (or, for an index from before file hashes, same text)
        elif not document.text.strip():
            report.empty.append(source)
            report.unread_pages += [(source, page.number, page.problem) for page in document.unread_pages]
        else:
            report.pages += len(document.pages)
            report.unread_pages += [(source, page.number, page.problem) for page in document.unread_pages]
            pending.append(document)
            if sum(len(d.text) for d in pending) >= EMBED_BATCH_PASSAGES * 600:
                _store_batch(index, pending, existing, report, bar)
                pending = []
            continue  # the bar moves when the document is stored
        bar.update(1)
    if pending:
        _store_batch(index, pending, existing, report, bar)
    bar.close()

    if prune:
        present = {source for _, source in files}
        for document in index.store.documents():
            if document["source"] not in present:
                index.remove_document(document["id"])
                report.removed += 1
    if report.added or report.updated or report.removed or not index.vectors_file(index.store.generation).exists():
        index.save_vectors()
    if rechunk:
        index.record_chunking()
    report.seconds = time.perf_counter() - started
    return report


def parse_ahead(files: list[tuple[Path, str]], known_files: dict[str, str],
                report: IngestReport) -> Iterator[tuple[str, Document | Exception | None]]:
    """(source, document) in the files' order, parsed by PARSE_WORKERS threads a few files ahead of
    the caller (a PDF parses in a child process, so the threads really run at once). The document is
    None for a file whose bytes are unchanged, an exception for one that could not be read."""
    def parse(path: Path, source: str) -> tuple[Document | Exception | None, float]:
        began = time.perf_counter()
        try:
            if known_files.get(source) and known_files[source] == file_hash(path.read_bytes()):
                return None, 0.0
            return read_document(path, source), time.perf_counter() - began
        except (OSError, QAError) as error:
            return error, time.perf_counter() - began

    with ThreadPoolExecutor(PARSE_WORKERS, thread_name_prefix="parse") as pool:
        queued: list[tuple[str, Future]] = []
        upcoming = iter(files)
        for path, source in upcoming:  # keep 2 files a worker in flight: enough to hide parsing
            queued.append((source, pool.submit(parse, path, source)))
            if len(queued) >= 2 * PARSE_WORKERS:
                break
        while queued:
            source, future = queued.pop(0)
            waited = time.perf_counter()
            document, seconds = future.result()
            report.parse_wait_seconds += time.perf_counter() - waited
            report.parse_seconds += seconds
            following = next(upcoming, None)
            if following is not None:
                queued.append((following[1], pool.submit(parse, *following)))
            yield source, document


def add_documents(index: Index, documents: list[Document]) -> IngestReport:
    """Store documents that were read elsewhere (an upload), replacing any with the same source,
    and save the FAISS file. Returns the report; `report.passages` counts what was embedded."""
    report = IngestReport()
    started = time.perf_counter()
    existing = index.store.document_hashes()
    with tqdm(total=len(documents), disable=True) as bar:
        _store_batch(index, documents, existing, report, bar)
    index.save_vectors()
    report.seconds = time.perf_counter() - started
    return report


def _store_batch(index: Index, documents: list[Document], existing: dict[str, str], report: IngestReport, bar: tqdm) -> None:
    """Chunk and embed several documents together (bigger batches run faster), then store each.

    The model reads each passage once; each sentence also gets a vector, pooled from that pass: a
    question usually matches one sentence, whose own vector finds it where the passage's is diluted."""
    index.embedder  # the first batch loads the model; an ingest of unchanged files never does
    if report.first_batch_at is None:
        if existing:  # load FAISS and BM25 first, so they follow each write rather than being rebuilt
            index.refresh()
        report.first_batch_at = time.perf_counter()
    chunks = [index.chunk(document) for document in documents]
    texts, spans = [], []
    for document, passages in zip(documents, chunks):
        for passage in passages:
            text = index.embedding_text(document, passage.text)
            shift = len(text) - len(passage.text) - passage.start  # document offsets -> offsets in text
            texts.append(text)
            spans.append([(start + shift, end + shift) for start, end in passage.sentences])
    embed_started = time.perf_counter()
    vectors, sentence_vectors = index.embedder.encode_passages(texts, spans)
    report.embed_seconds += time.perf_counter() - embed_started
    offset = 0
    for document, passages in zip(documents, chunks):
        end = offset + len(passages)
        index.replace_document(document, passages, vectors[offset:end], sentence_vectors[offset:end])
        offset = end
        if document.source in existing:
            report.updated += 1
        else:
            report.added += 1
        report.passages += len(passages)
        elapsed = max(time.perf_counter() - report.first_batch_at, 1e-9)
        bar.set_postfix(passages=report.passages, rate=f"{report.passages / elapsed:.0f} passages/s")
        bar.update(1)
