"""The candidates' rows served from memory-mapped arrays (qa/passage_arrays.py): the same rows the
store gives, passages written since the last save read from the store, a passage removed while a
question runs left out, and a segment that does not belong to the store never served."""
from __future__ import annotations

import shutil
import time

import numpy as np

from qa.documents import make_document
from qa.index import Index
from qa.ingest import add_documents
from qa.lexical import row_labels, sentence_stems
from qa.passage_arrays import PassageArrays
from qa.search import Searcher

HERONS = "Grey herons stand still in shallow water for hours, waiting for fish to swim past. They nest in colonies."
EGRETS = "Little egrets stir the mud with their yellow feet, so that shrimp dart out to be caught."


def all_ids(index: Index) -> list[int]:
    return [row[0] for row in index.store.db.execute("SELECT id FROM passages ORDER BY id")]


def from_the_store(index: Index, ids: list[int]) -> list:
    rows = index.store.scoring_rows(ids, index.dimension, index.reader.catalog.document_fields)
    return sorted(rows, key=lambda row: row.id)


def assert_same_rows(found: list, expected: list) -> None:
    assert [row.id for row in found] == [row.id for row in expected]
    for mine, theirs in zip(found, expected):
        if mine.analysis is not None:  # the words saved with it are those its text gives
            assert mine.analysis.labels() == row_labels(theirs.text)
            assert mine.analysis.sentence_stems() == sentence_stems(theirs.text, theirs.start, theirs.sentences.tolist())
        for name in theirs.__dataclass_fields__:
            if name == "analysis":
                continue
            a, b = getattr(mine, name), getattr(theirs, name)
            if isinstance(b, np.ndarray):
                assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
            else:
                assert a == b and type(a) is type(b), (name, a, b)


def test_an_ingested_index_serves_every_candidate_row_from_its_arrays_bit_for_bit(index_dir, test_embedder):
    index = Index(index_dir, test_embedder)
    index.refresh()
    arrays = index.derived.arrays
    ids = all_ids(index)
    assert arrays.segments and arrays.covered >= max(ids)  # written by the ingest's save
    found, rest = arrays.rows(ids, index.reader.catalog.document_fields)
    assert rest == []
    assert_same_rows(sorted(found, key=lambda row: row.id), from_the_store(index, ids))
    index.close()


def test_passages_written_after_the_save_come_from_the_store_then_from_a_new_segment(index_dir, test_embedder):
    index = Index(index_dir, test_embedder)
    index.refresh()
    before = index.derived.arrays.covered
    add_documents(index, [make_document(HERONS, "herons.txt")])
    new = [pid for pid in all_ids(index) if pid > before]
    assert new
    found, rest = index.derived.arrays.rows(new, index.reader.catalog.document_fields)
    assert found == [] and rest == new
    index.reader.refresh()
    assert_same_rows(index.reader.scoring_rows(new), from_the_store(index, new))

    index.save_vectors()  # the save writes them, merged with the small segment before them
    found, rest = index.derived.arrays.rows(new, index.reader.catalog.document_fields)
    assert rest == [] and [row.id for row in found] == new
    assert len(index.derived.arrays.segments) <= 2
    assert "Grey herons" in found[0].text
    index.close()


def test_segments_stay_few_over_many_saves(index_dir, test_embedder):
    """Each save adds the passages written since; merging keeps the count logarithmic, not one a save."""
    index = Index(index_dir, test_embedder)
    for number in range(12):
        add_documents(index, [make_document(f"{EGRETS} Count {number}.", f"egret-{number}.txt")])
        index.save_vectors()
    assert len(index.derived.arrays.segments) <= 5
    ids = all_ids(index)
    found, rest = index.derived.arrays.rows(ids, index.reader.catalog.document_fields)
    assert rest == [] and sorted(row.id for row in found) == ids
    index.close()


def test_a_passage_replaced_while_a_question_runs_is_left_out(index_dir, test_embedder):
    """FAISS and BM25 answer from the generation the question refreshed to. A write committed after
    that (here another process reading the same file again: the document keeps its id, its passages
    get new ones) leaves the old passages' rows in the arrays, which are never rewritten on a write.
    The store's query dropped them; the arrays must too, or the answer quotes text that is gone."""
    index = Index(index_dir, test_embedder)
    add_documents(index, [make_document(HERONS, "herons.txt")])
    index.save_vectors()
    document_id = index.store.documents()[-1]["id"]
    replaced = index.store.passages_of([document_id])
    found, rest = index.derived.arrays.rows(replaced, index.reader.catalog.document_fields)
    assert rest == [] and len(found) == len(replaced)
    index.reader.refresh()  # the question's refresh
    other = Index(index_dir, test_embedder)
    add_documents(other, [make_document(EGRETS, "herons.txt")])
    assert other.store.documents()[-1]["id"] == document_id
    other.close()
    assert index.reader.scoring_rows(replaced) == []
    index.close()


def test_a_segment_from_another_database_is_not_served(index_dir, test_embedder, tmp_path):
    """The folder's database replaced by another one (same ids, other passages): its old segment
    must not answer for the new database's ids."""
    index = Index(index_dir, test_embedder)
    index.refresh()
    ids = all_ids(index)
    segment = index.derived.arrays.segments[0].path
    vectors = np.load(segment / "vectors.npy")
    np.save(segment / "vectors.npy", vectors[:, ::-1].copy())  # the same shape, other rows
    index.close()
    assert_left_out_then_replaced(index_dir, test_embedder, ids)


