"""The candidates' rows in memory-mapped arrays, derived from SQLite like the FAISS file.

A question scores ~100 candidate passages: their text and offsets, passage vector, sentence spans and
sentence vectors. Read from SQLite that is a query over rows with overflow pages and three BLOBs
each, converted: 2.4 ms a question at 100k passages with every page cached, several times that cold.
Here each is a slice of an array the page cache shares between processes.

    arrays/<after>-<last>/     a segment: every stored passage with an id in (after, last]
      ids.npy                  int64, ascending
      numbers.npy              int64 (n, 12): NUMBER_COLUMNS
      vectors.npy              float32 (n, dimension)
      spans.npy                int32 (sentences, 2): document offsets of each sentence
      sentence_vectors.npy     float32 (sentences, dimension)
      text.bin                 UTF-8: each passage's text and context, at the offsets in numbers
      stems.bin                UTF-8: each passage's table-row labels' stems (lexical.row_labels: a line, labels
                               apart by tabs), then a line per sentence of its stemmed words (lexical.sentence_stems)
      documents.json           [[id, title, source, hash], ...]: numbers' `document` indexes this

Why segments are never rewritten on a write: passage ids are never reused, and a passage's row never
changes (a replaced or re-embedded document's passages get new ids). A segment therefore stays true
for every id in its range as long as that id exists, and an id in its range that it lacks does not
exist. A save adds a segment for the passages above the last one (merged with the smaller segments
before it, so there are few and each passage is rewritten a few times, not at every save); when
most of the rows held are of removed passages, all are written again as one. Ids above every
segment (written since the last save, here or by another process) are read from SQLite.
"""
from __future__ import annotations

import json
import logging
import mmap
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from qa.lexical import row_labels, sentence_stems
from qa.store import DocumentFields, ScoringRow, Store

SEGMENT_NAME = re.compile(r"^(\d+)-(\d+)$")
NUMBER_COLUMNS = ("index", "start", "end", "page_first", "page_last", "text_start", "text_end",
                  "context_end", "sentence_start", "sentence_end", "document", "stems_start", "labels_end", "stems_end")
NO_PAGE = -1
BATCH = 2_000  # rows read from SQLite at a time while a segment is written
MERGE_RATIO = 2  # a new segment takes in the segments before it holding at most this times its rows
RESCAN_SECONDS = 30.0  # a process looks for segments another process saved at least this often
REWRITE_DEAD_SHARE = 0.5  # past this share of removed passages' rows, the segments are written again as one
VERIFIED_SAMPLE = 8  # rows of each segment compared with SQLite when it is opened

log = logging.getLogger(__name__)


class Segment:
    """One segment, memory-mapped (nothing is read until a row is asked for)."""

    def __init__(self, path: Path, after: int, last: int):
        self.path, self.after, self.last = path, after, last
        self.ids = mapped(path / "ids.npy")
        self.numbers = mapped(path / "numbers.npy")
        self.vectors = mapped(path / "vectors.npy")
        self.spans = mapped(path / "spans.npy")
        self.sentence_vectors = mapped(path / "sentence_vectors.npy")
        self.text, self.stems = mapped_bytes(path / "text.bin"), mapped_bytes(path / "stems.bin")
        self.documents = json.loads((path / "documents.json").read_text())
        if not (len(self.ids) == len(self.numbers) == len(self.vectors) and len(self.spans) == len(self.sentence_vectors)
                and self.numbers.shape[1:] == (len(NUMBER_COLUMNS),)):
            raise ValueError(f"{path.name}: its arrays disagree in length, or are of an earlier layout")

    def __len__(self) -> int:
        return len(self.ids)

    def text_of(self, numbers: list[int]) -> tuple[str, str]:
        """(text, context) of a row, given its row of numbers.npy."""
        start, middle, end = numbers[5], numbers[6], numbers[7]
        return self.text[start:middle].decode("utf-8"), self.text[middle:end].decode("utf-8")


