"""The background saver: the first change is saved at once, later ones together after the interval."""
from __future__ import annotations

import threading

from qa.saver import Saver, _flush_all


def test_changes_within_the_interval_are_saved_together():
    saves = []
    first = threading.Event()

    def save() -> None:
        saves.append(1)
        first.set()

    saver = Saver(save, interval=3600)
    saver.changed()
    assert first.wait(60), "the first change was never saved"
    saver.changed()
    saver.changed()
    assert len(saves) == 1 and saver.pending  # waiting out the interval
    saver.flush()  # as an ingest's end or the exit does
    assert len(saves) == 2 and not saver.pending
    saver.flush()
    assert len(saves) == 2  # nothing pending, nothing saved


def test_a_failed_save_is_logged_and_the_next_change_saves_again(caplog):
    attempts = []
    tried = threading.Event()

    def save() -> None:
        attempts.append(1)
        tried.set()
        if len(attempts) == 1:
            raise OSError("disk full")

    saver = Saver(save, interval=3600)
    saver.changed()
    assert tried.wait(60)
    saver.changed()
    saver.flush()
    assert len(attempts) == 2 and not saver.pending
    assert "disk full" in caplog.text


def test_the_exit_waits_for_a_save_already_under_way():
    """At exit the thread may be mid-save with nothing pending any more; the exit must wait for it,
    or the interpreter cuts the daemon thread off before the save ends (seen as a lost warning)."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_save() -> None:
        started.set()
        release.wait(60)
        finished.set()

    saver = Saver(slow_save, interval=3600)
    saver.changed()
    assert started.wait(60) and not saver.pending
    threading.Timer(0.5, release.set).start()
    _flush_all()
    assert finished.is_set(), "the exit returned while the save was still running"
