"""Files -> documents -> passages -> vectors -> the index, with a progress bar.

Files are parsed in parallel (PDFs each in a child process of their own) while the model embeds
what is already parsed. Each document is stored in one SQLite transaction, so a killed ingest leaves
every document either whole or absent, and the index still loads and answers. Unchanged files (same
bytes, same chunking settings) are skipped without parsing them or loading the model.
"""
from __future__ import annotations

import itertools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from qa.chunking import Passage
from qa.dates import file_date
from qa.documents import Document, document_id
from qa.embedding import Embedder
from qa.errors import BadRequest, DocumentConflict, QAError, UnreadableFile
from qa.index import Index
from qa.maxsim import pack
from qa.policy import ChunkingPolicy
from qa.metadata import DEFAULT_COLLECTION, check_source
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
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why): found but not read (qa/readers walk)
    unread_pages: list[tuple[str, int, str]] = field(default_factory=list)  # (source, page, why)
    passages: int = 0
    pages: int = 0  # pages (slides) of the paged documents read
    seconds: float = 0.0
    embed_seconds: float = 0.0
    parse_seconds: float = 0.0  # summed over the parsing workers
    parse_wait_seconds: float = 0.0  # time the writer waited for a file to be parsed
    started_at: float | None = None  # perf_counter() when the ingest began
    first_batch_at: float | None = None  # the model loads lazily: the rate is counted from here
    last_stored_at: float | None = None  # when the last embedded document was stored

    @property
    def passages_per_second(self) -> float:
        """End to end: every passage over the whole run, start-up and saving included."""
        return self.passages / self.seconds if self.seconds else 0.0

    @property
    def embedding_seconds(self) -> float:
        """From the first batch to the last document stored: chunking, embedding and storing, the
        time the progress bar's rate counts (not the model's start-up)."""
        if self.first_batch_at is None or self.last_stored_at is None:
            return 0.0
        return self.last_stored_at - self.first_batch_at

    @property
    def embedding_rate(self) -> float:
        """Passages a second while embedding (the progress bar's rate)."""
        return self.passages / self.embedding_seconds if self.embedding_seconds > 0 else 0.0

    @property
    def startup_seconds(self) -> float:
        """Before the first batch: the first files read, the model loaded (exported to ONNX on the
        first run), FAISS and BM25 loaded. Seconds on the seeds, against a fraction of one embedding."""
        if self.first_batch_at is None or self.started_at is None:
            return 0.0
        return self.first_batch_at - self.started_at

    @property
    def pages_per_second(self) -> float:
        """Pages parsed per second of one worker's time."""
        return self.pages / self.parse_seconds if self.parse_seconds else 0.0


def ingest(index: Index, paths: list[Path], prune: bool = False, progress: bool = True,
           collection: str = DEFAULT_COLLECTION, tags: list[str] | None = None,
           follow_links: bool = False) -> IngestReport:
    """Read the files under `paths` into a collection of the index. With `prune`, documents of that
    collection that came from one of the folders given and whose file is gone are removed (never
    uploads, never other folders'). `tags` (None: keep each document's) go on every file given,
    unchanged ones too; a document's date is its file's metadata's, else the file's mtime. Links
    leaving a folder are skipped (report.skipped) unless `follow_links` (qa/readers iter_files)."""
    report = IngestReport()
    started = report.started_at = time.perf_counter()
    files = source_files([Path(p) for p in paths], report.skipped, follow_links)
    rechunk = index.chunking_changed
    existing = index.store.document_hashes(collection)
    unchanged_ids: list[str] = []
    pending: list[Document] = []

    def stored(file: SourceFile) -> tuple[str, str] | None:
        """(text hash, file hash) of this file's stored version (one from before origins counts)."""
        return existing.get((file.origin, file.source)) or existing.get((None, file.source))

    bar = tqdm(total=len(files), unit="doc", desc="ingest", disable=not progress, dynamic_ncols=True)
    unchanged_bytes = {} if rechunk else {f.path: found[1] for f in files if (found := stored(f)) and found[1]}
    for file, document in parse_ahead(files, unchanged_bytes, report):
        if isinstance(document, Exception):
            report.failed.append((file.source, str(document)))
            log.warning("skipped %s: %s", file.path, document)
        elif document is None or (not rechunk and (stored(file) or ("",))[0] == document.hash):
            report.unchanged += 1  # same bytes (or, for an index from before file hashes, same text)
            unchanged_ids.append(document_id(file.source, file.origin, collection))
            if document is not None:  # read again (new readers, or no file hash yet): remember these bytes
                index.store.record_reading(unchanged_ids[-1], document.file_hash, document.pages)
        elif not document.text.strip():
            report.empty.append(file.source)
            report.unread_pages += [(file.source, page.number, page.problem) for page in document.unread_pages]
        else:
            document.place(collection)
            edited = index.store.edited_card(collection, file.origin, file.source)
            if edited is not None:  # fields set through the API outlive a new reading of the file
                document.card.keep_edits(edited)
                document.title = document.card.title.value if document.card.title else document.title
            document.tags = tags
            document.date = document.date or file_date(file.path)
            report.pages += len(document.pages)
            report.unread_pages += [(file.source, page.number, page.problem) for page in document.unread_pages]
            pending.append(document)
            if sum(len(d.text) for d in pending) >= EMBED_BATCH_PASSAGES * 600:
                _store_batch(index, pending, report, bar)
                pending = []
            continue  # the bar moves when the document is stored
        bar.update(1)
    if pending:
        _store_batch(index, pending, report, bar)
    bar.close()

    finish(index, files, paths, report, prune=prune, rechunk=rechunk, collection=collection, tags=tags,
           unchanged_ids=unchanged_ids)
    report.seconds = time.perf_counter() - started
    return report


