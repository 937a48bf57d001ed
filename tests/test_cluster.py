"""qa on a real multi-node Ray cluster, started once for the session on 127.0.0.1 (a head with no
CPUs and two 1-CPU worker nodes, no dashboard, a small object store) and stopped at its end.

Every test runs under a hard deadline (faulthandler ends the process if Ray hangs), every Ray call
has its own timeout, and the cluster is asserted to keep all its traffic on the loopback."""
from __future__ import annotations

import faulthandler
import inspect
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.ingest import ingest
from qa.search import Searcher
from qa.terms import query_terms, stem
from tests.conftest import EVAL, SEEDS

pytestmark = pytest.mark.cluster

TEST_DEADLINE = 300  # seconds: a test still running then is a hang; the process is ended with a traceback
OBJECT_STORE = 80 * 2**20
ROWS = ("SELECT d.source, d.hash, d.file_hash, d.collection, d.date, p.idx, p.start, p.end, p.text, p.vector, "
        "p.sentences, p.sentence_vectors, p.word_states FROM passages p JOIN documents d ON d.id = p.document_id "
        "ORDER BY p.id")


@pytest.fixture(scope="session")
def cluster():
    """One cluster for the session: Ray's test settings (no auth token, no usage stats) in tests only."""
    os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    import ray
    from ray.cluster_utils import Cluster

    faulthandler.dump_traceback_later(TEST_DEADLINE, exit=True)
    started = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": OBJECT_STORE})
    for _ in range(2):
        started.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    ray.init(address=started.address, namespace="qa", log_to_driver=False)
    started.wait_for_nodes(timeout=120)
    faulthandler.cancel_dump_traceback_later()
    try:
        yield started
    finally:
        faulthandler.dump_traceback_later(TEST_DEADLINE, exit=True)
        try:
            from ray import serve

            serve.shutdown()
        finally:
            ray.shutdown()
            started.shutdown()
            faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def deadline():
    faulthandler.dump_traceback_later(TEST_DEADLINE, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def rows(folder: Path) -> list[tuple]:
    index = Index(folder, HASHING_MODEL)
    try:
        return list(index.store.db.execute(ROWS))
    finally:
        index.close()


def local_build(folder: Path, paths: list[Path]) -> Path:
    index = Index(folder, HASHING_MODEL, create=True)
    ingest(index, paths, progress=False)
    index.close()
    return folder


def write_corpus(folder: Path, count: int) -> Path:
    """Small distinct articles, a few passages each."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        sentences = [f"Article {number} tells of the river town number {number} and its bridge {number * 7 % 13}."
                     f" Its mayor {number % 5} opened market day {sentence} in spring." for sentence in range(30)]
        (folder / f"article-{number:03d}.txt").write_text(f"Town {number}\n\n" + " ".join(sentences))
    return folder


def test_distributed_ingest_equals_local(cluster, tmp_path):
    from qa.cluster.ingest import ingest as ingest_on_cluster

    paths = [SEEDS, EVAL / "xquad-en" / "corpus"]
    local = local_build(tmp_path / "local", paths)
    index = Index(tmp_path / "ray", HASHING_MODEL, create=True)
    report = ingest_on_cluster(index, paths, cluster.address, progress=False, files_per_batch=4)
    rerun = ingest_on_cluster(index, paths, cluster.address, progress=False)
    index.close()
    expected = rows(local)
    assert report.added == len({row[0] for row in expected}) and report.passages == len(expected)
    # The same documents and passages, in the same order (so the same ids), the same vectors.
    assert rows(tmp_path / "ray") == expected
    assert (rerun.added, rerun.updated, rerun.passages) == (0, 0, 0) and rerun.unchanged == report.added


def test_a_node_removed_mid_ingest_leaves_every_document_once(cluster, tmp_path):
    from qa.cluster.ingest import ingest as ingest_on_cluster

    corpus = write_corpus(tmp_path / "corpus", 40)
    extra = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes(timeout=120)
    removed = []

    def remove_a_node(report) -> None:
        if report.added == 3 and not removed:
            cluster.remove_node(extra)  # its actor dies with the batches it held
            removed.append(report.added)

    index = Index(tmp_path / "ray", HASHING_MODEL, create=True)
    report = ingest_on_cluster(index, [corpus], cluster.address, progress=False, files_per_batch=2,
                               on_commit=remove_a_node)
    sources = [row[0] for row in index.store.db.execute("SELECT source FROM documents")]
    index.close()
    assert removed and report.added == 40 and not report.failed
    assert sorted(sources) == sorted(set(sources)) and len(sources) == 40
    assert rows(tmp_path / "ray") == rows(local_build(tmp_path / "local", [corpus]))


def test_a_killed_driver_leaves_a_loadable_index_and_a_rerun_redoes_nothing(cluster, tmp_path):
    from qa.cluster.ingest import ingest as ingest_on_cluster
    from qa.service import Service

    corpus = write_corpus(tmp_path / "corpus", 150)
    folder = tmp_path / "index"
    driver = subprocess.Popen([sys.executable, "-m", "qa.cli", "ingest", "--quiet", "--ray", cluster.address,
                               "--index", str(folder), str(corpus)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    landed = 0
    for _ in range(1200):  # until some documents have landed (at most 120 s)
        if (folder / "qa.sqlite3").is_file():
            try:
                landed = rows_count(folder)
            except Exception:  # the database is being created
                landed = 0
        if landed >= 5 or driver.poll() is not None:
            break
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    # Counted by a read-write connection: a commit the driver wrote to the WAL just before it died
    # may not be in the shared WAL index yet; a read-only connection trusts that index and misses it
    # (CI once read 9 documents here, then the index opened with 10), a writable one recovers it.
    landed = rows_count(folder, recover=True)
    assert 5 <= landed < 150, f"the driver was killed with {landed} documents landed (stderr: {driver.stderr.read()[-500:]})"

    health = Service({"INDEX": str(folder), "MODEL": HASHING_MODEL}).health()
    assert health["documents"] == landed and health["consistent"]
    index = Index(folder, HASHING_MODEL)
    report = ingest_on_cluster(index, [corpus], cluster.address, progress=False)
    index.close()
    assert report.unchanged == landed and report.added == 150 - landed
    assert rows(folder) == rows(local_build(tmp_path / "local", [corpus]))


def rows_count(folder: Path, recover: bool = False) -> int:
    """Documents stored; `recover`: through a writable connection, which first replays a dead
    writer's WAL (what the index will hold when it opens)."""
    import sqlite3

    mode = "rw" if recover else "ro"
    db = sqlite3.connect(f"file:{folder / 'qa.sqlite3'}?mode={mode}", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    finally:
        db.close()


@pytest.fixture(scope="module")
def eval_index(tmp_path_factory) -> Path:
    """xquad-en and cmu-s08 in one index (the hashing embedder)."""
    return local_build(tmp_path_factory.mktemp("eval-index"), [EVAL / "xquad-en" / "corpus", EVAL / "cmu-s08" / "corpus"])


def questions(name: str, every: int) -> list[str]:
    lines = (EVAL / name / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines[::every]]


def test_sharded_search_ranks_as_one_index(cluster, eval_index):
    from qa.cluster.shards import attach, start_shards

    plain, sharded = Index(eval_index, HASHING_MODEL), Index(eval_index, HASHING_MODEL)
    attach(sharded, start_shards(eval_index, 3, cluster.address))
    asked = questions("xquad-en", 2) + questions("cmu-s08", 4)
    for question in asked:
        expected, found = Searcher(plain).ask(question, 10), Searcher(sharded).ask(question, 10)
        assert [(h.citation.document_id, h.citation.passage) for h in found.passages] == \
            [(h.citation.document_id, h.citation.passage) for h in expected.passages], question
        assert np.allclose([h.score for h in found.passages], [h.score for h in expected.passages], atol=1e-5, rtol=0)
        assert found.confidence == pytest.approx(expected.confidence, abs=1e-5)
        stems = [stem(term) for term in query_terms(question)]
        assert sharded.reader.document_frequencies(stems) == plain.reader.document_frequencies(stems)
        ours, theirs = sharded.reader.bm25(stems, 50), plain.reader.bm25(stems, 50)
        assert [i for i, _ in ours] == [i for i, _ in theirs], question
        assert np.allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5, rtol=0)
        query = plain.embedder.encode_query(question)
        assert [i for i, _ in sharded.reader.search(query, 50)] == [i for i, _ in plain.reader.search(query, 50)]
    assert len(asked) > 600


def restarted_pid(ray, shard, seconds: float = 120) -> int:
    """The shard's process id once Ray has it back (a call made while it restarts can fail)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return ray.get(shard.status.remote(), timeout=30)["pid"]
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_a_shard_down_is_a_503_naming_it_and_a_restarted_shard_answers_whole(cluster, eval_index, tmp_path):
    import ray

    from qa.app import create_app
    from qa.cluster.shards import attach, start_shards

    # Shards of their own (names follow the folder): reusing the equality test's actors, whose handles
    # that test has dropped, left Ray unable to restart one ("all references to the actor were removed").
    folder = shutil.copytree(eval_index, tmp_path / "index")
    app = create_app({"INDEX": str(folder), "MODEL": HASHING_MODEL, "TESTING": True})
    shards = start_shards(folder, 3, cluster.address)
    attach(app.extensions["qa"].index, shards)
    client = app.test_client()
    question = {"question": "Who designed the illumination systems that Tesla Electric Light installed?"}
    whole = client.post("/api/ask", json=question).get_json()["passages"]

    before = ray.get(shards[1].status.remote(), timeout=30)["pid"]
    ray.kill(shards[1], no_restart=False)  # Ray restarts it (max_restarts); it rebuilds its part from the store
    for _ in range(100):  # while it restarts: a whole answer or a 503 naming it, never a partial answer
        response = client.post("/api/ask", json=question)
        if response.status_code == 503:
            # Usually the killed shard; on a loaded machine Ray may also report another one as
            # temporarily unavailable while it restarts the first: either way a shard is named.
            error = response.get_json()["error"]
            assert error["code"] == "shard_unavailable" and re.search(r"Shard [0-2] of 3", error["message"])
            assert "no partial answer" in error["message"]
        else:
            assert response.status_code == 200 and response.get_json()["passages"] == whole
        time.sleep(0.05)
    assert restarted_pid(ray, shards[1]) != before  # a new process: restarted
    assert client.post("/api/ask", json=question).get_json()["passages"] == whole

    ray.kill(shards[2], no_restart=True)  # gone for good: every question says which shard
    response = client.post("/api/ask", json=question)
    assert response.status_code == 503 and "Shard 2 of 3" in response.get_json()["error"]["message"]


class HTTPClient:
    """What tests/test_api.py asks of Flask's test client, over HTTP."""

    def __init__(self, base: str):
        self.base, self.session = base, requests.Session()

    def request(self, method: str, path: str, data=None, json=None, content_type=None, headers=None):
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        return Response(self.session.request(method, self.base + path, data=data, json=json, headers=headers, timeout=30))

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


class Response:
    def __init__(self, response: requests.Response):
        self.status_code, self.headers, self.data = response.status_code, response.headers, response.content
        self.mimetype = response.headers.get("Content-Type", "").split(";")[0]
        self.is_json = self.mimetype == "application/json"

    def get_json(self):
        return json.loads(self.data)


def api_tests() -> list[tuple[str, object, dict]]:
    """The API suite's tests that a client alone can run (not the real-model ones), with their parameters."""
    from tests import test_api

    found = []
    for name, test in inspect.getmembers(test_api, inspect.isfunction):
        marks = getattr(test, "pytestmark", [])
        if not name.startswith("test_") or any(mark.name == "model" for mark in marks):
            continue
        cases = [{}]
        for mark in (m for m in marks if m.name == "parametrize"):
            names = [n.strip() for n in mark.args[0].split(",")]
            cases = [{**case, **dict(zip(names, values if len(names) > 1 else (values,)))}
                     for case in cases for values in mark.args[1]]
        if set(inspect.signature(test).parameters) <= {"client", "test_embedder"} | set(cases[0]):
            found += [(name, test, case) for case in cases]
    return found


def test_the_api_suite_passes_through_ray_serve(cluster, hashing_index_dir, tmp_path):
    from qa.cluster.serve import deploy, undeploy
    from qa.settings import resolve

    folder = tmp_path / "index"
    shutil.copytree(hashing_index_dir, folder)
    config = resolve({"INDEX": str(folder), "MODEL": HASHING_MODEL, "API_TOKEN": "cluster-token"})
    url = deploy(config, cluster.address, replicas=2, port=free_port())
    try:
        for _ in range(600):
            try:
                if requests.get(url + "/api/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        client = HTTPClient(url)
        ran = []
        for name, test, case in api_tests():
            extra = {"test_embedder": HASHING_MODEL} if "test_embedder" in inspect.signature(test).parameters else {}
            test(client, **case, **extra)
            ran.append(name)
        assert len(ran) >= 25 and "test_bad_questions_get_a_json_400" in ran and "test_health" in ran

        # A write through one replica; every replica follows it by the store's generation.
        upload = requests.post(url + "/api/documents", files={"file": ("otters.txt", b"Sea otters hold hands "
                               b"while they sleep so that they do not drift apart.")},
                               headers={"Authorization": "Bearer cluster-token"}, timeout=60)
        assert upload.status_code in (200, 201), upload.text
        for _ in range(20):  # requests spread over both replicas
            hits = requests.post(url + "/api/ask", json={"question": "Why do sea otters hold hands?"}, timeout=30)
            assert hits.json()["passages"][0]["citation"]["source"] == "otters.txt"
    finally:
        undeploy()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cluster_status_names_nodes_and_shards(cluster, eval_index):
    from click.testing import CliRunner

    from qa.cli import main
    from qa.cluster.shards import start_shards

    started = start_shards(eval_index, 2, cluster.address)  # held: non-detached actors end with their handles
    result = CliRunner().invoke(main, ["cluster", "status", "--ray", cluster.address, "--index", str(eval_index), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert sum(node["alive"] for node in found["nodes"]) >= 3
    shards = [s for s in found["shards"] if s["name"].endswith("-of-2")]
    assert len(shards) == 2 and sum(s["passages"] for s in shards) == Index(eval_index, HASHING_MODEL).store.counts()[1]
    assert {s["generation"] for s in shards} == {found["index"]["generation"]}
    assert len(found["shards"]) >= len(started)


def test_an_unreachable_cluster_is_a_clear_error():
    result = subprocess.run([sys.executable, "-m", "qa.cli", "cluster", "status", "--ray", "127.0.0.1:9"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "No Ray cluster answers at 127.0.0.1:9" in result.stderr


def test_ray_keeps_to_the_loopback(cluster):
    """No Ray process listens on, or talks to, an address outside 127.0.0.0/8."""
    checked = 0
    for process in psutil.process_iter(["cmdline", "name"]):
        command = " ".join(process.info["cmdline"] or [])
        if "ray" not in command and process.info["name"] not in ("raylet", "gcs_server"):
            continue
        try:
            connections = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for connection in connections:
            for address in (connection.laddr, connection.raddr):
                if address:
                    ip = ipaddress.ip_address(address.ip)
                    ip = getattr(ip, "ipv4_mapped", None) or ip
                    assert ip.is_loopback, f"{process.info['name']} ({process.pid}) uses {address.ip}:{address.port}"
                    checked += 1
    assert checked > 10


def test_the_embedded_default_never_imports_ray():
    code = "import sys, qa.app, qa.cli, qa.service, qa.ingest, qa.search; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip() == "False"
