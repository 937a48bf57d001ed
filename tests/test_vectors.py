from __future__ import annotations

import faiss
import numpy as np
import pytest

from qa.errors import IndexCorrupt
from qa.vectors import FLAT_LIMIT, TYPES, VectorIndex, choose_type, ivf_lists, ivf_probes

DIMENSION = 384


def clustered(count: int, clusters: int = 200, seed: int = 0) -> np.ndarray:
    """Unit vectors around `clusters` random centres (cosine ~0.8 to their centre), like embeddings
    of passages on a few hundred topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIMENSION), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, clusters, count)] + 0.04 * rng.standard_normal((count, DIMENSION), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(kind: str, vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorIndex:
    ids = np.arange(100, 100 + len(vectors)) if ids is None else ids
    sample = vectors[np.random.default_rng(1).permutation(len(vectors))[:20_000]]
    index = VectorIndex.create(DIMENSION, kind, len(vectors), sample)
    index.add(ids, vectors)
    return index


def results(index: VectorIndex, queries: np.ndarray, k: int = 10) -> list[list[tuple[int, float]]]:
    return [index.search(query, k) for query in queries]


@pytest.fixture(autouse=True)
def one_thread():
    """As `qa serve` runs FAISS: one query per call, where OpenMP threads only spin on a busy machine."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(5_000)


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("kind", TYPES)
def test_a_saved_and_reloaded_index_returns_the_same_results(kind, mmap, vectors, tmp_path):
    index = build(kind, vectors)
    queries = clustered(20, seed=7)  # other centres: far from everything, the hard case
    path = tmp_path / "vectors.faiss"
    index.save(path)
    loaded = VectorIndex.load(path, DIMENSION, mmap=mmap)
    assert loaded.kind == kind and loaded.mapped == mmap and len(loaded) == len(vectors)
    assert results(loaded, queries) == results(index, queries)
    if kind == "ivf":
        assert loaded.index.nlist == index.index.nlist and loaded.index.nprobe == ivf_probes(index.index.nlist)


@pytest.mark.parametrize("kind", TYPES)
def test_remove_and_add_work_for_each_type_also_on_a_mapped_index(kind, vectors, tmp_path):
    index = build(kind, vectors)
    path = tmp_path / "vectors.faiss"
    index.save(path)
    loaded = VectorIndex.load(path, DIMENSION)
    assert loaded.mapped
    query = vectors[10]
    assert loaded.search(query, 1)[0][0] == 110
    loaded.remove([110, 111])  # a write to a mapped index would abort the process: it is copied first
    assert not loaded.mapped and len(loaded) == len(vectors) - 2
    assert all(i not in (110, 111) for i, _ in loaded.search(query, 50))
    loaded.add([7], query.reshape(1, -1))
    assert loaded.search(query, 1) == [(7, pytest.approx(1.0, abs=1e-5))]
    assert len(VectorIndex.load(path, DIMENSION)) == len(vectors)  # the file is untouched


def test_loading_maps_the_file_instead_of_copying_it(tmp_path):
    index = build("flat", clustered(40_000))  # 61 MB of vectors
    path = tmp_path / "vectors.faiss"
    index.save(path)
    del index

    def anonymous_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("RssAnon")) / 1024

    before = anonymous_mb()
    mapped = VectorIndex.load(path, DIMENSION)
    mapped.search(clustered(1, seed=3)[0], 10)
    assert anonymous_mb() - before < 20
    copied = VectorIndex.load(path, DIMENSION, mmap=False)
    assert anonymous_mb() - before > 50
    assert len(mapped) == len(copied)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("keep", [0.5, 0.01, 0.0])
def test_a_truncated_file_raises_index_corrupt_naming_the_file(kind, keep, vectors, tmp_path):
    path = tmp_path / "vectors.faiss"
    build(kind, vectors[:2_000]).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(IndexCorrupt, match="vectors.faiss"):
        VectorIndex.load(path, DIMENSION)


def test_a_dimension_mismatch_raises_index_corrupt(vectors, tmp_path):
    path = tmp_path / "vectors.faiss"
    build("ivf", vectors).save(path)
    with pytest.raises(IndexCorrupt, match="dimension 384"):
        VectorIndex.load(path, 768)


def test_ivf_finds_what_exact_search_finds():
    """recall@10 >= 0.95 against flat, on 20k clustered vectors and held-out queries."""
    vectors = clustered(20_200)
    vectors, queries = vectors[:20_000], vectors[20_000:]
    exact, approximate = build("flat", vectors), build("ivf", vectors)
    assert approximate.kind == "ivf" and approximate.index.nlist == ivf_lists(20_000)
    found = [len({i for i, _ in a} & {i for i, _ in e}) / 10
             for a, e in zip(results(approximate, queries), results(exact, queries))]
    assert np.mean(found) >= 0.95


def test_ivf_over_a_handful_of_vectors_is_exact(vectors):
    small = build("ivf", vectors[:30])
    assert small.index.nlist == 1
    assert results(small, vectors[:5], 5) == results(build("flat", vectors[:30]), vectors[:5], 5)
    empty = VectorIndex.create(DIMENSION, "ivf")
    assert len(empty) == 0 and empty.search(vectors[0], 5) == []


def test_choose_type():
    assert choose_type("auto", 0) == "flat"
    assert choose_type("auto", FLAT_LIMIT - 1) == "flat"
    assert choose_type("auto", FLAT_LIMIT) == "ivf"
    assert choose_type("auto", FLAT_LIMIT - 1, current="ivf") == "ivf"  # no flip-flopping at the limit
    assert choose_type("auto", FLAT_LIMIT // 2 - 1, current="ivf") == "flat"
    assert choose_type("flat", 10**7) == "flat" and choose_type("ivf", 10) == "ivf"
    with pytest.raises(ValueError, match="hnsw"):
        choose_type("hnsw", 10)


@pytest.mark.model
def test_the_index_type_setting_rebuilds_the_file(index_dir, monkeypatch):
    from qa.index import Index
    from qa.search import Searcher

    question = "How much in rare earth metals did Trump demand from Ukraine?"
    flat_answer = Searcher(Index(index_dir)).ask(question, 3).passages
    monkeypatch.setenv("QA_INDEX_TYPE", "ivf")
    index = Index(index_dir)
    assert index.vectors.kind == "ivf"
    index.save_vectors()  # the rebuilt index is saved in the background; now, for the check
    saved = VectorIndex.load(index.vectors_file(index.store.generation), index.dimension)
    assert saved.kind == "ivf" and len(saved) == len(index.vectors)  # saved as such
    assert Searcher(index).ask(question, 3).passages == flat_answer  # few passages: one cluster, exact
    monkeypatch.setenv("QA_INDEX_TYPE", "auto")
    assert Index(index_dir).vectors.kind == "flat"


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("kind", TYPES)
def test_ids_lists_what_the_index_holds(kind, mmap, vectors, tmp_path):
    """What a catch-up compares with the store's passage ids (qa/catchup.py)."""
    index = build(kind, vectors[:3_000])
    index.remove([100, 105])
    index.add([9_999], vectors[:1])
    path = tmp_path / "vectors.faiss"
    index.save(path)
    expected = (set(range(100, 3_100)) - {100, 105}) | {9_999}
    assert set(index.ids().tolist()) == expected
    assert set(VectorIndex.load(path, DIMENSION, mmap=mmap).ids().tolist()) == expected
