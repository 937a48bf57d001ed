"""The FAISS index: add / remove / search / save / load, keyed by passage id.

Inner product on L2-normalised vectors, i.e. cosine similarity. Two types:

- "flat": exact search (IndexIDMap2 over IndexFlatIP), what small and medium collections want.
- "ivf": an inverted file (IndexIVFFlat, inner product) for large ones: the vectors are split into
  `nlist` clusters by k-means and a query scans the `nprobe` clusters nearest to it. The vectors are
  stored uncompressed, so a hit's score is exact; only a neighbour in an unscanned cluster is missed.
  It keeps add_with_ids and remove_ids, so documents come and go without retraining (HNSW cannot
  remove). Figures in bench/scale.py.

`choose_type` picks one ("auto": flat below FLAT_LIMIT passages). The type is in the saved file
(FAISS writes the index class, nlist and nprobe), so `kind` reads it back after a load.

A loaded index is memory-mapped, not copied (IO_FLAG_MMAP_IFC maps the flat codes and the inverted
lists of both types; the legacy IO_FLAG_MMAP maps IVF lists only and nothing for flat). A mapped index
is read-only: FAISS aborts the process on a write to it, so the first add/remove makes an owned copy.

A search runs on one OpenMP thread, whichever thread calls it. A question is one vector, and the
service runs several questions at once on threads (and processes) of its own: FAISS's OpenMP team on
top only oversubscribes the cores. `faiss.omp_set_num_threads` sets OpenMP's nthreads-var, which is
per thread (FAISS's wiki: "Faiss does not set the number of threads ... OMP_NUM_THREADS or at any
time omp_set_num_threads"): set once in `qa serve`'s main thread, it left every worker thread at the
core count, and a flat search at 100k took 18.6 ms instead of 5.4 (issue 24). So `search` sets it
for the calling thread around the call, and puts back what was there: training and adding (an
ingest, a rebuild) keep every core.
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np

from qa.errors import IndexCorrupt
from qa.files import write_atomically

TYPES = ("flat", "ivf")
FLAT_LIMIT = 100_000  # "auto": exact search below (5-9 ms a query at 100k, bench/scale.py), ivf from here on
TRAINING_SAMPLE = 100_000  # vectors k-means sees; FAISS wants >= 39 per cluster
MMAP = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
TIE_MARGIN = 16  # extra neighbours fetched so passages tied at the k-th score are cut by id, not by chance


def choose_type(setting: str, count: int, current: str | None = None) -> str:
    """The index type for `count` vectors. "auto" keeps an existing ivf index down to half the limit,
    so a collection hovering around FLAT_LIMIT is not rebuilt back and forth.

    Example: choose_type("auto", 150_000) -> "flat"; choose_type("auto", 150_000, "ivf") -> "ivf".
    """
    if setting not in ("auto", *TYPES):
        raise ValueError(f"unknown index type {setting!r}: expected auto, {', '.join(TYPES)}")
    if setting != "auto":
        return setting
    if current == "ivf" and count >= FLAT_LIMIT // 2:
        return "ivf"
    return "ivf" if count >= FLAT_LIMIT else "flat"


def ivf_lists(count: int) -> int:
    """Clusters for `count` vectors: 2*sqrt(count) (1M -> 2000), at most one per 39 training vectors.

    Lower than FAISS's 4..16*sqrt(N) rule of thumb: on 1M vectors (a one-off run with bench/scale.py's
    vectors and questions), nlist 4096 at nprobe 16 and nlist 2048 at nprobe 32 scan as much and both
    gave recall@10 0.97, but 4096 took 2.8x as long to train and 2x as long to add (k-means on 100k
    vectors); nlist 1024 at nprobe 16, the same scan again, gave 0.94.
    """
    return max(1, min(round(2 * math.sqrt(count)), min(count, TRAINING_SAMPLE) // 39))


def ivf_probes(nlist: int) -> int:
    """Clusters scanned per query: 64 (all of them when there are fewer), 1/32 of them past 2048.

    Recall depends on the clusters scanned far more than on their number. Questions against 1M
    passages, nlist 2000 (bench/scale.py): nprobe 16 -> recall@10 0.944, 32 -> 0.965 (1.1 ms),
    64 -> 0.986 (2.3-3.1 ms), 128 -> 0.994 (5-6 ms); 100k, nlist 632: 32 -> 0.964, 64 -> 0.981 (0.7 ms).
    64 leaves a margin over 0.95 for questions harder than the eval sets', at half the 5 ms budget.
    """
    return min(nlist, max(64, nlist // 32))


@contextmanager
def one_openmp_thread() -> Iterator[None]:
    """FAISS runs on one OpenMP thread inside, in the calling thread (the setting is per thread)."""
    before = faiss.omp_get_max_threads()
    if before != 1:
        faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            faiss.omp_set_num_threads(before)


_blas_setting = threading.Lock()


@contextmanager
def blas_for_several() -> Iterator[None]:
    """FAISS reads a flat index once for several queries (BLAS) from 2 queries instead of its 20.
    Below 20 it loops, reading every vector once per query (98,606 vectors, one thread: 8 queries
    72 ms one by one, 66 ms in FAISS's loop, 20 ms by BLAS). The threshold is one number for the
    process, so it is lowered only for the call (a lone query never comes here: it keeps FAISS's
    loop, bit for bit), under a lock; the one thing that could meet it meanwhile is a 2-19 vector
    IVF add of another index in the same process (its assignment then by BLAS)."""
    with _blas_setting:
        before = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 2
        try:
            yield
        finally:
            faiss.cvar.distance_compute_blas_threshold = before


class VectorIndex:
    def __init__(self, dimension: int, index: faiss.Index | None = None, mapped: bool = False):
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.mapped = mapped  # viewing a file: copied into memory before the first write

    @classmethod
    def create(cls, dimension: int, kind: str = "flat", count: int = 0,
               sample: np.ndarray | None = None) -> VectorIndex:
        """An empty index of `kind` sized for `count` vectors; ivf is trained on `sample` (a random
        subset of the vectors to come, up to TRAINING_SAMPLE of them)."""
        if kind == "flat":
            return cls(dimension)
        if kind != "ivf":
            raise ValueError(f"unknown index type {kind!r}")
        sample = np.zeros((0, dimension), np.float32) if sample is None else np.ascontiguousarray(sample, np.float32)
        nlist = min(ivf_lists(count), max(1, len(sample)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        if nlist == 1:  # one cluster is exact search; any centroid will do, no k-means
            index.quantizer.add(np.zeros((1, dimension), np.float32))
            index.is_trained = True
        else:
            index.cp.seed = 1234  # the same vectors give the same clusters
            index.train(sample)
        index.nprobe = ivf_probes(nlist)
        return cls(dimension, index)

    @property
    def kind(self) -> str:
        return "ivf" if faiss.try_extract_index_ivf(self.index) is not None else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """The passage ids held, in no particular order (what a catch-up compares with the store)."""
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is None:
            return faiss.vector_to_array(faiss.downcast_index(self.index).id_map).astype(np.int64)
        lists, parts = ivf.invlists, []
        for number in range(ivf.nlist):
            size = lists.list_size(number)
            if size:
                pointer = lists.get_ids(number)
                parts.append(faiss.rev_swig_ptr(pointer, size).astype(np.int64))  # a copy
                lists.release_ids(number, pointer)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def add(self, ids: list[int] | np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.own()
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int] | np.ndarray) -> None:
        if len(ids):
            self.own()
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def own(self) -> None:
        """Replace a memory-mapped index by an owned copy (serialise then read back: a clone would
        still point into the file). A writer calls it before it takes the question lock: searches
        meanwhile read the mapped index, then the next one the copy."""
        if self.mapped:
            self.index = faiss.deserialize_index(faiss.serialize_index(self.index))
            self.mapped = False

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k nearest passage ids with their cosine similarity, best first; with `within` (bool by
        passage id), the k nearest of those only (FAISS skips the others while it scans)."""
        if len(self) == 0 or k <= 0:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        wanted = k + TIE_MARGIN  # then cut at k by (score, id): the same k whether sharded or not
        with one_openmp_thread():
            if within is None:
                scores, ids = self.index.search(query, min(wanted, len(self)))
            else:
                kept = int(np.count_nonzero(within))
                if kept == 0:
                    return []
                scores, ids = self.index.search(query, min(wanted, kept), params=self.restricted(within, kept))
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        return sorted(found, key=lambda hit: (-hit[1], hit[0]))[:k]

    def search_many(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """`search` of several queries in one call (no filter): the k nearest of each, best first.
        A flat index reads its vectors once for all of them (by BLAS, see blas_for_several); a score
        may then differ from the lone search's in its last bit."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        if len(self) == 0 or k <= 0:
            return [[] for _ in queries]
        with one_openmp_thread(), blas_for_several():
            scores, ids = self.index.search(queries, min(k + TIE_MARGIN, len(self)))
        return [sorted(((int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0),
                       key=lambda hit: (-hit[1], hit[0]))[:k] for row_ids, row_scores in zip(ids, scores)]

    def restricted(self, within: np.ndarray, kept: int) -> faiss.SearchParameters:
        """Search parameters selecting the ids set in `within`. An IVF index scans more clusters the
        fewer vectors are kept (nprobe / share kept, up to all of them), so about as many kept vectors
        are scanned as an unfiltered search scans: a narrow filter is not left short of neighbours.
        The bitmap is referenced by the selector, so it is kept on the parameters object."""
        bitmap = np.packbits(within, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is None:
            params = faiss.SearchParameters(sel=selector)
        else:
            share = kept / max(len(self), 1)
            params = faiss.SearchParametersIVF(sel=selector, nprobe=min(ivf.nlist, math.ceil(ivf.nprobe / max(share, 1e-9))))
        params.bitmap, params.selector = bitmap, selector  # alive as long as the parameters
        return params

    def save(self, path: Path) -> None:
        """Write atomically (qa/files.py): a crash never leaves half a file behind, and a process
        mapping the old file keeps reading the old file."""
        write_atomically(Path(path), lambda file: faiss.write_index(self.index, faiss.PyCallbackIOWriter(file.write)))

    @classmethod
    def load(cls, path: Path, dimension: int, mmap: bool = True) -> VectorIndex:
        """Read an index of either type; memory-mapped unless `mmap` is false."""
        index = None
        if mmap:
            try:
                index = faiss.read_index(str(path), MMAP)
            except RuntimeError:  # a type or file system FAISS cannot map: read it the usual way
                mmap = False
        if index is None:
            try:
                index = faiss.read_index(str(path))
            except RuntimeError as error:
                raise IndexCorrupt(f"{path}: unreadable FAISS index ({str(error).splitlines()[0]})") from error
        if index.d != dimension:
            raise IndexCorrupt(f"{path}: vectors have dimension {index.d}, the index expects {dimension}")
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.nprobe = ivf_probes(ivf.nlist)  # the current rule, not the one the file was written with
        return cls(dimension, index, mapped=mmap)
