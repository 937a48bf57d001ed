"""Folder sync latency: seconds from a file saved to its passages answering, and from a file deleted
to its passages gone (median of N each), with `qa ingest --watch` running as its own process and the
questions asked through a separate Service, as `qa serve` beside the watcher would.

    python bench/watch_latency.py [--rounds 20] [--model hashing:words]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa import settings
from qa.service import Service

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def until(condition, limit: float = 60.0) -> float:
    began = time.perf_counter()
    while not condition():
        if time.perf_counter() - began > limit:
            raise SystemExit("timed out")
        time.sleep(0.02)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--model", default=None, help="default: the bundled model")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="watch-latency-"))
    folder, index_dir = work / "folder", work / "index"
    folder.mkdir()
    for seed in SEEDS.glob("*.txt"):
        (folder / seed.name).write_bytes(seed.read_bytes())
    env = {**os.environ, **({"QA_MODEL": args.model} if args.model else {})}
    watcher = subprocess.Popen([sys.executable, "-m", "qa.cli", "ingest", "--watch", "--index", str(index_dir), str(folder)],
                               env=env, stderr=subprocess.PIPE, text=True)
    for line in watcher.stderr:
        if line.startswith("synced:"):
            break
    service = Service(settings.resolve({"INDEX": str(index_dir), "MODEL": args.model}))
    service.warm_up()
    saved, deleted = [], []
    for n in range(args.rounds):
        name = f"Quillon{n}x"
        path = folder / f"fact-{n}.txt"
        path.write_text(f"Fact {n}: the zebra named {name} eats {n + 3} green apples every morning.\n")
        saved.append(until(lambda: name in service.ask(f"What does {name} eat?", 1).passages[0].text))
        path.unlink()
        deleted.append(until(lambda: all(name not in hit.text for hit in service.ask(f"What does {name} eat?", 5).passages)))
    watcher.terminate()
    watcher.wait(timeout=30)
    print(f"model {service.index.model}, {args.rounds} rounds")
    print(f"saved -> answering: median {statistics.median(saved):.2f}s (min {min(saved):.2f}, max {max(saved):.2f})")
    print(f"deleted -> gone:    median {statistics.median(deleted):.2f}s (min {min(deleted):.2f}, max {max(deleted):.2f})")


if __name__ == "__main__":
    main()
