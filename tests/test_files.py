"""The index folder shared by several processes: atomic writes, the writer lock, derived files tied
to the store's generation, and a folder that cannot be written."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.app import create_app
from qa.files import write_atomically, writer_lock
from qa.index import Index
from qa.ingest import ingest
from qa.terms import stem
from tests.conftest import API_TOKEN

OTTERS = "River otters hold hands while they sleep so that they do not drift apart in the current. " * 3
VOLCANO = "Volcanic lava flows downhill after an eruption and cools into black basalt rock fields. " * 3
DERIVED = ("vectors", "lexical")  # data files built from the store (meta.json is not one)


def qa_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "qa.cli", *args]


def build(folder: Path, model: str | None, files: dict[str, str]) -> Index:
    corpus = folder.parent / f"{folder.name}-corpus"
    corpus.mkdir()
    for name, text in files.items():
        (corpus / name).write_text(text)
    index = Index(folder, model, create=True)
    ingest(index, [corpus], progress=False)
    return index


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "meta.json"
    write_atomically(path, b"old")

    def half_then_fail(file):
        file.write(b"new, half writ")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_a_late_rename_from_an_older_generation_is_never_served(tmp_path, test_embedder):
    """A writer that lost a race renames its FAISS and BM25 files in after the current ones were
    saved (here: the files of the previous generation copied back over the current ones). The
    document was replaced by one with as many passages, so a count check cannot tell."""
    folder = tmp_path / "index"
    index = build(folder, test_embedder, {"otters.txt": OTTERS})
    index.save_vectors()
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith(DERIVED)}
    replaced = tmp_path / "index-corpus" / "otters.txt"
    replaced.write_text(VOLCANO)
    report = ingest(index, [replaced.parent], progress=False)
    assert report.updated == 1 and index.store.counts() == (1, 1)  # one passage before and after
    index.close()
    for name, data in before.items():
        (folder / name).write_bytes(data)

    reopened = Index(folder, test_embedder)
    current = {row[0] for row in reopened.store.db.execute("SELECT id FROM passages")}
    query = reopened.embedder.encode_query("volcanic lava eruption basalt")
    assert {i for i, _ in reopened.search(query, 10)} == current
    assert {i for i, _ in reopened.bm25([stem("lava")], 10)} == current
    assert not reopened.bm25([stem("otters")], 10)


def test_a_server_sees_what_a_qa_ingest_process_adds(tmp_path, test_embedder):
    """An app has the index open (FAISS and BM25 loaded); `qa ingest` runs in another process; the
    app's next question finds the new document's passage, and its indexes hold every passage."""
    folder = tmp_path / "index"
    build(folder, test_embedder, {"otters.txt": OTTERS}).close()
    client = create_app({"INDEX": str(folder), "MODEL": test_embedder, "TESTING": True}).test_client()
    first = client.post("/api/ask", json={"question": "Why do otters hold hands?"}).get_json()
    assert first["passages"][0]["citation"]["source"] == "otters.txt"

    corpus = tmp_path / "more"
    corpus.mkdir()
    (corpus / "volcano.txt").write_text(VOLCANO)
    result = subprocess.run(qa_command("ingest", "--quiet", "--index", str(folder), str(corpus)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout

    answer = client.post("/api/ask", json={"question": "What does lava become after an eruption?"}).get_json()
    assert answer["passages"][0]["citation"]["source"] == "volcano.txt"
    health = client.get("/api/health").get_json()
    assert health["consistent"] and health["documents"] == 2 and health["vectors"] == health["passages"]


def test_a_writer_waits_for_the_lock_another_process_holds(tmp_path, test_embedder):
    folder = tmp_path / "index"
    index = build(folder, test_embedder, {"otters.txt": OTTERS})
    document_id = index.store.documents()[0]["id"]
    index.close()
    lock = writer_lock(folder)
    with lock:
        remover = subprocess.Popen(qa_command("documents", "--index", str(folder), "--remove", document_id),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(30):  # the remover starts, then waits for the lock: the document stays
            time.sleep(0.1)
            assert Index(folder, test_embedder).store.document(document_id) is not None
    output, errors = remover.communicate(timeout=120)
    assert remover.returncode == 0, errors
    assert "removed" in output and Index(folder, test_embedder).store.counts() == (0, 0)


def read_only(command: list[str]) -> list[str]:
    """`command` unable to write files it does not own the write bits of. Root ignores permission
    bits, so as root the command runs without the capabilities that let it (CAP_DAC_OVERRIDE...)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", *command]


def make_read_only(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)


ASK_AND_UPLOAD = """
import json, sys
from qa.app import create_app
client = create_app({"INDEX": sys.argv[1], "API_TOKEN": "%s", "TESTING": True}).test_client()
ask = client.post("/api/ask", json={"question": "Why do otters hold hands?"})
upload = client.post("/api/documents", json={"text": "Lava cools into basalt.", "source": "lava.txt"},
                     headers={"Authorization": "Bearer %s"})
print(json.dumps({"ask": [ask.status_code, ask.get_json()], "upload": [upload.status_code, upload.get_json()],
                  "health": client.get("/api/health").get_json()}))
""" % (API_TOKEN, API_TOKEN)


def test_a_read_only_index_folder_answers_questions(tmp_path, test_embedder):
    """A folder on a read-only disk: questions are answered (FAISS and BM25 rebuilt in memory when
    their files are missing, with a warning), a write is refused as read-only, and nothing is written."""
    import json

    folder = tmp_path / "index"
    build(folder, test_embedder, {"otters.txt": OTTERS}).close()
    for path in folder.glob("vectors-*.faiss"):
        path.unlink()
    make_read_only(folder)
    listing = sorted(p.name for p in folder.iterdir())
    try:
        cli = subprocess.run(read_only(qa_command("ask", "--index", str(folder), "Why do otters hold hands?")),
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "otters.txt" in cli.stdout and "hold hands" in cli.stdout
        assert "opened read-only" in cli.stderr and "kept in memory only" in cli.stderr

        api = subprocess.run(read_only([sys.executable, "-c", ASK_AND_UPLOAD, str(folder)]),
                             capture_output=True, text=True, timeout=120)
        assert api.returncode == 0, api.stderr
        result = json.loads(api.stdout)
        assert result["ask"][0] == 200 and result["ask"][1]["passages"][0]["citation"]["source"] == "otters.txt"
        assert result["upload"][0] == 409 and result["upload"][1]["error"]["code"] == "index_read_only"
        assert result["health"]["consistent"] and result["health"]["documents"] == 1
        assert sorted(p.name for p in folder.iterdir()) == listing
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
