"""Ray figures for docs/scale-out.md: ingest passages/s local vs on a Ray cluster of 1 and 2 worker
nodes; question latency through Ray Serve vs plain `qa serve`; sharded vs unsharded search at 100k.

    .venv/bin/python bench/cluster.py ingest [--corpus DIR ...] [--runs 3] [--arms 1-node 2-node]
    .venv/bin/python bench/cluster.py serve [--requests 300]
    .venv/bin/python bench/cluster.py shards [--index ~/.cache/qa/bench/distinct-100k] [--shards 2]

Each part starts its own loopback cluster (ray.cluster_utils.Cluster: a head with no CPUs, worker
nodes as asked, no dashboard) and prints one JSON line. All on this machine's 2 cores: a "node" here
is a share of the same cores, so the figures show Ray's overhead, not a cluster's speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")

ROOT = Path(__file__).resolve().parent.parent
EVAL = Path("/work/shared/eval") if Path("/work/shared/eval").is_dir() else ROOT / "tests" / "data" / "eval"
OBJECT_STORE = 200 * 2**20


def start_cluster(nodes: list[int]):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                            "object_store_memory": OBJECT_STORE})
    for cpus in nodes:
        cluster.add_node(num_cpus=cpus, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes(timeout=180)
    ray.init(address=cluster.address, namespace="qa", log_to_driver=False)
    return cluster


def stop_cluster(cluster) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()


ARMS = {"local": None, "ray, 1 worker node (2 CPUs)": [2], "ray, 2 worker nodes (1 CPU each)": [1, 1]}


def bench_ingest(corpora: list[Path], runs: int = 1, arms: list[str] | None = None) -> dict:
    """Each arm `runs` times, the arms' order rotating from run to run (so a drift of the machine's
    speed lands on every arm alike); each Ray run's rate is also divided by the local run's of the
    same round. Medians with the range."""
    work = Path(tempfile.mkdtemp(prefix="qa-bench-cluster-"))
    names = ["local"] + [name for name in ARMS if name != "local" and (not arms or ARMS[name] and
                                                                       f"{len(ARMS[name])}-node" in arms)]
    rates: dict[str, list[float]] = {name: [] for name in names}
    model_seconds: dict[str, list[float]] = {name: [] for name in names}  # the model's own time, summed
    checks: dict[str, dict] = {}
    for run in range(runs):
        order = names[run % len(names):] + names[:run % len(names)]
        for name in order:
            folder = work / f"{name.replace(' ', '_')}-{run}"
            report = ingest_arm(folder, corpora, ARMS[name])
            rates[name].append(report.passages_per_second)
            model_seconds[name].append(report.embed_seconds)
            if name == "local" and run == 0:
                local_rows = rows(folder)
            checks.setdefault(name, {"passages": report.passages})
            if ARMS[name] is not None:
                checks[name]["writer_alone_passages_per_second"] = round(report.writer_passages_per_second, 1)
            if name != "local":
                checks[name]["_folder"] = folder
    for name in names[1:]:  # the rows equal the local ingest's
        import numpy as np

        found = rows(checks[name].pop("_folder"))
        same = [a[:3] == b[:3] for a, b in zip(found, local_rows)]
        checks[name]["same_passages_as_local"] = len(found) == len(local_rows) and all(same)
        checks[name]["largest_vector_difference"] = max(
            float(np.abs(np.frombuffer(a[3], np.float32) - np.frombuffer(b[3], np.float32)).max())
            for a, b in zip(found, local_rows))
    figures = {}
    for name in names:
        figures[name] = {**checks[name], "passages_per_second": spread(rates[name]),
                         "runs": [round(rate, 1) for rate in rates[name]],
                         "model_seconds": [round(seconds, 1) for seconds in model_seconds[name]]}
        if name != "local":
            figures[name]["ratio_to_local_same_round"] = spread(
                [rate / local for rate, local in zip(rates[name], rates["local"])], digits=3)
    shutil.rmtree(work, ignore_errors=True)
    return figures


def ingest_arm(folder: Path, corpora: list[Path], nodes: list[int] | None):
    """One ingest into a new index: local (nodes None), or on a new loopback cluster of these nodes."""
    from qa.cluster.ingest import ingest as ingest_on_cluster
    from qa.index import Index
    from qa.ingest import ingest

    if nodes is None:
        index = Index(folder, create=True)
        report = ingest(index, corpora, progress=False)
        index.close()
        return report
    cluster = start_cluster(nodes)
    try:
        index = Index(folder, create=True)
        report = ingest_on_cluster(index, corpora, cluster.address, progress=False)
        index.close()
    finally:
        stop_cluster(cluster)
    return report


def spread(values: list[float], digits: int = 1) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def rows(folder: Path) -> list[tuple]:
    from qa.index import Index

    index = Index(folder)
    try:
        return list(index.store.db.execute("SELECT d.source, p.idx, p.text, p.vector FROM passages p "
                                           "JOIN documents d ON d.id = p.document_id ORDER BY p.id"))
    finally:
        index.close()


def latencies(url: str, questions: list[str], count: int) -> dict:
    """A question's round trip, and a route that does no search (an unknown document's 404): the
    second is what the server and proxy themselves cost."""
    import requests

    session = requests.Session()
    for question in questions[:20]:  # warm: the model, the indexes, the connections
        session.post(url + "/api/ask", json={"question": question}, timeout=60)
    took = []
    for number in range(count):
        began = time.perf_counter()
        response = session.post(url + "/api/ask", json={"question": questions[number % len(questions)]}, timeout=60)
        took.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
    took.sort()
    bare = []
    for _ in range(count):
        began = time.perf_counter()
        assert session.get(url + "/api/documents/0000000000000000", timeout=60).status_code == 404
        bare.append((time.perf_counter() - began) * 1000)
    bare.sort()
    return {"p50_ms": round(statistics.median(took), 2), "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2),
            "no_search_p50_ms": round(statistics.median(bare), 2),
            "no_search_p99_ms": round(bare[int(0.99 * (len(bare) - 1))], 2)}


def bench_serve(count: int) -> dict:
    from qa.cluster.serve import deploy, undeploy
    from qa.index import Index
    from qa.ingest import ingest
    from qa.settings import resolve

    work = Path(tempfile.mkdtemp(prefix="qa-bench-serve-"))
    index = Index(work / "index", create=True)
    ingest(index, [EVAL / "xquad-en" / "corpus"], progress=False)
    index.close()
    questions = [json.loads(line)["question"] for line in (EVAL / "xquad-en" / "questions.jsonl").read_text().splitlines()]
    figures = {}
    server = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", str(work / "index"), "--port", "8731"],
                              stderr=subprocess.DEVNULL)
    try:
        wait_until_up("http://127.0.0.1:8731")
        figures["qa serve (waitress)"] = latencies("http://127.0.0.1:8731", questions, count)
    finally:
        server.terminate()
        server.wait(timeout=30)
    cluster = start_cluster([1, 1])
    try:
        url = deploy(resolve({"INDEX": str(work / "index")}), cluster.address, replicas=2, port=8732)
        wait_until_up(url)
        figures["Ray Serve, 2 replicas"] = latencies(url, questions, count)
        undeploy()
        figures["Ray Serve floor: 2 replicas returning a constant"] = serve_floor(url, count)
    finally:
        stop_cluster(cluster)
    shutil.rmtree(work, ignore_errors=True)
    return figures


def serve_floor(url: str, count: int) -> dict:
    """What Ray Serve itself costs here: the same proxy (the one `deploy` started) and replicas of the
    same size, running a deployment that returns a constant (no Flask, no a2wsgi, no index)."""
    import requests
    from ray import serve

    from qa.cluster.serve import REPLICA_CPUS

    @serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": REPLICA_CPUS})
    class Constant:
        async def __call__(self, request):
            return {"ok": True}

    serve.run(Constant.bind(), name="constant", route_prefix="/")
    session = requests.Session()
    for _ in range(20):
        session.get(url + "/", timeout=60)
    took = []
    for _ in range(count):
        began = time.perf_counter()
        assert session.get(url + "/", timeout=60).status_code == 200
        took.append((time.perf_counter() - began) * 1000)
    serve.delete("constant")
    took.sort()
    return {"p50_ms": round(statistics.median(took), 2), "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2)}


def wait_until_up(url: str, seconds: float = 300) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {seconds:.0f}s")


def bench_shards(folder: Path, shards: int, count: int) -> dict:
    from qa.cluster.shards import attach, start_shards
    from qa.index import Index
    from qa.search import Searcher

    questions = [json.loads(line)["question"] for line in (EVAL / "xquad-en" / "questions.jsonl").read_text().splitlines()]
    plain = Index(folder)
    plain.refresh()
    figures = {"passages": plain.store.counts()[1]}
    cluster = start_cluster([1, 1])
    try:
        began = time.perf_counter()
        sharded = Index(folder)
        attach(sharded, start_shards(folder, shards, cluster.address))
        figures["shards_built_seconds"] = round(time.perf_counter() - began, 1)
        for name, index in (("unsharded", plain), (f"{shards} shards", sharded)):
            searcher = Searcher(index)
            for question in questions[:20]:
                searcher.ask(question, 5)
            took = []
            for question in questions[20:20 + count]:
                began = time.perf_counter()
                searcher.ask(question, 5)
                took.append((time.perf_counter() - began) * 1000)
            took.sort()
            figures[name] = {"p50_ms": round(statistics.median(took), 2), "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2)}
        same = sum([h.citation.passage for h in Searcher(plain).ask(q, 5).passages] ==
                   [h.citation.passage for h in Searcher(sharded).ask(q, 5).passages] for q in questions[:100])
        figures["same_top5_of_100"] = same
    finally:
        stop_cluster(cluster)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["ingest", "serve", "shards"])
    parser.add_argument("--corpus", action="append", type=Path)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--index", type=Path, default=Path.home() / ".cache/qa/bench/distinct-100k")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="ingest: runs of each arm, alternated")
    parser.add_argument("--arms", nargs="*", choices=["1-node", "2-node"],
                        help="ingest: the Ray arms to run beside local (default both)")
    arguments = parser.parse_args()
    if arguments.part == "ingest":
        result = bench_ingest(arguments.corpus or [EVAL / "xquad-en" / "corpus", EVAL / "cmu-s08" / "corpus"],
                              arguments.runs, arguments.arms)
    elif arguments.part == "serve":
        result = bench_serve(arguments.requests)
    else:
        result = bench_shards(arguments.index, arguments.shards, min(arguments.requests, 200))
    print(json.dumps({arguments.part: result}))


if __name__ == "__main__":
    main()
