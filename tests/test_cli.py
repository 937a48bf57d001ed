from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from qa.cli import main
from tests.conftest import SEEDS

pytestmark = pytest.mark.model


@pytest.fixture
def runner():
    return CliRunner()


def test_ask_prints_cited_passages(runner, seeds_index_dir):
    result = runner.invoke(main, ["ask", "--index", str(seeds_index_dir), "--top-k", "2",
                                  "How much in rare earth metals did Trump demand from Ukraine?"])
    assert result.exit_code == 0, result.output
    assert "[1] Hegseth Rules Out U.S. Peacekeeping in Ukraine" in result.output
    assert "002_aadcb0dba0a30b9a.txt" in result.output and "$500 billion" in result.output
    assert "[3]" not in result.output


def test_ask_json_is_the_api_shape(runner, seeds_index_dir, client):
    """The same keys as POST /api/ask (less the conversation, which one question does not have), and
    the same passages: nothing internal (the conversation's topic) leaks out."""
    question = "Who is Kaja Kallas?"
    result = runner.invoke(main, ["ask", "--json", "--index", str(seeds_index_dir), question])
    body = json.loads(result.stdout)
    api = client.post("/api/ask", json={"question": question}).get_json()
    assert set(body) == set(api) - {"conversation_id"} == {
        "question", "confident", "confidence", "confidence_reasons", "passages", "took_ms", "collection",
        "filter_matched", "message"}
    assert body["passages"] == api["passages"]
    assert "Kaja Kallas" in body["passages"][0]["text"]


def test_index_from_the_environment(runner, seeds_index_dir):
    result = runner.invoke(main, ["documents"], env={"QA_INDEX": str(seeds_index_dir)})
    assert result.exit_code == 0
    assert "002_aadcb0dba0a30b9a.txt" in result.output and "000_2e21b0443b55ba82.txt" in result.output


def test_ingest_then_remove(runner, tmp_path):
    index = str(tmp_path / "index")
    result = runner.invoke(main, ["ingest", "--quiet", "--index", index, str(SEEDS)])
    assert result.exit_code == 0 and "2 added" in result.output
    again = runner.invoke(main, ["ingest", "--quiet", "--index", index, str(SEEDS)])
    assert "0 added, 0 updated, 2 unchanged" in again.output
    listing = runner.invoke(main, ["documents", "--index", index]).output.splitlines()
    document_id = listing[0].split()[0]
    removed = runner.invoke(main, ["documents", "--index", index, "--remove", document_id])
    assert removed.exit_code == 0 and "removed" in removed.output
    assert len(runner.invoke(main, ["documents", "--index", index]).output.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["ask", "anything"], "not built"),
    (["documents"], "not built"),
    (["ask", "   "], "empty"),
])
def test_errors_are_one_line_not_a_traceback(runner, tmp_path, args, message):
    result = runner.invoke(main, args, env={"QA_INDEX": str(tmp_path / "missing")})
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_removing_an_unknown_document_fails_clearly(runner, seeds_index_dir):
    result = runner.invoke(main, ["documents", "--index", str(seeds_index_dir), "--remove", "nope"])
    assert result.exit_code == 1 and "No document has the id 'nope'" in result.output


def test_ingest_reports_the_embedding_rate_apart_from_the_start_up(runner, tmp_path, monkeypatch):
    """The summary's rate is the progress bar's (passages over the time spent embedding them); the
    model's start-up is given apart. Before, the seeds printed "15 passages embedded in 9.2s (2
    passages/s)" while the bar showed 52/s: the rate counted the model's loading."""
    import re
    import time

    import qa.index

    loaded, calls = qa.index.load_embedder, []

    def slow_to_load(*args):  # a model that takes a second to start, as a cold one takes several
        if not calls:
            time.sleep(1.0)
        calls.append(args)
        return loaded(*args)

    monkeypatch.setattr(qa.index, "load_embedder", slow_to_load)
    result = runner.invoke(main, ["ingest", "--quiet", "--index", str(tmp_path / "index"), str(SEEDS)])
    assert result.exit_code == 0, result.output
    found = re.search(r"(\d+) passages embedded in ([\d.]+)s \((\d+) passages/s\), after ([\d.]+)s of start-up "
                      r"\(model and index loaded, first files read\); ([\d.]+)s in all", result.output)
    assert found, result.output
    passages, embedding, rate, startup, total = (float(value) for value in found.groups())
    assert passages > 0 and startup >= 1.0
    assert embedding <= total - startup + 0.15  # each printed to a tenth of a second
    assert rate > passages / total  # not dragged down by the start-up (the old figure was passages / total)
