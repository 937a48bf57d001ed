"""Fixtures: a seeds index built once per session with the real bundled model, and app/client/runner
fixtures over it (Flask tutorial style). Tests that write get their own copy of the index."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.app import create_app
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


@pytest.fixture
def index_dir(seeds_index_dir, tmp_path) -> Path:
    """A private, writable copy of the seeds index."""
    copy = tmp_path / "index"
    shutil.copytree(seeds_index_dir, copy)
    return copy


@pytest.fixture
def app(seeds_index_dir):
    return create_app({"INDEX": str(seeds_index_dir), "TESTING": True})


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
