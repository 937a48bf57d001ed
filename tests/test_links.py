"""Links in ingested folders (`qa ingest`, `--watch`): a link to a file or a folder outside the
folder is not read, and the ingest says so; --follow-links reads them; links inside are read."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.watch import watch

SECRET = "root:x:0:0:the secret password file of this machine:/root:/bin/bash"
PRIVATE = "Private diary: the shed key hides under the blue flowerpot."


@pytest.fixture
def folders(tmp_path) -> Path:
    """docs/ holding a note, a link to a file outside (as /etc/passwd), a link to a folder outside,
    and a link to a file inside; elsewhere/ holding what the outside links point to."""
    outside = tmp_path / "elsewhere"
    (outside / "diary").mkdir(parents=True)
    (outside / "passwd").write_text(SECRET)
    (outside / "diary" / "day.txt").write_text(PRIVATE)
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "notes" / "cranes.txt").write_text("Cranes nest on the roof of the old mill every spring.")
    (docs / "passwd.txt").symlink_to(outside / "passwd")
    (docs / "diary").symlink_to(outside / "diary", target_is_directory=True)
    (docs / "cranes-again.txt").symlink_to(docs / "notes" / "cranes.txt")
    (docs / "loop").symlink_to(docs, target_is_directory=True)  # a link back up: walked once, no loop
    return docs


def ingest(index: Path, *arguments: str):
    result = CliRunner().invoke(main, ["ingest", "--quiet", "--index", str(index), *arguments])
    assert result.exit_code == 0, result.output
    listing = CliRunner().invoke(main, ["documents", "--index", str(index)])
    return result.output, listing.output


def test_links_out_of_the_folder_are_skipped_and_named(folders, tmp_path):
    output, listing = ingest(tmp_path / "index", str(folders))
    assert f"skipped passwd.txt: a link to {folders.parent / 'elsewhere' / 'passwd'}, outside the folder" in output
    assert f"skipped diary: a link to {folders.parent / 'elsewhere' / 'diary'}, outside the folder" in output
    assert "2 added" in output and "2 skipped" in output  # notes/cranes.txt and the link to it inside
    assert "notes/cranes.txt" in listing and "cranes-again.txt" in listing
    assert "passwd" not in listing and "diary" not in listing
    asked = CliRunner().invoke(main, ["ask", "--index", str(tmp_path / "index"), "secret password file shed key"])
    assert "root:x:0:0" not in asked.output and "flowerpot" not in asked.output


def test_follow_links_reads_them(folders, tmp_path):
    output, listing = ingest(tmp_path / "index", "--follow-links", str(folders))
    assert "skipped" not in output and "4 added" in output
    assert "passwd.txt" in listing and "diary/day.txt" in listing


def test_the_watcher_skips_them_too(folders, tmp_path):
    index = Index(tmp_path / "index", HASHING_MODEL, create=True)
    lines, stop = [], threading.Event()
    stop.set()  # the first sync, then stop
    thread = threading.Thread(target=watch, args=(index, [folders]), kwargs={"stop": stop, "echo": lines.append})
    thread.start()
    thread.join(timeout=60)
    sources = {document["source"] for document in index.store.documents()}
    index.close()
    assert sources == {"notes/cranes.txt", "cranes-again.txt"}
    assert any(line.startswith("skipped passwd.txt: a link to") for line in lines)
    assert any(line.startswith("skipped diary: a link to") for line in lines)
    assert any("2 skipped" in line for line in lines if line.startswith("synced"))


def test_a_file_turned_into_a_link_after_the_walk_is_not_read(folders, tmp_path):
    """Between finding a file and reading it, it may be swapped for a link out of the folder."""
    from qa.ingest import source_files

    files = source_files([folders])
    cranes = next(f for f in files if f.source == "notes/cranes.txt")
    cranes.path.unlink()
    cranes.path.symlink_to(folders.parent / "elsewhere" / "passwd")
    with pytest.raises(Exception, match="now leads outside"):
        cranes.checked_path()
