"""Saving off the request path: a background thread runs a save soon after a change, at most once
every `interval` seconds, and once more when the process exits.

A write marks a change (`changed`) and returns; the thread wakes, waits out what is left of the
interval since the last save, and saves. Changes made meanwhile are saved together (debounced).
`flush` saves now, in the caller's thread (after an ingest, on close); at exit every saver is
flushed, which also waits for a save the thread has under way (a daemon thread is cut off mid-save
when the interpreter ends). The thread ends when nothing is pending, so an idle saver holds no
thread and does not keep its owner alive.

Example: interval 30 s, writes at 0 s, 1 s and 2 s -> one save at 0 s (the first), one at 30 s
(holding the writes of 1 s and 2 s).
"""
from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from typing import Callable

log = logging.getLogger(__name__)

_savers: weakref.WeakSet[Saver] = weakref.WeakSet()
exiting = False  # set when the process's exit handlers run: a save then waits for the writer lock


class Saver:
    def __init__(self, save: Callable[[], None], interval: float, name: str = "qa-saver"):
        self._save = save
        self.interval = interval
        self.name = name
        self._condition = threading.Condition()
        self._saving = threading.Lock()  # one save at a time (the thread's, or a flush)
        self._pending = False
        self._thread: threading.Thread | None = None
        self._last = -math.inf  # monotonic time the last save ended
        _savers.add(self)

    @property
    def pending(self) -> bool:
        return self._pending

    def changed(self) -> None:
        """Something is to be saved: by the thread, once the interval since the last save is over."""
        with self._condition:
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._condition.notify()

    def flush(self) -> None:
        """Save now if anything is pending (waits for a save in progress)."""
        with self._saving:
            with self._condition:
                if not self._pending:
                    return
                self._pending = False
            try:
                self._save()
            except Exception:  # noqa: BLE001 - a failed save is logged; the data is in the store
                log.exception("saving %s failed; it is kept in memory and retried on the next change", self.name)
            finally:
                self._last = time.monotonic()

    def _run(self) -> None:
        while True:
            with self._condition:
                if not self._pending:
                    self._thread = None
                    return
                delay = self._last + self.interval - time.monotonic()
                if delay > 0:
                    self._condition.wait(delay)
                    continue
            self.flush()


@atexit.register
def _flush_all() -> None:
    global exiting
    exiting = True
    for saver in list(_savers):
        saver.flush()  # waits for a save in progress, then saves what is pending
