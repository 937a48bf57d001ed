from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from qa.errors import IndexCorrupt, ModelMismatch
from qa.index import DATABASE, META, Index
from qa.documents import make_document
from qa.ingest import add_documents, ingest
from qa.search import Searcher
from tests.conftest import EVAL, SEEDS

pytestmark = pytest.mark.model


@pytest.fixture
def count_embedding(monkeypatch):
    """Counts the passages sent to the model."""
    calls = []
    embedder = Index.__dict__["embedder"].fget  # the loaded model is shared by all indexes in a process

    def counting(index):
        model = embedder(index)
        original = type(model).encode

        def encode(texts, spans, *args, **options):
            if spans is not None:  # passages being stored, not a question
                calls.append(len(texts))
            return original(model, texts, spans, *args, **options)

        monkeypatch.setattr(model, "encode", encode)
        return model

    monkeypatch.setattr(Index, "embedder", property(counting))
    return calls


def test_reingesting_unchanged_files_embeds_nothing(index_dir, count_embedding):
    report = ingest(Index(index_dir), [SEEDS], progress=False)
    assert report.unchanged == 2 and report.added == report.updated == 0
    assert count_embedding == []


def test_a_changed_file_replaces_its_passages(index_dir, tmp_path, count_embedding):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = Index(index_dir)
    ingest(index, [corpus], progress=False)
    count_embedding.clear()
    before = {d["source"]: d for d in index.store.documents() if d["id"] in {i for i, _ in index.store.documents_from(str(corpus))}}
    (corpus / "000_2e21b0443b55ba82.txt").write_text("A short replacement\n\nThe otters of Brussels held a meeting.")
    report = ingest(index, [corpus], progress=False)
    assert report.updated == 1 and report.unchanged == 1
    assert count_embedding == [1]  # the one new passage, nothing of the unchanged file
    after = {d["source"]: d for d in index.store.documents() if d["id"] in {i for i, _ in index.store.documents_from(str(corpus))}}
    assert after["000_2e21b0443b55ba82.txt"]["passages"] == 1
    assert after["000_2e21b0443b55ba82.txt"]["hash"] != before["000_2e21b0443b55ba82.txt"]["hash"]
    assert after["000_2e21b0443b55ba82.txt"]["id"] == before["000_2e21b0443b55ba82.txt"]["id"]
    hits = Searcher(index).ask("otters of Brussels", 3).passages
    assert hits[0].text.endswith("The otters of Brussels held a meeting.")
    assert len(index.vectors) == index.store.counts()[1]


def test_prune_drops_only_gone_files_of_the_folders_ingested(index_dir, tmp_path):
    """--prune removes a document whose file left the folder being ingested; the seeds (another
    folder) and an API upload stay. (It used to remove every document not among the paths given.)"""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "keep.txt").write_text("Otters keep their tools in a pocket of skin under each forearm.")
    (corpus / "gone.txt").write_text("Beavers build dams of branches and mud across slow streams.")
    index = Index(index_dir)
    ingest(index, [corpus], progress=False)
    add_documents(index, [make_document("Herons stand still in shallow water for hours.", "upload.txt")])
    (corpus / "gone.txt").unlink()
    assert ingest(index, [corpus], progress=False).removed == 0  # without --prune nothing goes
    report = ingest(index, [corpus], prune=True, progress=False)
    assert report.removed == 1
    assert sorted(d["source"] for d in index.store.documents()) == [
        "000_2e21b0443b55ba82.txt", "002_aadcb0dba0a30b9a.txt", "keep.txt", "upload.txt"]
    assert len(Index(index_dir).vectors) == index.store.counts()[1]


