"""Distributed ingest: files read, chunked and embedded across a Ray cluster, stored by one writer.

    driver       lists the files, skips those whose bytes are stored already (file hashes, as a
                 local ingest does) before anything is shipped
    Ray Data     map_batches over the rest with a pool of Embedding actors (one CPU each, as many as
                 the cluster has CPUs): each loads the model once, then reads, chunks and embeds its
                 files with the very steps of a local ingest (qa/ingest.py `prepare`)
    driver       the one writer: results stream back in the files' order and are committed document
                 by document, exactly as a local ingest commits them

The files must be readable at the same path on every node (shared storage, as the index is).
Ray may compute a batch twice (a node lost mid-batch); a result is committed once, keyed by the
document and its content hash. A driver killed midway leaves whole documents only; a rerun skips
them by their file hash and ships the rest.
"""
from __future__ import annotations

import logging
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from qa.chunking import Passage
from qa.cluster.connect import connect
from qa.dates import file_date
from qa.documents import Document, document_id
from qa.errors import QAError
from qa.index import Index
from qa.ingest import IngestReport, SourceFile, finish, prepare, source_files
from qa.metadata import DEFAULT_COLLECTION
from qa.policy import ChunkingPolicy
from qa.readers import file_hash, read_document

log = logging.getLogger(__name__)

FILES_PER_BATCH = 16  # files a worker embeds together (bigger batches embed faster, smaller balance better)


@dataclass
class Prepared:
    """One file as a worker hands it back: a document chunked and embedded, or why not."""
    origin: str
    source: str
    document: Document | None = None
    error: str | None = None
    embedded: bool = False  # False: empty, or its text is stored already (nothing embedded)
    passages: list[Passage] = field(default_factory=list)
    vectors: np.ndarray | None = None
    sentence_vectors: list[np.ndarray] = field(default_factory=list)
    word_states: list[bytes] = field(default_factory=list)  # packed, for re-ranking (qa/maxsim.py)
    parse_seconds: float = 0.0
    embed_seconds: float = 0.0


@dataclass
class ClusterIngestReport(IngestReport):
    write_seconds: float = 0.0  # the one writer's time committing (what bounds a cluster ingest at scale)
    workers: int = 0  # embedding actors the pool could grow to

    @property
    def writer_passages_per_second(self) -> float:
        return self.passages / self.write_seconds if self.write_seconds else 0.0


class Embedding:
    """A Ray Data actor: reads, chunks and embeds batches of files; the model loads once an actor."""

    def __init__(self, model: str | None, backend: str, chunking: dict, collection: str, tags: list[str] | None):
        from qa.embedding import load_embedder

        self.embedder = load_embedder(model, backend)
        self.policy = ChunkingPolicy(chunking)
        self.collection, self.tags = collection, tags

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results, to_embed = [], []
        for path, source, origin, stored in zip(batch["path"], batch["source"], batch["origin"], batch["stored_hash"]):
            result = Prepared(str(origin), str(source))
            began = time.perf_counter()
            try:
                result.document = read_document(Path(path), result.source, result.origin)
            except (OSError, QAError) as error:
                result.error = str(error)
            result.parse_seconds = time.perf_counter() - began
            document = result.document
            if document is not None and document.text.strip() and document.hash != stored:
                document.place(self.collection)  # as qa/ingest.py, before chunking: passages carry the id
                document.tags = self.tags
                document.date = document.date or file_date(Path(path))
                to_embed.append(result)
            results.append(result)
        if to_embed:
            chunks, vectors, sentence_vectors, seconds, word_states = prepare(
                [r.document for r in to_embed], self.policy, self.embedder)
            offset = 0
            for result, passages in zip(to_embed, chunks):
                end = offset + len(passages)
                result.passages, result.vectors = passages, vectors[offset:end]
                result.sentence_vectors, result.word_states = sentence_vectors[offset:end], word_states[offset:end]
                result.embedded = True
                result.embed_seconds = seconds * len(passages) / max(len(vectors), 1)
                offset = end
        return {"payload": np.array([pickle.dumps(result) for result in results], dtype=object)}