def test_a_damaged_or_half_written_segment_is_left_out(index_dir, test_embedder):
    index = Index(index_dir, test_embedder)
    index.refresh()
    ids = all_ids(index)
    segment = index.derived.arrays.segments[0].path
    index.close()
    (segment / "spans.npy").write_bytes(b"\x93NUMPY truncated")
    (segment.parent / ".building-1-0-99").mkdir()  # a writer that died mid-way
    assert_left_out_then_replaced(index_dir, test_embedder, ids)


def assert_left_out_then_replaced(index_dir, test_embedder, ids: list[int]) -> None:
    """The folder's segment is not served (every row comes from the store), and the next save
    writes a good one in its place, leaving nothing of the bad one or of a dead writer."""
    reopened = Index(index_dir, test_embedder)
    reopened.refresh()
    assert reopened.derived.arrays.segments == []
    assert_same_rows(reopened.reader.scoring_rows(ids), from_the_store(reopened, ids))
    reopened.save_vectors()
    assert reopened.derived.arrays.covered >= max(ids)
    assert [path.name for path in (index_dir / "arrays").iterdir()] == [f"0-{max(ids)}"]
    assert_same_rows(reopened.reader.scoring_rows(ids), from_the_store(reopened, ids))
    reopened.close()


def test_answers_are_the_same_with_and_without_the_arrays(index_dir, test_embedder):
    index = Index(index_dir, test_embedder)
    searcher = Searcher(index)
    question = "Who is the defense secretary?"
    with_arrays = searcher.ask(question, 5)
    index.derived.arrays.segments = []  # every row from the store
    without = searcher.ask(question, 5)
    assert [(h.citation.document_id, h.citation.passage, h.score, h.highlight) for h in with_arrays.passages] == \
           [(h.citation.document_id, h.citation.passage, h.score, h.highlight) for h in without.passages]
    assert with_arrays.confidence == without.confidence
    index.close()


def test_a_new_folder_has_no_arrays_until_a_save(tmp_path):
    arrays = PassageArrays(tmp_path / "arrays")
    assert arrays.covered == 0 and arrays.segments == []


def test_table_row_labels_and_sentence_words_are_saved_as_the_text_gives_them(index_dir, test_embedder):
    """What the label match and the sentence match read from the arrays is what they computed from
    the text on every question before: the same stems, in the same order, for a table and for prose
    with accents and an empty sentence's worth of punctuation."""
    table = ("Balance sheet | 2023 | 2022\nTotal assets | 101,450 | 99,120\nGoodwill and intangibles | 35,546 | 35,100\n"
             "Zelenskyý met the café's owners. ... Then it rained.")
    index = Index(index_dir, test_embedder)
    add_documents(index, [make_document(table, "sheet.txt")])
    index.save_vectors()
    ids = index.store.passages_of([index.store.documents()[-1]["id"]])
    found, rest = index.derived.arrays.rows(ids, index.reader.catalog.document_fields)
    assert rest == [] and found
    assert any(row.analysis.labels() for row in found)
    assert ["total", "asset"] in [label for row in found for label in row.analysis.labels()]
    assert_same_rows(sorted(found, key=lambda row: row.id), from_the_store(index, ids))
    index.close()


def test_a_server_on_an_index_without_arrays_writes_them_in_the_background(index_dir, test_embedder, monkeypatch):
    """An index from before the arrays were kept is served at once (rows from SQLite), and its
    arrays are written behind the questions, not at its next upload."""
    from qa import derived
    from qa.app import create_app

    shutil.rmtree(index_dir / "arrays")
    monkeypatch.setattr(derived, "ARRAYS_LAG", 0)
    app = create_app({"INDEX": str(index_dir), "TESTING": True})
    service = app.extensions["qa"]
    service.warm_up()
    assert app.test_client().post("/api/ask", json={"question": "Who is the defense secretary?"}).status_code == 200
    deadline = time.monotonic() + 60
    while not service.index.derived.arrays.segments and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.index.derived.arrays.covered >= max(all_ids(service.index))


def test_the_arrays_are_written_without_the_writer_lock(index_dir, test_embedder, monkeypatch):
    """A first segment at 100k passages takes ~18 s: it is written under its own lock, so uploads
    (in any process: they take the folder's writer lock) do not wait for it."""
    from qa import passage_arrays

    index = Index(index_dir, test_embedder)
    monkeypatch.setattr(index.derived.saver, "changed", lambda: None)  # this save only, not the saver's
    add_documents(index, [make_document(HERONS, "herons.txt")])
    held = []
    original = passage_arrays.write_segment

    def watched(*args, **kwargs):
        held.append((index.derived.writer.is_locked, index.derived.arrays_lock.is_locked))
        return original(*args, **kwargs)

    monkeypatch.setattr(passage_arrays, "write_segment", watched)
    index.save_vectors()
    assert held == [(False, True)]
    index.close()


def test_an_ingest_that_changes_nothing_still_writes_arrays_that_are_missing(index_dir, test_embedder):
    """`qa ingest` is how an index is brought up to date: an index from before the arrays were kept
    (or whose segment was left out) gets them from it, though every file is unchanged."""
    from qa.ingest import ingest
    from tests.conftest import ROOT

    shutil.rmtree(index_dir / "arrays")
    index = Index(index_dir, test_embedder)
    report = ingest(index, [ROOT / "seeds"], progress=False)
    assert report.added == report.updated == report.removed == 0
    assert index.derived.arrays.covered >= max(all_ids(index))
    index.close()