def test_same_named_files_of_two_folders_are_two_documents_with_stable_ids(index_dir, tmp_path):
    """Two folders' notes.txt given as separate arguments used to replace each other (one source)."""
    for name, text in [("a", "The red lighthouse stands on the northern cape."),
                       ("b", "The blue lighthouse stands on the southern cape.")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text(text)
    index = Index(index_dir)
    report = ingest(index, [tmp_path / "a", tmp_path / "b"], progress=False)
    assert report.added == 2
    notes = {d["id"]: d for d in index.store.documents() if d["source"] == "notes.txt"}
    assert len(notes) == 2
    again = ingest(index, [tmp_path / "b", tmp_path / "a"], progress=False)
    assert again.unchanged == 2 and again.added == again.updated == 0
    assert {d["id"] for d in index.store.documents() if d["source"] == "notes.txt"} == set(notes)
    texts = [hit.text for hit in Searcher(index).ask("Which lighthouse is on the southern cape?", 5).passages]
    assert any("blue lighthouse" in t for t in texts) and any("red lighthouse" in t for t in texts)


def current_vectors_file(folder):
    return Index(folder).vectors_file(Index(folder).store.generation)


def test_missing_faiss_file_is_rebuilt_from_sqlite(index_dir, count_embedding):
    current_vectors_file(index_dir).unlink()
    index = Index(index_dir)
    assert len(index.vectors) == index.store.counts()[1]
    index.close()  # saved in the background, and at the latest on close
    assert current_vectors_file(index_dir).is_file()
    assert count_embedding == []


def test_faiss_file_out_of_step_is_caught_up(index_dir, tmp_path, caplog):
    caplog.set_level("INFO")
    stale = current_vectors_file(index_dir)
    index = Index(index_dir)
    index.apply(index.store.remove_document(index.store.documents()[0]["id"]))  # written, FAISS file not saved
    reopened = Index(index_dir)
    assert len(reopened.vectors) == reopened.store.counts()[1]
    assert "catching up" in caplog.text and "rebuilding" not in caplog.text
    reopened.close()
    assert current_vectors_file(index_dir).is_file() and not stale.exists()  # saved under its generation
    assert "generation" not in json.loads((index_dir / META).read_text())  # one record of it, in the name


def test_truncated_faiss_file_is_rebuilt_with_a_warning(index_dir, caplog):
    path = current_vectors_file(index_dir)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    index = Index(index_dir)
    assert len(index.vectors) == index.store.counts()[1]
    assert any(path.name in record.getMessage() for record in caplog.records if record.levelname == "WARNING")


def test_corrupt_database_names_the_file(index_dir):
    (index_dir / DATABASE).write_bytes(b"this is not sqlite" * 100)
    for leftover in ("-wal", "-shm"):
        (index_dir / (DATABASE + leftover)).unlink(missing_ok=True)
    with pytest.raises(IndexCorrupt, match=DATABASE):
        Index(index_dir)


def test_the_index_refuses_another_model(index_dir, tmp_path):
    other = tmp_path / "paraphrase-model"
    other.mkdir()
    (other / "modules.json").write_text("[]")
    with pytest.raises(ModelMismatch, match="all-MiniLM-L6-v2"):
        Index(index_dir, str(other))


def test_killed_ingest_leaves_a_loadable_index(index_dir, tmp_path):
    """SIGKILL while a larger corpus is being ingested: the seeds index still loads and answers, and
    every document present is whole."""
    corpus = tmp_path / "corpus"
    shutil.copytree(EVAL / "cmu-s08" / "corpus" / "set1", corpus)  # 10 long articles
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "ingest", "--quiet", "--index", str(index_dir), str(corpus)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            with sqlite3.connect(index_dir / DATABASE, timeout=30) as db:
                if db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] > 2:
                    break
            time.sleep(0.05)
        assert process.poll() is None, "ingest finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()

    index = Index(index_dir)
    documents = index.store.documents()
    assert 2 < len(documents) < 12
    assert all(d["passages"] > 0 for d in documents)
    assert len(index.vectors) == index.store.counts()[1]
    answer = Searcher(index).ask("How much in rare earth metals did Trump demand from Ukraine?", 1)
    assert "$500 billion" in answer.passages[0].text
    # Running it again finishes the job without redoing what landed.
    report = ingest(index, [corpus], progress=False)
    assert report.unchanged == len(documents) - 2 and report.added == 10 - report.unchanged


def test_a_new_reader_version_reads_unchanged_files_again(index_dir, tmp_path, monkeypatch):
    """Unchanged bytes are skipped without parsing, unless the readers changed since: then the file is
    read again, and a document whose text came out the same is not embedded again."""
    from qa import readers

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("The tide tables for the northern harbour are printed every spring.")
    index = Index(index_dir)
    assert ingest(index, [corpus], progress=False).added == 1
    assert ingest(index, [corpus], progress=False).unchanged == 1
    read = []
    monkeypatch.setattr("qa.ingest.read_document", lambda *args: read.append(args) or readers.read_document(*args))
    monkeypatch.setattr(readers, "READERS_VERSION", readers.READERS_VERSION + 1)
    report = ingest(index, [corpus], progress=False)
    assert len(read) == 1 and report.unchanged == 1 and report.updated == 0
    assert ingest(index, [corpus], progress=False).unchanged == 1 and len(read) == 1  # remembered: not read a third time


def test_new_chunking_that_some_files_fail_is_tried_again(tmp_path, monkeypatch):
    """New chunking settings re-chunk every document; a file that cannot be read this time keeps its
    old passages, and the next ingest must try again rather than record the settings as applied."""
    from qa import policy
    from qa.errors import UnreadableFile
    from qa.hashing_embedder import HASHING_MODEL

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a.txt", "b.txt"):
        (corpus / name).write_text(f"The {name} harbour log holds the tide tables printed every spring.")
    index = Index(tmp_path / "index", HASHING_MODEL, create=True)
    assert ingest(index, [corpus], progress=False).added == 2
    monkeypatch.setattr(policy, "CHUNKING", {**policy.CHUNKING, "target_tokens": 150})
    index = Index(tmp_path / "index", HASHING_MODEL)
    real = __import__("qa.readers", fromlist=["read_document"]).read_document

    def failing(path, *args):
        if path.name == "b.txt":
            raise UnreadableFile(f"{path.name}: the disk hiccuped")
        return real(path, *args)

    monkeypatch.setattr("qa.ingest.read_document", failing)
    report = ingest(index, [corpus], progress=False)
    assert [source for source, _ in report.failed] == ["b.txt"]
    assert index.chunking_changed  # not recorded: b.txt still has the old chunking
    monkeypatch.setattr("qa.ingest.read_document", real)
    report = ingest(index, [corpus], progress=False)
    assert report.updated == 2 and not index.chunking_changed