def ingest(index: Index, paths: list[Path], address: str, prune: bool = False, progress: bool = True,
           collection: str = DEFAULT_COLLECTION, tags: list[str] | None = None,
           files_per_batch: int = FILES_PER_BATCH, on_commit: Callable[[IngestReport], None] | None = None,
           follow_links: bool = False) -> ClusterIngestReport:
    """As qa.ingest.ingest, the parsing and embedding done on the Ray cluster at `address`.
    `on_commit` is called after each document is stored (progress, and the fault tests' hook)."""
    report = ClusterIngestReport()
    started = report.started_at = time.perf_counter()
    files = source_files([Path(p) for p in paths], report.skipped, follow_links)
    rechunk = index.chunking_changed
    if rechunk and not index.store.counts()[0]:  # a new index: recorded now, so a killed first run resumes
        index.record_chunking()
        rechunk = False
    existing = index.store.document_hashes(collection)
    unchanged_ids: list[str] = []

    def stored(file: SourceFile) -> tuple[str, str]:
        return existing.get((file.origin, file.source)) or existing.get((None, file.source)) or ("", "")

    shipped = []
    for file in files:  # unchanged bytes are skipped here, before any work is shipped
        try:
            same = not rechunk and stored(file)[1] and stored(file)[1] == file_hash(file.path.read_bytes())
        except OSError as error:
            report.failed.append((file.source, str(error)))
            continue
        if same:
            report.unchanged += 1
            unchanged_ids.append(document_id(file.source, file.origin, collection))
        else:
            shipped.append(file)

    bar = tqdm(total=len(shipped), unit="doc", desc="ingest (ray)", disable=not progress, dynamic_ncols=True)
    committed: set[tuple[str, str, str]] = set()  # (origin, source, text hash): a batch computed twice lands once
    for result in prepared_on_cluster(index, shipped, address, rechunk, stored, collection, tags, files_per_batch):
        report.parse_seconds += result.parse_seconds
        report.embed_seconds += result.embed_seconds
        document = result.document
        key = (result.origin, result.source, document.hash if document else "")
        if key in committed:
            continue
        committed.add(key)
        bar.update(1)
        if result.error is not None:
            report.failed.append((result.source, result.error))
            log.warning("skipped %s: %s", result.source, result.error)
            continue
        report.unread_pages += [(result.source, page.number, page.problem) for page in document.unread_pages]
        if not document.text.strip():
            report.empty.append(result.source)
        elif not result.embedded:
            report.unchanged += 1  # same text as stored (new readers, or an index from before file hashes)
            unchanged_ids.append(document_id(result.source, result.origin, collection))
            index.store.record_reading(unchanged_ids[-1], document.file_hash, document.pages)  # as qa/ingest.py
        else:
            if report.first_batch_at is None:
                start_writing(index, result.vectors.shape[1])
                report.first_batch_at = time.perf_counter()
            writing = time.perf_counter()
            change = index.replace_document(document, result.passages, result.vectors, result.sentence_vectors,
                                            result.word_states)
            report.write_seconds += time.perf_counter() - writing
            report.updated += change.replaced
            report.added += not change.replaced
            report.pages += len(document.pages)
            report.passages += len(result.passages)
            report.last_stored_at = time.perf_counter()
            if on_commit is not None:
                on_commit(report)
    bar.close()
    finish(index, files, paths, report, prune=prune, rechunk=rechunk, collection=collection, tags=tags,
           unchanged_ids=unchanged_ids)
    report.seconds = time.perf_counter() - started
    return report


def prepared_on_cluster(index: Index, files: list[SourceFile], address: str, rechunk: bool,
                        stored: Callable[[SourceFile], tuple[str, str]], collection: str, tags: list[str] | None,
                        files_per_batch: int):
    """The files read, chunked and embedded by a pool of actors, streamed back in the files' order."""
    if not files:
        return
    ray = connect(address)
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # passages get the ids a local ingest gives them
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    rows = [{"path": str(file.path.resolve()), "source": file.source, "origin": file.origin,
             "stored_hash": "" if rechunk else stored(file)[0]} for file in files]
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / files_per_batch)))
    dataset = dataset.map_batches(
        Embedding, batch_size=files_per_batch, batch_format="numpy", num_cpus=1,
        compute=ActorPoolStrategy(min_size=1, max_size=min(workers, math.ceil(len(rows) / files_per_batch))),
        fn_constructor_kwargs={"model": index.model_path, "backend": index.backend,
                               "chunking": index.policy.settings, "collection": collection, "tags": tags})
    for row in dataset.iter_rows():
        yield pickle.loads(row["payload"])


def start_writing(index: Index, dimension: int) -> None:
    """Before the first commit: the model recorded (from the workers' vectors: the driver never loads
    it), and FAISS and BM25 loaded so they follow each write rather than being rebuilt at the end."""
    if index.store.get_meta("model") is None:
        index.store.set_meta({"model": index.model, "dimension": str(dimension)})
        index.files.write_meta(index.model, dimension)
    if index.store.counts()[0]:
        index.refresh()
