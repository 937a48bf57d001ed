"""Folder sync: the watcher (qa/watch.py) run in a thread over a temp folder, checked the way a user
would notice, through a separate Service over the same index (as `qa serve` beside the watcher)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from qa import settings
from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.service import Service
from qa.watch import watch

WAIT_SECONDS = 30  # how long to wait for the index to catch up before failing (not a latency bound)


@contextmanager
def watching(folder: Path, index_dir: Path):
    """The watcher in a thread; yields the list of sync reports as they happen."""
    index = Index(index_dir, HASHING_MODEL, create=True)
    reports, lines, stop = [], [], threading.Event()
    thread = threading.Thread(target=watch, args=(index, [folder]),
                              kwargs={"stop": stop, "echo": lines.append, "on_sync": reports.append})
    thread.start()
    try:
        wait_for(lambda: reports, "the first sync")
        yield reports
    finally:
        stop.set()
        thread.join(timeout=WAIT_SECONDS)
        index.close()
    assert not thread.is_alive() and lines[-1] == "stopped watching"


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS}s for {what}")
        time.sleep(0.05)
    return found


def reader(index_dir: Path) -> Service:
    return Service(settings.resolve({"INDEX": str(index_dir), "MODEL": HASHING_MODEL}))


def sources(service: Service) -> set[str]:
    return {d["source"] for d in service.documents()}


def top_text(service: Service, question: str) -> str:
    return service.ask(question, 1).passages[0].text


@pytest.fixture
def folder(tmp_path) -> Path:
    found = tmp_path / "notes"
    found.mkdir()
    (found / "rivers.txt").write_text("The Danube flows through ten countries before it reaches the Black Sea.\n")
    return found


def test_added_changed_and_deleted_files_follow_the_folder(folder, tmp_path):
    index_dir = tmp_path / "index"
    with watching(folder, index_dir) as reports:
        service = reader(index_dir)
        assert sources(service) == {"rivers.txt"}

        (folder / "otters.md").write_text("# Otters\n\nSea otters hold hands while they sleep so they do not drift apart.\n")
        wait_for(lambda: "hold hands" in top_text(service, "Why do sea otters hold hands?"), "the new file to answer")

        (folder / "otters.md").write_text("# Otters\n\nSea otters keep a favourite stone in a pouch under the arm.\n")
        wait_for(lambda: "favourite stone" in top_text(service, "Where do sea otters keep their stone?"), "the change")
        otters = next(d for d in service.documents() if d["source"] == "otters.md")
        assert "hold hands" not in service.document(otters["id"])["text"]  # replaced, not added beside
        assert len(service.documents()) == 2

        (folder / "otters.md").unlink()
        wait_for(lambda: sources(service) == {"rivers.txt"}, "the deleted file's document to go")
        assert "otter" not in top_text(service, "Why do sea otters hold hands?").lower()
        wait_for(lambda: [(r.added, r.updated, r.removed) for r in reports[1:]] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)],
                 "one sync for each change")


def test_a_burst_of_files_is_synced_in_few_ingests(folder, tmp_path):
    index_dir = tmp_path / "index"
    with watching(folder, index_dir) as reports:
        synced_before = len(reports)
        for n in range(20):
            (folder / f"note-{n:02d}.txt").write_text(f"Note {n}: the lighthouse keeper counted {n * 7} gulls.\n")
        service = reader(index_dir)
        wait_for(lambda: sum(r.added for r in reports[synced_before:]) == 20, "all 20 files")
        assert len(sources(service)) == 21
        burst = reports[synced_before:]
        assert 1 <= len(burst) <= 3 and sum(r.added for r in burst) == 20


def test_a_file_written_slowly_is_read_once_complete(folder, tmp_path):
    index_dir = tmp_path / "index"
    with watching(folder, index_dir) as reports:
        service = reader(index_dir)
        synced_before = len(reports)
        with open(folder / "slow.txt", "w") as slow:
            for n in range(10):  # ten pieces, 0.3 s apart: the file never holds still for a second
                slow.write(f"Piece {n} of the slow file describes canal lock number {n}.\n")
                slow.flush()
                time.sleep(0.3)
                assert "slow.txt" not in sources(service)  # not read half-written
        wait_for(lambda: sum(r.added for r in reports[synced_before:]) == 1, "the finished file's sync")
        slow_document = next(d for d in service.documents() if d["source"] == "slow.txt")
        assert "canal lock number 9." in service.document(slow_document["id"])["text"]
        assert sum(r.added for r in reports[synced_before:]) == 1
        assert sum(r.updated for r in reports[synced_before:]) == 0


def test_a_restart_catches_up_without_embedding_unchanged_files(folder, tmp_path):
    index_dir = tmp_path / "index"
    (folder / "keep.txt").write_text("The old mill grinds barley on Tuesdays.\n")
    (folder / "gone.txt").write_text("The ferry to the island leaves at dawn.\n")
    with watching(folder, index_dir) as reports:
        assert reports[0].added == 3
    # while the watcher is down: one file added, one changed, one deleted
    (folder / "new.txt").write_text("Hedgehogs hibernate under piles of leaves.\n")
    (folder / "keep.txt").write_text("The old mill grinds rye on Wednesdays.\n")
    (folder / "gone.txt").unlink()
    with watching(folder, index_dir) as reports:
        first = reports[0]
        assert (first.added, first.updated, first.removed, first.unchanged) == (1, 1, 1, 1)
        assert first.passages == 2  # only the new and the changed file were embedded
        service = reader(index_dir)
        assert sources(service) == {"rivers.txt", "keep.txt", "new.txt"}
        assert "rye on Wednesdays" in top_text(service, "What does the old mill grind?")


def test_ctrl_c_stops_the_command_cleanly(folder, tmp_path):
    env = {**os.environ, "QA_MODEL": HASHING_MODEL}
    process = subprocess.Popen([sys.executable, "-m", "qa.cli", "ingest", "--watch", "--index", str(tmp_path / "index"),
                                str(folder)], env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:  # progress lines on stderr
        lines.append(line.strip())
        if line.startswith("synced:"):
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 0
    assert lines[0].startswith("watching ") and lines[1].startswith("synced: 1 added")
    assert rest.strip().endswith("stopped watching") and "Traceback" not in rest


def test_watch_needs_folders(folder):
    from click.testing import CliRunner

    from qa.cli import main

    result = CliRunner().invoke(main, ["ingest", "--watch", str(folder / "rivers.txt")])
    assert result.exit_code == 2 and "--watch keeps folders in step: give folders, not files." in result.output
