"""The index split over S Ray actors, each holding its part of FAISS and BM25; search fans out.

Passage p lives on shard p mod S. Each shard builds its part from the shared SQLite store and
follows writes by generation, as a local index does. A question asks every shard and merges:

    dense    each shard's k nearest (exact cosines), merged: the k nearest of the whole index
    BM25     first every shard's statistics for the question's terms (document frequencies,
             passages, total length), summed; then each shard scores with those GLOBAL figures,
             so a passage's BM25 score is the one the unsharded index gives it (and so is the
             min-max normalisation search applies to the merged candidates)

Worked example (S=2): passages 1..6 -> shard 0 holds 2, 4, 6 and shard 1 holds 1, 3, 5. "otter"
is in 2 and 5: each shard counts 1, the global frequency 2 goes into both shards' IDF.

A shard that does not answer (its node gone, its actor restarting) makes the whole question fail
with ShardUnavailable (503, naming the shard): never a partial answer. Ray restarts a dead shard
(max_restarts), which rebuilds its part from the store and answers completely again.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from qa.catchup import stored_ids, stored_texts, stored_vectors
from qa.cluster.connect import CALL_TIMEOUT, NAMESPACE, connect, import_ray
from qa.errors import QAError
from qa.folder import DATABASE
from qa.index import Index
from qa.lexical import LexicalIndex, Statistics
from qa.store import ScoringRow, Store
from qa.vectors import TRAINING_SAMPLE, VectorIndex, choose_type

RESTARTS = 10  # times Ray restarts a shard actor that died
SHARD_TIMEOUT = 30.0  # seconds a shard may take to answer a question's call


class ShardUnavailable(QAError):
    status_code = 503
    code = "shard_unavailable"


class Shard:
    """One part of the index: the passages whose id mod `count` is `number` (a Ray actor)."""

    def __init__(self, folder: str, number: int, count: int, index_type: str = "auto"):
        self.folder, self.number, self.count = folder, number, count
        self.store = Store(Path(folder) / DATABASE)
        self.dimension = int(self.store.get_meta("dimension") or 0)
        self.index_type = index_type
        self.vectors: VectorIndex | None = None
        self.lexical = LexicalIndex()
        self.generation = -1
        self.follow(self.store.generation)

    def mine(self, ids: np.ndarray) -> np.ndarray:
        return ids[ids % self.count == self.number]

    def follow(self, generation: int) -> tuple[int, int]:
        """Catch up with the store when it is past `generation` or past this shard; (generation, passages)."""
        if self.generation >= generation:
            return self.generation, len(self.lexical)
        with self.store.snapshot():
            current = self.store.generation
            if not self.dimension:
                self.dimension = int(self.store.get_meta("dimension") or 0)
            wanted = self.mine(stored_ids(self.store.db))
            held = self.lexical.live_ids()
            removed = np.setdiff1d(held, wanted, assume_unique=True)
            added = np.setdiff1d(wanted, held, assume_unique=True)
            vectors = stored_vectors(self.store.db, added, self.dimension) if self.dimension else None
            texts = stored_texts(self.store.db, added)
        if self.vectors is None and self.dimension:
            kind = choose_type(self.index_type, len(added))
            sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:TRAINING_SAMPLE]] if kind == "ivf" else None
            self.vectors = VectorIndex.create(self.dimension, kind, len(added), sample)
        if self.vectors is not None:
            self.vectors.remove(removed)
            self.vectors.add(added, vectors)
        self.lexical.remove(removed)
        self.lexical.add(added, texts)
        if self.lexical.needs_merge:
            self.lexical = self.lexical.merged()
        self.generation = current
        return current, len(self.lexical)

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None) -> list[tuple[int, float]]:
        return [] if self.vectors is None else self.vectors.search(query, k, within)

    def statistics(self, stems: list[str], within: np.ndarray | None) -> Statistics:
        return self.lexical.statistics(stems, within)

    def bm25(self, stems: list[str], k: int, within: np.ndarray | None, statistics: Statistics) -> list[tuple[int, float]]:
        return self.lexical.search(stems, k, within, statistics)

    def status(self) -> dict:
        import os
        import ray

        return {"shard": self.number, "of": self.count, "passages": len(self.lexical), "generation": self.generation,
                "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


def shard_names(folder: str | Path, count: int) -> list[str]:
    """Names the shards of an index folder go by (the folder's digest keeps two indexes apart)."""
    digest = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:8]
    return [f"qa-shard-{digest}-{number}-of-{count}" for number in range(count)]


def start_shards(folder: str | Path, count: int, address: str = "auto", index_type: str = "auto",
                 detached: bool = False) -> list[Any]:
    """The S shard actors of `folder`, started (or found, when they run already), each built."""
    ray = connect(address)
    actor = ray.remote(Shard)
    shards = [actor.options(name=name, namespace=NAMESPACE, get_if_exists=True, max_restarts=RESTARTS,
                            max_task_retries=0, num_cpus=0, scheduling_strategy="SPREAD",
                            lifetime="detached" if detached else None
                            ).remote(str(Path(folder).resolve()), number, count, index_type)
              for number, name in enumerate(shard_names(folder, count))]
    ShardedReader.gather(shards, shard_names(folder, count), "status", timeout=CALL_TIMEOUT * 5)
    return shards