class PassageArrays:
    """The segments of an index folder, and the rows they hold."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.segments: list[Segment] = []
        self.unusable: list[Path] = []  # segments the last look left out
        self._scanned_at = float("-inf")

    @property
    def covered(self) -> int:
        """Every passage id up to this one is in a segment (0: none is)."""
        return max((segment.last for segment in self.segments), default=0)

    def open(self, store: Store, dimension: int) -> None:
        """Map the folder's segments (those mapped already are kept as they are). A damaged one, a
        half-deleted one, or one from another database (its rows differ from the store's) is left
        out: its ids are read from SQLite."""
        found, self.unusable = [], []
        already = {segment.path.name: segment for segment in self.segments}
        for path in sorted(self.path.glob("*-*")) if self.path.is_dir() else []:
            if not (match := SEGMENT_NAME.match(path.name)):
                continue
            if path.name in already:  # a segment never changes once in place: opened and checked once
                found.append(already[path.name])
                continue
            try:
                segment = Segment(path, int(match[1]), int(match[2]))
                if segment.vectors.shape[1:] != (dimension,) or not agrees_with(segment, store):
                    log.warning("%s does not match %s: its passages are read from the store", path, store.path.name)
                    self.unusable.append(path)
                    continue
            except (OSError, ValueError) as error:  # being replaced by another process, damaged, or of an earlier layout
                log.info("passage arrays %s left out (%s)", path, error)
                self.unusable.append(path)
                continue
            found.append(segment)
        # Widest first: after a merge another process may not have removed the parts yet.
        self.segments = sorted(found, key=lambda s: (s.after, -s.last))
        self._scanned_at = time.monotonic()

    def open_if_stale(self, store: Store, dimension: int) -> None:
        """Look again for segments another process saved, at most every RESCAN_SECONDS."""
        if time.monotonic() - self._scanned_at >= RESCAN_SECONDS:
            self.open(store, dimension)

    def rows(self, ids: list[int], fields: Callable[[list[str]], dict[str, DocumentFields]]
             ) -> tuple[list[ScoringRow], list[int]]:
        """(the rows of the ids the segments hold, the ids above them: to read from the store). An id
        inside a segment's range that it does not hold was removed before it was written: left out.
        `fields` gives each document's type, label and collection; a document it lacks was removed
        since, and its rows are left out (as the store's query would)."""
        wanted = np.asarray(ids, dtype=np.int64)
        placed = np.zeros(len(wanted), dtype=bool)  # inside some segment's range (held there or removed)
        held: list[tuple[Segment, np.ndarray, list[list[int]]]] = []
        for segment in self.segments:
            inside = ~placed & (wanted > segment.after) & (wanted <= segment.last)
            if not inside.any():
                continue
            placed |= inside
            asked = wanted[inside]
            at = np.minimum(np.searchsorted(segment.ids, asked), max(len(segment) - 1, 0))
            at = at[segment.ids[at] == asked] if len(segment) else at[:0]
            held.append((segment, at, segment.numbers[at].tolist()))
        known = fields(list({segment.documents[numbers[10]][0] for segment, _, rows in held for numbers in rows}))
        found = []
        for segment, at, rows in held:
            for position, numbers in zip(at.tolist(), rows):
                document_id, title, source, document_hash = segment.documents[numbers[10]]
                if document_id not in known:
                    continue
                kind, label, collection = known[document_id]
                text, context = segment.text_of(numbers)
                found.append(ScoringRow(
                    int(segment.ids[position]), document_id, title, source, numbers[0], numbers[1], numbers[2],
                    text, document_hash, kind, None if numbers[3] == NO_PAGE else numbers[3],
                    None if numbers[4] == NO_PAGE else numbers[4], label or title, context, segment.vectors[position],
                    segment.spans[numbers[8]:numbers[9]], segment.sentence_vectors[numbers[8]:numbers[9]], collection,
                    SavedAnalysis(segment.stems, numbers[11], numbers[12], numbers[13])))
        return found, [int(pid) for pid in wanted[~placed]]

    # -- writes (under arrays.lock: one writer across processes; no writer lock is needed) ----------

    def extend(self, store: Store, dimension: int) -> None:
        """Write the stored passages no segment holds into a new segment (merged with the small ones
        before it), or everything as one when most rows held are removed passages'."""
        self.open(store, dimension)
        # Under arrays.lock nothing else writes here: what could not be opened is damaged, of an
        # earlier layout or another database, and a building folder is a crashed writer's.
        for path in [*self.unusable, *self.path.glob(".building-*")]:
            shutil.rmtree(path, ignore_errors=True)
        (last,) = store.db.execute("SELECT COALESCE(MAX(id), 0) FROM passages").fetchone()
        covered = self.covered
        if last <= covered:
            return
        (live,) = store.db.execute("SELECT COUNT(*) FROM passages WHERE id <= ?", (covered,)).fetchone()
        held = sum(len(segment) for segment in self.segments)
        if held and (held - live) > REWRITE_DEAD_SHARE * held:
            merged, after = list(self.segments), 0
        else:
            (new,) = store.db.execute("SELECT COUNT(*) FROM passages WHERE id > ?", (covered,)).fetchone()
            merged, after, rows = [], covered, new
            for segment in reversed(self.segments):
                if segment.last != after or len(segment) > MERGE_RATIO * rows:
                    break
                merged.append(segment)
                after, rows = segment.after, rows + len(segment)
        started = time.perf_counter()
        path = write_segment(self.path, store, dimension, after, last)
        for segment in merged:
            shutil.rmtree(segment.path, ignore_errors=True)  # a process mapping it keeps its pages until it lets go
        log.info("passage arrays: %s written in %.1f s", path.name, time.perf_counter() - started)
        self.open(store, dimension)


def write_segment(folder: Path, store: Store, dimension: int, after: int, last: int) -> Path:
    """The stored passages with ids in (after, last] as a segment, written beside it and renamed
    into place (a reader sees all of it or none)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{after}-{last}"
    building = folder / f".building-{os.getpid()}-{after}-{last}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        with store.snapshot():
            count, sentences = store.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(sentences)), 0) / 8 FROM passages WHERE id > ? AND id <= ?",
                (after, last)).fetchone()
            ids = np.lib.format.open_memmap(building / "ids.npy", "w+", np.int64, (count,))
            numbers = np.lib.format.open_memmap(building / "numbers.npy", "w+", np.int64, (count, len(NUMBER_COLUMNS)))
            vectors = np.lib.format.open_memmap(building / "vectors.npy", "w+", np.float32, (count, dimension))
            spans = np.lib.format.open_memmap(building / "spans.npy", "w+", np.int32, (sentences, 2))
            sentence_vectors = np.lib.format.open_memmap(building / "sentence_vectors.npy", "w+", np.float32,
                                                         (sentences, dimension))
            documents: dict[str, int] = {}
            described: list[list[str]] = []
            row = sentence = offset = 0
            cursor = store.db.execute(
                "SELECT p.id, p.idx, p.start, p.end, p.page_first, p.page_last, p.text, p.context, p.vector, "
                "p.sentences, p.sentence_vectors, p.document_id, d.title, d.source, d.hash "
                "FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id > ? AND p.id <= ? ORDER BY p.id",
                (after, last))
            stems_at = 0
            with open(building / "text.bin", "wb") as text_file, open(building / "stems.bin", "wb") as stems_file:
                while batch := cursor.fetchmany(BATCH):
                    for (pid, index, start, end, page_first, page_last, text, context, vector, spans_blob,
                         sentence_blob, document_id, title, source, document_hash) in batch:
                        if document_id not in documents:
                            documents[document_id] = len(described)
                            described.append([document_id, title, source, document_hash])
                        text_bytes, context_bytes = text.encode("utf-8"), context.encode("utf-8")
                        text_file.write(text_bytes + context_bytes)
                        n = len(spans_blob) // 8
                        sentence_spans = np.frombuffer(spans_blob, dtype=np.int32).reshape(n, 2)
                        labels = "\t".join(" ".join(label) for label in row_labels(text)).encode("utf-8") + b"\n"
                        stems = "".join(" ".join(sorted(held)) + "\n" for held in
                                        sentence_stems(text, start, sentence_spans.tolist())).encode("utf-8")
                        stems_file.write(labels + stems)
                        ids[row] = pid
                        numbers[row] = (index, start, end, NO_PAGE if page_first is None else page_first,
                                        NO_PAGE if page_last is None else page_last, offset, offset + len(text_bytes),
                                        offset + len(text_bytes) + len(context_bytes), sentence, sentence + n,
                                        documents[document_id], stems_at, stems_at + len(labels),
                                        stems_at + len(labels) + len(stems))
                        stems_at += len(labels) + len(stems)
                        vectors[row] = np.frombuffer(vector, dtype=np.float32)
                        spans[sentence:sentence + n] = sentence_spans
                        sentence_vectors[sentence:sentence + n] = np.frombuffer(sentence_blob, dtype=np.float32).reshape(n, dimension)
                        offset += len(text_bytes) + len(context_bytes)
                        row, sentence = row + 1, sentence + n
        if row != count or sentence != sentences:
            raise RuntimeError(f"passage arrays: read {row} rows and {sentence} sentences of {count} and {sentences}")
        for array in (ids, numbers, vectors, spans, sentence_vectors):
            array.flush()
        del ids, numbers, vectors, spans, sentence_vectors
        (building / "documents.json").write_text(json.dumps(described))
        for name in os.listdir(building):
            with open(building / name, "rb") as file:
                os.fsync(file.fileno())
        try:
            os.rename(building, final)
        except OSError:  # another process wrote the same segment first: the same rows
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final


def agrees_with(segment: Segment, store: Store) -> bool:
    """A few of the segment's rows, spread over it, have the store's vectors and offsets (rows
    removed since are not compared): a segment left from another database of the same folder does not."""
    if not len(segment):
        return True
    picks = sorted({int(at) for at in np.linspace(0, len(segment) - 1, VERIFIED_SAMPLE)})
    by_id = {int(segment.ids[at]): at for at in picks}
    marks = ",".join("?" * len(by_id))
    for pid, start, end, vector in store.db.execute(
            f"SELECT id, start, end, vector FROM passages WHERE id IN ({marks})", list(by_id)):
        numbers = segment.numbers[by_id[pid]]
        if (int(numbers[1]), int(numbers[2])) != (start, end) or vector != segment.vectors[by_id[pid]].tobytes():
            return False
    return True


class SavedAnalysis:
    """A passage's labels and sentence stems as its segment saved them (qa/store.py Analysis), read
    when asked: most candidates need their labels' presence only, a few their sentences."""
    __slots__ = ("stems", "start", "labels_end", "end")

    def __init__(self, stems, start: int, labels_end: int, end: int):
        self.stems, self.start, self.labels_end, self.end = stems, start, labels_end, end

    def labels(self) -> list[list[str]]:
        if self.labels_end - self.start <= 1:  # "\n" alone: no table row (most passages)
            return []
        return [label.split(" ") for label in self.stems[self.start:self.labels_end - 1].decode("utf-8").split("\t")]

    def sentence_stems(self) -> list[set[str]]:
        lines = self.stems[self.labels_end:self.end].decode("utf-8").split("\n")[:-1]
        return [set(line.split(" ")) if line else set() for line in lines]


def mapped_bytes(path: Path) -> mmap.mmap | bytes:
    """A file memory-mapped read-only (slices are bytes); an empty file cannot be mapped."""
    with open(path, "rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(file.fileno()).st_size else b""


def mapped(path: Path) -> np.ndarray:
    """An .npy file memory-mapped read-only, as a plain array (a view of the mapping)."""
    return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