def finish(index: Index, files: list[SourceFile], paths: list[Path], report: IngestReport, prune: bool,
           rechunk: bool, collection: str, tags: list[str] | None, unchanged_ids: list[str]) -> None:
    """After the files are stored: retag the unchanged, prune, save the derived files and record the
    chunking settings (the same for a local ingest and one embedded on a cluster, qa/cluster/ingest.py)."""
    if tags is not None and unchanged_ids:
        index.store.retag(unchanged_ids, tags)
    if prune:
        for folder in {file.origin for file in files if file.from_folder} | empty_folders(paths):
            present = {file.source for file in files if file.origin == folder}
            for gone, source in index.store.documents_from(folder, collection):
                if source not in present:
                    index.remove_document(gone)
                    report.removed += 1
    if (report.added or report.updated or report.removed or not index.vectors_file(index.store.generation).exists()
            or index.derived.arrays_behind(lag=0)):
        index.save_vectors()
    if rechunk and not report.failed:
        index.record_chunking()
    elif rechunk:  # the documents of the files that failed keep their old passages: try them all again next time
        log.warning("%d files could not be read, so their documents keep the passages of the previous chunking "
                    "settings; the next ingest reads every file again", len(report.failed))


@dataclass
class SourceFile:
    path: Path
    source: str  # how citations name it: the path under the folder given
    origin: str  # the folder given (for a file argument, its folder), resolved
    from_folder: bool  # given as part of a folder (only those are pruned)
    contained: bool = False  # must still lie inside `origin` when it is read (found in a folder, links not followed)

    def checked_path(self) -> Path:
        """The file to read. A file that must stay in its folder is looked at again as it is read:
        turned into a link out of the folder since the walk, it is refused."""
        if not self.contained:
            return self.path
        real = self.path.resolve()
        if not real.is_relative_to(self.origin):
            raise UnreadableFile(f"{self.source} now leads outside {self.origin}; not read "
                                 f"(--follow-links reads links that leave the folder).")
        return real


def source_files(paths: list[Path], skipped: list[tuple[str, str]] | None = None,
                 follow_links: bool = False) -> list[SourceFile]:
    """Every supported file under `paths`, with the folder it was found in. Links leaving a folder
    and files whose name a source may not hold (a line break, a control character: qa/metadata.py
    check_source) are left out, and listed in `skipped` with the reason (names written with escapes)."""
    files = []
    skipped = skipped if skipped is not None else []
    for root in paths:
        folder = root.resolve() if root.is_dir() else root.resolve().parent
        found: list[tuple[str, str]] = []
        for path, source in iter_files([root], follow_links, found):
            try:
                check_source(source)
            except BadRequest as error:
                found.append((source, error.message.split(": ", 1)[1]))
                continue
            files.append(SourceFile(path, source, str(folder), root.is_dir(), root.is_dir() and not follow_links))
        skipped += [(printable(source), why) for source, why in found]
    return files


def printable(source: str) -> str:
    """A name as it can be printed on one line: "a\\nb.txt" for a name holding a newline."""
    return repr(source)[1:-1]


def empty_folders(paths: list[Path]) -> set[str]:
    """Folders given that hold no file any more: pruning them removes all they had."""
    return {str(Path(p).resolve()) for p in paths if Path(p).is_dir()}


