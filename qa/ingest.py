"""Files -> documents -> passages -> vectors -> the index, with a progress bar.

Each document is stored in one SQLite transaction, so a killed ingest leaves every document either
whole or absent, and the index still loads and answers. Unchanged files (same content hash, same
chunking settings) are skipped without loading or running the model for them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from qa.documents import Document
from qa.readers import iter_files, read_document
from qa.errors import QAError
from qa.index import Index

log = logging.getLogger(__name__)

EMBED_BATCH_PASSAGES = 256  # passages embedded together, across small documents


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    empty: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    passages: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    first_batch_at: float | None = None  # the model loads lazily: the rate is counted from here

    @property
    def passages_per_second(self) -> float:
        return self.passages / self.seconds if self.seconds else 0.0


def ingest(index: Index, paths: list[Path], prune: bool = False, progress: bool = True) -> IngestReport:
    report = IngestReport()
    started = time.perf_counter()
    files = list(iter_files([Path(p) for p in paths]))
    rechunk = index.chunking_changed
    existing = index.store.document_hashes()
    known = {} if rechunk else existing
    pending: list[Document] = []

    bar = tqdm(total=len(files), unit="doc", desc="ingest", disable=not progress, dynamic_ncols=True)
    for path, source in files:
        try:
            document = read_document(path, source)
        except (OSError, QAError) as error:
            report.failed.append((source, str(error)))
            log.warning("skipped %s: %s", path, error)
            bar.update(1)
            continue
        if not document.text.strip():
            report.empty.append(source)
            bar.update(1)
            continue
        if known.get(source) == document.hash:
            report.unchanged += 1
            bar.update(1)
            continue
        pending.append(document)
        if sum(len(d.text) for d in pending) >= EMBED_BATCH_PASSAGES * 600:
            _store_batch(index, pending, existing, report, bar)
            pending = []
    if pending:
        _store_batch(index, pending, existing, report, bar)
    bar.close()

    if prune:
        present = {source for _, source in files}
        for document in index.store.documents():
            if document["source"] not in present:
                index.remove_document(document["id"])
                report.removed += 1
    if report.added or report.updated or report.removed or not (index.folder / "vectors.faiss").exists():
        index.save_vectors()
    if rechunk:
        index.record_chunking()
    report.seconds = time.perf_counter() - started
    return report


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
