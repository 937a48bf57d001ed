"""Fixtures: a seeds index built once per session, and app/client/runner fixtures over it (Flask
tutorial style). Tests that write get their own copy of the index.

A test marked `model` gets the real bundled model; any other test gets the hashing test embedder
(qa/hashing_embedder.py): its index is built with it and QA_MODEL names it, so every Index, app, CLI
run and server process the test starts uses it. `pytest -m "not model"` is then the fast suite."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.app import create_app
from qa.hashing_embedder import HASHING_MODEL
from qa.index import Index
from qa.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
EVAL = DATA / "eval"  # copies of ../shared/eval, so the tests run in any clone


@pytest.fixture(scope="session")
def seeds_index_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds-index")
    index = Index(folder, create=True)
    ingest(index, [SEEDS], progress=False)
    index.close()
    return folder


@pytest.fixture(scope="session")
def hashing_index_dir(tmp_path_factory) -> Path:
    """The seeds indexed with the hashing test embedder (a fraction of a second)."""
    folder = tmp_path_factory.mktemp("seeds-hashing-index")
    index = Index(folder, HASHING_MODEL, create=True)
    ingest(index, [SEEDS], progress=False)
    index.close()
    return folder


def uses_model(request) -> bool:
    return request.node.get_closest_marker("model") is not None


@pytest.fixture(autouse=True)
def test_embedder(request, monkeypatch) -> str | None:
    """The model setting of this test: None (the bundled model) for a `model` test, else HASHING_MODEL."""
    if uses_model(request):
        return None
    monkeypatch.setenv("QA_MODEL", HASHING_MODEL)
    return HASHING_MODEL


@pytest.fixture
def built_index_dir(request) -> Path:
    """The seeds index this test may read (never write): built with the test's model."""
    return request.getfixturevalue("seeds_index_dir" if uses_model(request) else "hashing_index_dir")


@pytest.fixture
def index_dir(built_index_dir, tmp_path) -> Path:
    """A private, writable copy of the seeds index."""
    copy = tmp_path / "index"
    shutil.copytree(built_index_dir, copy)
    return copy


@pytest.fixture
def app(built_index_dir):
    return create_app({"INDEX": str(built_index_dir), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def empty_client(tmp_path):
    return create_app({"INDEX": str(tmp_path / "nothing-here"), "TESTING": True}).test_client()


API_TOKEN = "test-api-token"


@pytest.fixture
def write_app(index_dir):
    """An app over a private copy of the index that accepts writes with API_TOKEN."""
    return create_app({"INDEX": str(index_dir), "API_TOKEN": API_TOKEN, "TESTING": True})


@pytest.fixture
def write_client(write_app):
    return write_app.test_client()


@pytest.fixture
def authorized():
    return {"Authorization": f"Bearer {API_TOKEN}"}