def parse_ahead(files: list[SourceFile], unchanged_bytes: dict[Path, str],
                report: IngestReport) -> Iterator[tuple[SourceFile, Document | Exception | None]]:
    """(file, document) in the files' order, parsed by PARSE_WORKERS threads a few files ahead of
    the caller (a PDF parses in a child process, so the threads really run at once). The document is
    None for a file whose bytes are unchanged, an exception for one that could not be read."""
    def parse(file: SourceFile) -> tuple[Document | Exception | None, float]:
        began = time.perf_counter()
        try:
            path = file.checked_path()
            if file.path in unchanged_bytes and unchanged_bytes[file.path] == file_hash(path.read_bytes()):
                return None, 0.0
            return read_document(path, file.source, file.origin), time.perf_counter() - began
        except (OSError, QAError) as error:
            return error, time.perf_counter() - began

    with ThreadPoolExecutor(PARSE_WORKERS, thread_name_prefix="parse") as pool:
        upcoming = iter(files)
        queued = [(file, pool.submit(parse, file)) for file in itertools.islice(upcoming, 2 * PARSE_WORKERS)]
        while queued:  # keep 2 files a worker in flight: enough to hide parsing behind the model
            file, future = queued.pop(0)
            waited = time.perf_counter()
            document, seconds = future.result()
            report.parse_wait_seconds += time.perf_counter() - waited
            report.parse_seconds += seconds
            following = next(upcoming, None)
            if following is not None:
                queued.append((following, pool.submit(parse, following)))
            yield file, document


def add_documents(index: Index, documents: list[Document]) -> IngestReport:
    """Store documents that were read elsewhere (an upload), replacing any with the same source.
    The derived files are saved in the background (qa/saver.py), not on the request. Returns the
    report; `report.passages` counts what was embedded."""
    report = IngestReport()
    started = time.perf_counter()
    with tqdm(total=len(documents), disable=True) as bar:
        _store_batch(index, documents, report, bar, upload=True)
    report.seconds = time.perf_counter() - started
    return report


def prepare(documents: list[Document], policy: ChunkingPolicy, embedder: Embedder, upload: bool = False
            ) -> tuple[list[list[Passage]], np.ndarray, list[np.ndarray], float, list[bytes]]:
    """Chunk and embed documents together: (passages of each, their vectors in order, sentence
    vectors, seconds spent embedding, packed content-word states for re-ranking, qa/maxsim.py).
    A cluster worker runs the same (qa/cluster/ingest.py). `upload`: into a running service, so
    encoded off the questions' way (Embedder.encode)."""
    chunks = [policy.chunk(document, embedder) for document in documents]
    texts, spans = [], []
    for document, passages in zip(documents, chunks):
        for passage in passages:
            text = policy.embedding_text(document.label, passage.context, passage.text)
            shift = len(text) - len(passage.text) - passage.start  # document offsets -> offsets in text
            texts.append(text)
            spans.append([(start + shift, end + shift) for start, end in passage.sentences])
    started = time.perf_counter()
    encoded = embedder.encode(texts, spans, words=True, upload=upload)
    seconds = time.perf_counter() - started
    return chunks, encoded.vectors, encoded.sentence_vectors, seconds, [pack(states) for states in encoded.words]


def _store_batch(index: Index, documents: list[Document], report: IngestReport, bar: tqdm,
                 upload: bool = False) -> None:
    """Chunk and embed several documents together (bigger batches run faster), then store each.

    The model reads each passage once; each sentence also gets a vector, pooled from that pass: a
    question usually matches one sentence, whose own vector finds it where the passage's is diluted."""
    index.embedder  # the first batch loads the model; an ingest of unchanged files never does
    if report.first_batch_at is None:
        if index.store.counts()[0]:  # load FAISS and BM25 first, so they follow each write rather than being rebuilt
            index.refresh()
        report.first_batch_at = time.perf_counter()
    chunks, vectors, sentence_vectors, seconds, word_states = prepare(documents, index.policy, index.embedder, upload)
    report.embed_seconds += seconds
    offset = 0
    for document, passages in zip(documents, chunks):
        end = offset + len(passages)
        try:
            change = index.replace_document(document, passages, vectors[offset:end], sentence_vectors[offset:end],
                                            word_states[offset:end])
        except DocumentConflict as error:
            if upload:
                raise  # 409 to the client
            report.failed.append((document.source, error.message))
            bar.update(1)
            continue
        finally:
            offset = end
        if change.replaced:
            report.updated += 1
        else:
            report.added += 1
        report.passages += len(passages)
        report.last_stored_at = time.perf_counter()
        elapsed = max(report.last_stored_at - report.first_batch_at, 1e-9)
        bar.set_postfix(passages=report.passages, rate=f"{report.passages / elapsed:.0f} passages/s")
        bar.update(1)
