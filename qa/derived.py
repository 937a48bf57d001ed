"""FAISS and BM25, derived from the store and kept in step with it (the embedded backend).

    a write     `apply(change)`: both in-memory indexes take the change, at a cost in proportion to it;
                the question lock is held only while they change
    a save      a background Saver (qa/saver.py) writes both files, at most every SAVE_INTERVAL seconds
                after a write; `save` writes them now (after an ingest), and they are saved at exit
    a load      the newest file of each, caught up with the store by the difference of passage ids
                (qa/catchup.py), or rebuilt from the store when it is unreadable, from another database,
                of the wrong type, or so far behind that rebuilding is cheaper

A file is never served as it is unless it holds the store's passages: it is caught up or rebuilt.
A crash between saves costs a catch-up, not a rebuild.

Two locks. `reading`: a question holds it while it searches (FAISS must not change under a search),
and a change takes it only for the moment it changes the in-memory indexes. `mutating`: one changer at
a time (a write, a catch-up, a load, a save) holds it for as long as it works. A question takes
`mutating` only when the store is ahead of memory (another process wrote, or a write here is between
its commit and its apply), and a save holds the folder's writer lock, so no write can be in that
state while a save runs: saving never holds up a question.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import numpy as np
from filelock import FileLock, Timeout

from qa import saver as saver_state
from qa.batching import Batcher
from qa.catchup import difference, stored_texts, stored_vectors
from qa.folder import ARRAYS_LOCK, DATABASE, IndexFolder
from qa.lexical import LexicalIndex
from qa.passage_arrays import PassageArrays
from qa.saver import Saver
from qa.store import Change, Store
from qa.vectors import TRAINING_SAMPLE, VectorIndex, choose_type, ivf_lists

SAVE_INTERVAL = 30.0  # seconds: at most one save of the derived files this often while writes come in
BATCH_SEARCH_FROM = 20_000  # flat indexes this large batch concurrent searches (below, one costs ~0.1 ms)
EXIT_LOCK_WAIT = 20.0  # seconds a save at exit waits for another process's write or save
ARRAYS_LAG = 1000  # passages not in the passage arrays before a serving process writes them without waiting for a write
REBUILD_SHARE = 0.5  # a file differing from the store by more than this share of its passages is rebuilt

log = logging.getLogger(__name__)


class DerivedIndexes:
    def __init__(self, store: Store, folder: IndexFolder, dimension: Callable[[], int], writer: FileLock,
                 model: Callable[[], str | None] = lambda: None, index_type: str = "auto"):
        self.index_type = index_type  # auto (flat below FLAT_LIMIT passages, ivf above), flat or ivf
        self.store = store
        self.folder = folder
        self._dimension = dimension
        self._model = model
        self.writer = writer  # the folder's writer lock, across processes
        self.arrays_lock = FileLock(str(folder.path / ARRAYS_LOCK))  # one writer of the passage arrays at a time
        self.reading = threading.RLock()
        self.mutating = threading.RLock()
        self.vectors: VectorIndex | None = None
        self.lexical: LexicalIndex | None = None
        self.arrays = PassageArrays(folder.arrays)  # the candidates' rows, memory-mapped (qa/passage_arrays.py)
        self.generation = -1  # of the store, that both in-memory indexes hold
        self._files_at = (-1, -1)  # generations of the FAISS and BM25 files this process last read or wrote
        self.saver = Saver(self._save_in_background, SAVE_INTERVAL, name=f"qa-saver {folder.path}")
        self._flat_searches = Batcher(self._search_together)

    # -- reads ------------------------------------------------------------------------------------

    def refresh(self) -> tuple[VectorIndex, LexicalIndex]:
        """Both indexes in step with the store: loaded, or caught up with another process's writes.
        A question calls this once; its lookups then use `current` (one generation check a question)."""
        if self.vectors is not None and self.generation == self.store.generation:
            return self.vectors, self.lexical
        with self.mutating:
            self._follow_store()
            return self.vectors, self.lexical

    def current(self) -> tuple[VectorIndex, LexicalIndex]:
        """The indexes as they are, loaded if they are not yet."""
        if self.vectors is None:
            return self.refresh()
        return self.vectors, self.lexical

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        vectors, _ = self.current()
        if within is None and len(vectors) >= BATCH_SEARCH_FROM and vectors.kind == "flat":
            return self._flat_searches((np.asarray(query, dtype=np.float32), k))
        with self.reading:
            return vectors.search(query, k, within)

    def _search_together(self, asked: list[tuple[np.ndarray, int]]) -> list[list[tuple[int, float]]]:
        """Unfiltered searches of a large flat index asked while another ran, in one FAISS call per k
        (qa/batching.py): the vectors are read once for all of them. An IVF index reads a few lists a
        query (under a millisecond at 100k): there batching does not pay, and is not done."""
        found: list[list[tuple[int, float]] | None] = [None] * len(asked)
        with self.reading:
            vectors = self.vectors
            for k in dict.fromkeys(k for _, k in asked):
                rows = [number for number, (_, wanted) in enumerate(asked) if wanted == k]
                if len(rows) == 1:
                    found[rows[0]] = vectors.search(asked[rows[0]][0], k)
                    continue
                for row, hits in zip(rows, vectors.search_many(np.stack([asked[row][0] for row in rows]), k)):
                    found[row] = hits
        return found

    def bm25(self, stems: list[str], k: int, within: np.ndarray | None = None,
             whole_index: bool = False) -> list[tuple[int, float]]:
        self.current()
        with self.reading:
            statistics = self.lexical.statistics(stems) if whole_index and within is not None else None
            return self.lexical.search(stems, k, within, statistics)

    def document_frequencies(self, stems: list[str], within: np.ndarray | None = None) -> tuple[dict[str, int], int]:
        """Passages holding each term, and the passages counted (those set in `within`, or all)."""
        self.current()
        with self.reading:
            lexical = self.lexical
            rows = lexical.rows_within(within)
            return lexical.document_frequencies(stems, within), len(lexical) if rows is None else int(rows.sum())

    # -- writes -----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Before a write commits (under `mutating`): copy a memory-mapped FAISS index now. Once the
        store is ahead, questions wait for the in-memory indexes to follow; not for this copy."""
        if self.vectors is not None:
            self.vectors.own()

    def apply(self, change: Change) -> None:
        """Follow a write made in this process: take the change, or catch up when another process
        wrote in between. Nothing to do before the indexes are loaded (the load catches up)."""
        with self.mutating:
            if self.vectors is None:
                return
            if self.generation == change.generation - 1:
                self._change(change.removed, change.added, change.vectors, change.texts, change.generation)
            else:
                self._catch_up(save=True)

    def _change(self, removed, added, vectors: np.ndarray, texts: list[tuple[str, str]], generation: int,
                save: bool = True) -> None:
        """Change both in-memory indexes (under `mutating`); questions wait only for the change itself.
        `save`: the files are to be saved (this process wrote); a catch-up with another process's
        writes leaves saving to that process, so N serving processes do not write the files N times."""
        self.vectors.own()  # a no-op after prepare(); for a catch-up, copied while questions read the mapping
        with self.reading:
            self.vectors.remove(removed)
            self.vectors.add(added, vectors)
            self.lexical.remove(removed)
            self.lexical.add(added, texts)
            self.generation = generation
        if self.lexical.needs_merge:
            merged = self.lexical.merged()  # built while questions read the old one
            with self.reading:
                self.lexical = merged
        if save and (len(removed) or len(added)):
            self.saver.changed()

    def _follow_store(self) -> None:
        if self.vectors is None:
            self._load()
        elif self.generation != self.store.generation:
            self._catch_up(save=False)
            self.arrays.open_if_stale(self.store, self._dimension())

    def _catch_up(self, save: bool) -> None:
        """Another process wrote: take its changes, found by the passage ids (exact: the indexes in
        memory followed every write up to their generation). `save`: a write of this process is among
        them (see `_change`)."""
        dimension = self._dimension()
        with self.store.snapshot():
            generation = self.store.generation
            removed, added = difference(self.store.db, self.lexical.live_ids(), exact=True)
            vectors = stored_vectors(self.store.db, added, dimension)
            texts = stored_texts(self.store.db, added)
        self._change(removed, added, vectors, texts, generation, save)

    # -- load -------------------------------------------------------------------------------------

    def _load(self) -> None:
        """The newest file of each, caught up with the store, or rebuilt (in one snapshot of the store)."""
        dimension = self._dimension()
        with self.store.snapshot():
            generation = self.store.generation
            stored = np.fromiter((row[0] for row in self.store.db.execute("SELECT id FROM passages")), dtype=np.int64)
            vectors, vectors_at = self._load_vectors(generation, stored, dimension)
            lexical, lexical_at = self._load_lexical(generation, stored)
        with self.reading:
            self.vectors, self.lexical, self.generation = vectors, lexical, generation
        self._files_at = (vectors_at, lexical_at)
        self.arrays.open(self.store, dimension)
        if self._files_at != (generation, generation):
            self.saver.changed()

    def _load_vectors(self, generation: int, stored: np.ndarray, dimension: int) -> tuple[VectorIndex, int]:
        """The FAISS index and the generation of the file it came from (-1: rebuilt)."""
        found = self.folder.newest_vectors(at_most=generation)
        if found is None:
            if self.folder.has_derived_files():
                log.info("no FAISS file for generation %d of %s: rebuilding it from the stored vectors", generation, DATABASE)
            return self._rebuild_vectors(len(stored), dimension), -1
        saved_at, path = found
        try:
            vectors = VectorIndex.load(path, dimension)
            removed, added = difference(self.store.db, vectors.ids())
        except Exception as error:  # a truncated or corrupt file is rebuilt, never fatal
            log.warning("%s is unreadable (%s): rebuilding it from %s", path, error, DATABASE)
            return self._rebuild_vectors(len(stored), dimension), -1
        if too_far_behind(removed, added, len(stored)):
            log.info("%s is %d passages out of step with %s: rebuilding it", path, len(removed) + len(added), DATABASE)
            return self._rebuild_vectors(len(stored), dimension), -1
        if len(removed) or len(added):
            log.info("%s is at generation %d, %s at %d: catching up (%d passages removed, %d added)",
                     path.name, saved_at, DATABASE, generation, len(removed), len(added))
            vectors.remove(removed)
            vectors.add(added, stored_vectors(self.store.db, added, dimension))
        wanted = choose_type(self.index_type, len(stored), vectors.kind)
        if vectors.kind != wanted:
            log.info("%s is a %s index, %s is wanted for %d passages: rebuilding it", path, vectors.kind, wanted, len(stored))
        elif wanted == "ivf" and not 0.5 <= ivf_lists(len(stored)) / vectors.index.nlist <= 2:
            log.info("%s was trained for a collection a quarter or 4 times this size: retraining it", path)
        else:
            return vectors, saved_at
        return self._rebuild_vectors(len(stored), dimension), -1

    def _rebuild_vectors(self, passages: int, dimension: int) -> VectorIndex:
        kind = choose_type(self.index_type, passages)
        sample = self._training_sample(dimension, passages) if kind == "ivf" else None
        vectors = VectorIndex.create(dimension, kind, passages, sample)
        del sample
        for ids, batch in self.store.all_vectors(dimension):
            vectors.add(ids, batch)
        return vectors

    def _training_sample(self, dimension: int, passages: int) -> np.ndarray:
        """About TRAINING_SAMPLE stored vectors picked at random, in one pass (same seed, same pick)."""
        rate, rng = min(1.0, TRAINING_SAMPLE / max(1, passages)), np.random.default_rng(0)
        parts = [batch[rng.random(len(batch)) < rate] for _, batch in self.store.all_vectors(dimension)]
        return np.concatenate(parts) if parts else np.zeros((0, dimension), np.float32)

    def _load_lexical(self, generation: int, stored: np.ndarray) -> tuple[LexicalIndex, int]:
        """The BM25 index and the generation of the file it came from (-1: rebuilt)."""
        path = self.folder.lexical
        if path.is_file():
            try:
                lexical, saved_at = LexicalIndex.load(path)
                removed, added = difference(self.store.db, lexical.live_ids())
            except Exception as error:  # a truncated or corrupt file is rebuilt, never fatal
                log.warning("%s is unreadable (%s): rebuilding it from %s", path, error, DATABASE)
            else:
                if saved_at > generation:
                    log.info("%s was built from another database (generation %d, %s is at %d): rebuilding it",
                             path, saved_at, DATABASE, generation)
                elif too_far_behind(removed, added, len(stored)):
                    log.info("%s is %d passages out of step with %s: rebuilding it", path, len(removed) + len(added), DATABASE)
                else:
                    if len(removed) or len(added):
                        log.info("%s is at generation %d, %s at %d: catching up (%d passages removed, %d added)",
                                 path.name, saved_at, DATABASE, generation, len(removed), len(added))
                        lexical.remove(removed)
                        lexical.add(added, stored_texts(self.store.db, added))
                    return (lexical.merged() if lexical.needs_merge else lexical), saved_at
        lexical = LexicalIndex()
        for ids, texts in self.store.all_texts():
            lexical.add(ids, texts)
            if lexical.needs_merge:
                lexical = lexical.merged()
        return lexical, -1

    # -- save -------------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the files for the state of the store now (catching up first), under `mutating`.
        The caller holds the writer lock, so no write lands meanwhile; questions go on reading."""
        with self.mutating:
            self._follow_store()
            generation = self.generation
            if not self.lexical.compact:
                merged = self.lexical.merged()
                with self.reading:
                    self.lexical = merged
            vectors_at, lexical_at = self._files_at
            # Another serving process may have saved this generation already (every file is written
            # whole, and one generation is one state of the store): not written again. Unless this
            # process rebuilt its index (-1: of another type, or from a damaged file): then it is saved.
            if vectors_at != -1 and self.folder.vectors_file(generation).is_file():
                vectors_at = generation
            if lexical_at not in (-1, generation) and saved_generation(self.folder.lexical) == generation:
                lexical_at = generation
            if vectors_at != generation or not self.folder.vectors_file(generation).is_file():
                self.vectors.save(self.folder.vectors_file(generation))
                self.folder.remove_vector_files(keep=generation)
                self.folder.write_meta(self._model(), self._dimension())
                vectors_at = generation
            if lexical_at != generation or not self.folder.lexical.is_file():
                self.lexical.save(self.folder.lexical, generation)
                lexical_at = generation
            self._files_at = (vectors_at, lexical_at)

    def save_arrays(self, wait: float = 0) -> None:
        """Write the passages no segment of the passage arrays holds (qa/passage_arrays.py), under
        their own lock rather than the writer lock: a segment holds committed rows that never change,
        so writes need not wait while one is written (18 s for a first segment at 100k passages)."""
        try:
            with self.arrays_lock.acquire(timeout=wait):
                self.arrays.extend(self.store, self._dimension())
        except Timeout:
            log.info("passage arrays not written: another process is writing them in %s", self.folder.path)
        except OSError as error:
            log.warning("could not write the passage arrays of %s (%s): candidates are read from %s",
                        self.folder.path, error, DATABASE)

    def arrays_behind(self, lag: int | None = None) -> bool:
        """More than `lag` passages are not in the passage arrays: an index from before they were
        kept, one whose segments were left out (damaged, of an older layout), or writes since a save."""
        (behind,) = self.store.db.execute("SELECT COUNT(*) FROM passages WHERE id > ?", (self.arrays.covered,)).fetchone()
        return behind > (ARRAYS_LAG if lag is None else lag)

    def write_arrays_soon(self) -> None:
        """A serving process: the saver writes the passage arrays in the background when they are behind."""
        if self.arrays_behind():
            self.saver.changed()

    def _save_in_background(self) -> None:
        """The saver's save: skipped when another process is writing (it saves its own; this one
        tries again later) or the folder cannot be written (kept in memory, with a warning). At exit
        there is no later: it waits a while for the lock (several serving processes stop together,
        and each saves what it wrote)."""
        try:
            # immediate when this thread already holds it
            self.writer.acquire(timeout=EXIT_LOCK_WAIT if saver_state.exiting else 0)
        except Timeout:
            log.info("derived files not saved yet: another process is writing to %s", self.folder.path)
            self.saver.changed()
            return
        except OSError as error:
            log.warning("could not save the FAISS and BM25 files of %s (%s): they are kept in memory only",
                        self.folder.path, error)
            return
        try:
            self.save()
        except OSError as error:
            log.warning("could not save the FAISS and BM25 files of %s (%s): they are kept in memory only",
                        self.folder.path, error)
        finally:
            self.writer.release()
        self.save_arrays(wait=EXIT_LOCK_WAIT if saver_state.exiting else 0)


def saved_generation(path) -> int | None:
    """The generation a BM25 file was saved at (one small member of the archive), None if unreadable."""
    try:
        with np.load(path) as saved:
            return int(saved["generation"])
    except Exception:  # noqa: BLE001 - missing, half-written by another version, damaged: not this generation
        return None


def too_far_behind(removed: np.ndarray, added: np.ndarray, passages: int) -> bool:
    """Catching up costs more than rebuilding (a rebuild reads every vector once, a catch-up the
    changed ones; past half, the file saves little)."""
    return len(removed) + len(added) > max(REBUILD_SHARE * passages, 1000)