def find_shards(folder: str | Path, count: int) -> list[Any]:
    ray = import_ray()
    try:
        return [ray.get_actor(name, namespace=NAMESPACE) for name in shard_names(folder, count)]
    except ValueError:
        raise ShardUnavailable(f"The {count} shards of {folder} are not running on this cluster: start them with "
                               f"qa serve --ray ... --shards {count}.") from None


class ShardedReader:
    """The Reader of qa/reader.py over shard actors: search sees one index."""

    def __init__(self, index: Index, shards: list[Any], timeout: float = SHARD_TIMEOUT):
        self.index = index
        self.local = index.reader  # the collection masks (catalog) and the stored rows come from the store
        self.catalog = self.local.catalog  # documents' collections and metadata, from the store
        self.shards = shards
        self.names = shard_names(index.folder, len(shards))
        self.timeout = timeout
        self.generation = -1
        self.passages = 0
        self._statistics: dict[str, int] = {}  # term -> global frequency at self.generation (no mask)
        self._totals: tuple[int, float] = (0, 0.0)

    @staticmethod
    def gather(shards: list[Any], names: list[str], method: str, *args, timeout: float = SHARD_TIMEOUT) -> list:
        """Call `method` on every shard; all answers, or ShardUnavailable naming the first that gave none."""
        ray = import_ray()
        refs = [getattr(shard, method).remote(*args) for shard in shards]
        ray.wait(refs, num_returns=len(refs), timeout=timeout)
        answers = []
        for number, (name, ref) in enumerate(zip(names, refs)):
            try:
                answers.append(ray.get(ref, timeout=0.001))
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as error:
                reason = "did not answer in time" if isinstance(error, ray.exceptions.GetTimeoutError) else "is down"
                raise ShardUnavailable(
                    f"Shard {number} of {len(shards)} ({name}) {reason}; no partial answer is given. Ray restarts a "
                    f"failed shard: retry in a few seconds, and see `qa cluster status`.") from None
        return answers

    def _all(self, method: str, *args) -> list:
        return self.gather(self.shards, self.names, method, *args, timeout=self.timeout)

    def refresh(self) -> int:
        generation = self.index.store.generation
        if generation != self.generation:
            answers = self._all("follow", generation)
            self.passages = sum(passages for _, passages in answers)
            self.generation = generation
            self._statistics, self._totals = {}, (0, 0.0)
        return self.passages

    def select(self, scope):
        return self.local.select(scope)

    def _mask(self, within: np.ndarray | None):
        return None if within is None else import_ray().put(within)  # shipped once, read by every shard

    def statistics(self, stems: list[str], within: np.ndarray | None = None) -> Statistics:
        """The whole index's statistics for these terms: the shards' summed (cached per generation)."""
        if within is None:
            missing = [stem for stem in dict.fromkeys(stems) if stem not in self._statistics]
            if missing or not self._totals[0]:
                self._statistics.update(self._sum(self._all("statistics", missing, None), missing))
            frequencies = {stem: self._statistics[stem] for stem in stems}
            return frequencies, *self._totals
        return self._sum_with_totals(self._all("statistics", list(dict.fromkeys(stems)), self._mask(within)), stems)

    def _sum(self, answers: list[Statistics], stems: list[str]) -> dict[str, int]:
        self._totals = (sum(a[1] for a in answers), sum(a[2] for a in answers))
        return {stem: sum(a[0][stem] for a in answers) for stem in stems}

    @staticmethod
    def _sum_with_totals(answers: list[Statistics], stems: list[str]) -> Statistics:
        return ({stem: sum(a[0].get(stem, 0) for a in answers) for stem in stems},
                sum(a[1] for a in answers), sum(a[2] for a in answers))

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        return merge(self._all("search", np.asarray(query, dtype=np.float32), k, self._mask(within)), k)

    def bm25(self, stems: list[str], k: int, within: np.ndarray | None = None,
             whole_index: bool = False) -> list[tuple[int, float]]:
        if not stems:
            return []
        statistics = self.statistics(stems, None if whole_index else within)
        return merge(self._all("bm25", stems, k, self._mask(within), statistics), k)

    def document_frequencies(self, stems: list[str], within: np.ndarray | None = None) -> tuple[dict[str, int], int]:
        frequencies, passages, _ = self.statistics(stems, within)
        return frequencies, passages

    def scoring_rows(self, ids: list[int]) -> list[ScoringRow]:
        return self.local.scoring_rows(ids)

    def passages_on_pages(self, numbers: list[int]) -> list[int]:
        return self.local.passages_on_pages(numbers)

    def word_states(self, ids: list[int]) -> dict[int, bytes]:
        return self.local.word_states(ids)

    def status(self) -> list[dict]:
        return self._all("status")


def merge(answers: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """The k best of the shards' lists: score descending, then passage id (the unsharded order of ties)."""
    return sorted((hit for answer in answers for hit in answer), key=lambda hit: (-hit[1], hit[0]))[:k]


def attach(index: Index, shards: list[Any]) -> ShardedReader:
    """Make search over `index` read the shards (its store still gives the rows and the masks)."""
    reader = ShardedReader(index, shards)
    index.reader = reader
    return reader
