"""Folder sync (`qa ingest --watch DIR`): keep the index in step with folders as files come and go.

Each sync is the ordinary ingest of the folders with --prune: files whose bytes are unchanged are
skipped by their hash (nothing is parsed or embedded again), changed and new files are read, and
documents of these folders whose file is gone are removed. The first sync at start-up catches up
on whatever changed while the watcher was down; after that, a change seen by watchfiles (inotify,
FSEvents, ...) starts the next one.

When a sync starts: a changed file must first settle (size and modification time unchanged for
SETTLE_SECONDS), so a file still being written or copied is not read half-way; a deleted file needs
no wait. Changes arriving together (a burst of saves, a folder copied in) are gathered until every
one of them has settled, then synced at once. A file that never settles (a log written to all day)
holds the others back at most MAX_WAIT_SECONDS.

Example: 20 files dropped in at once -> one event batch -> settled a second later -> one sync
("20 added, 0 updated, 0 removed").
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.index import Index
from qa.ingest import IngestReport, ingest
from qa.readers import SUFFIXES

SETTLE_SECONDS = 1.0  # a file is read once its size and mtime have held this long
TICK_MS = 100  # how often unsettled files are looked at again
MAX_WAIT_SECONDS = 60.0  # a file that never settles does not hold the others back longer than this


@dataclass
class Pending:
    """Paths changed since the last sync, each with its last seen (size, mtime) and since when."""
    seen: dict[Path, tuple[tuple[int, int] | None, float]] = field(default_factory=dict)
    first: float | None = None  # when the oldest unsynced change arrived

    def add(self, path: Path, now: float) -> None:
        self.seen[path] = (signature(path), now)
        self.first = self.first or now

    def settled(self, now: float, settle: float) -> bool:
        """True when every changed path is gone or has kept its size and mtime for `settle` seconds
        (or the oldest change has waited MAX_WAIT_SECONDS)."""
        calm = True
        for path, (before, since) in list(self.seen.items()):
            current = signature(path)
            if current != before:
                self.seen[path] = (current, now)
                calm = calm and current is None
            elif current is not None and now - since < settle:
                calm = False
        return bool(self.seen) and (calm or now - (self.first or now) >= MAX_WAIT_SECONDS)

    def clear(self) -> None:
        self.seen.clear()
        self.first = None


def signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns), or None for a path that is gone (or is a folder)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_size, found.st_mtime_ns) if path.is_file() else None


def relevant(roots: list[Path]) -> Callable[[object, str], bool]:
    """The watchfiles filter: supported files and folders (a folder moved away takes its files),
    never hidden ones (ingest skips them too)."""
    def accept(_change: object, name: str) -> bool:
        path = Path(name)
        root = next((r for r in roots if path.is_relative_to(r)), None)
        if root is None or any(part.startswith(".") for part in path.relative_to(root).parts):
            return False
        return path.suffix.lower() in SUFFIXES or path.is_dir() or not path.suffix
    return accept


def sync(index: Index, folders: list[Path], echo: Callable[[str], None], **placement) -> IngestReport:
    """One ingest --prune of the folders; `placement`: the collection, tags and follow_links given to ingest."""
    report = ingest(index, folders, prune=True, progress=False, **placement)
    for source, reason in report.failed + report.skipped:
        echo(f"skipped {source}: {reason}")
    for source in report.empty:
        echo(f"skipped {source}: no text")
    echo(f"synced: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
         f"{report.removed} removed{f', {len(report.skipped)} skipped' if report.skipped else ''} "
         f"in {report.seconds:.1f}s")
    return report


def watch(index: Index, folders: list[Path], stop: threading.Event | None = None,
          echo: Callable[[str], None] = print, settle: float = SETTLE_SECONDS,
          on_sync: Callable[[IngestReport], None] | None = None, **placement) -> None:
    """Sync now, then after every settled batch of changes, until `stop` is set (or Ctrl-C).
    `placement`: collection=, tags= and follow_links= for ingest."""
    import watchfiles

    roots = [Path(folder).resolve() for folder in folders]
    stop = stop or threading.Event()
    echo(f"watching {', '.join(map(str, roots))} (Ctrl-C stops)")
    report = sync(index, roots, echo, **placement)
    if on_sync:
        on_sync(report)
    pending = Pending()
    changes = watchfiles.watch(*roots, watch_filter=relevant(roots), debounce=TICK_MS, step=20, stop_event=stop,
                               rust_timeout=TICK_MS, yield_on_timeout=True, raise_interrupt=False)
    for batch in changes:  # an empty batch every TICK_MS: time to look at the unsettled files again
        now = time.monotonic()
        for _change, name in batch:
            pending.add(Path(name), now)
        if pending.settled(now, settle):
            pending.clear()
            report = sync(index, roots, echo, **placement)
            if on_sync:
                on_sync(report)
    echo("stopped watching")
