"""`qa serve` on this machine: one process, or a process per core.

    workers 1   waitress in this process, THREADS threads (as before issue 24)
    workers N   gunicorn's prefork master on HOST:PORT, N worker processes, each its own app with THREADS
                threads (gunicorn's gthread worker); the master restarts a worker that dies and stops
                them all on SIGTERM or Ctrl-C, each finishing its requests first

Why processes: a question spends most of its time in Python (fusion, re-rank, citation, JSON), which
one process runs on one core at a time whatever its threads. Each worker opens the index itself,
after the fork (nothing of the model, FAISS or SQLite crosses a fork): the FAISS file is memory-
mapped, so its pages are shared through the page cache until a write makes a process copy it; BM25
is loaded per process. Writes need nothing new: every write takes the folder's writer lock and bumps
the store's generation, and a process catches up with writes made elsewhere before it answers its
next question (qa/derived.py). Each worker's model runs on its share of the cores (cores / N threads,
at least one), so N workers do not oversubscribe them.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 30  # a stopping worker finishes its requests (and saves its FAISS and BM25 files) within this


def default_workers() -> int:
    """One process per core this process may run on (read here: the master imports nothing heavy)."""
    return max(1, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def serving_app(config: dict, workers: int = 1) -> Flask:
    """The app as one serving process runs it: its model on its share of the cores, the model and the
    indexes loaded now rather than on the first question, and the MCP transport's loop started."""
    from qa import embedding
    from qa.app import create_app
    from qa.errors import IndexNotBuilt

    embedding.share_cores(workers)
    app = create_app(config)
    try:
        app.extensions["qa"].warm_up()
    except IndexNotBuilt as error:
        log.warning("%s", error.message)  # serve anyway: /api/* answers 503 until the index is built
    app.extensions["mcp"].start()  # the MCP transport's event loop, ready for the first client
    return app


def serve(config: dict, host: str, port: int, threads: int, workers: int,
          echo: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or Ctrl-C."""
    where = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    if workers <= 1:
        serve_one(config, host, port, threads, where, echo)
    else:
        serve_many(config, host, port, threads, workers, where, echo)


def serve_one(config: dict, host: str, port: int, threads: int, where: str, echo: Callable[[str], None]) -> None:
    import signal
    import sys

    import waitress

    app = serving_app(config)
    echo(f"qa serving {config['INDEX']} on {where} (MCP at /mcp)")
    # SIGTERM ends the server as Ctrl-C does (waitress stops on SystemExit), so the exit handlers
    # run and the FAISS and BM25 files left unsaved by recent writes are saved (qa/saver.py).
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    waitress.serve(app, host=host, port=port, threads=threads, ident="qa")


def serve_many(config: dict, host: str, port: int, threads: int, workers: int, where: str,
               echo: Callable[[str], None]) -> None:
    """gunicorn's master in this process; the workers are forked from it before anything of qa's
    indexes or model is loaded (the master never loads them)."""
    from gunicorn.app.base import BaseApplication

    class Prefork(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
                "workers": workers, "worker_class": "gthread", "threads": threads,
                # A worker loads the model and the indexes before it answers (seconds at 1M passages, a
                # rebuild after a crash longer): no heartbeat timeout kills it meanwhile.
                "timeout": 0, "graceful_timeout": GRACEFUL_SECONDS, "keepalive": 5,
                "proc_name": "qa", "accesslog": None, "errorlog": "-",
                "loglevel": str(config.get("LOG_LEVEL", "INFO")).lower(),
                "control_socket_disable": True,  # gunicorn >= 25 listens on a control socket otherwise
            }
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Flask:  # in each worker, after the fork
            return serving_app(config, workers)

    echo(f"qa serving {config['INDEX']} on {where} with {workers} worker processes of {threads} threads "
         f"(MCP at /mcp; master pid {os.getpid()})")
    Prefork().run()
