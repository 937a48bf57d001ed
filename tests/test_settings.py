"""One schema for every setting: the CLI, QA_* variables and create_app({...}) name it the same way,
and a wrong value is refused with that name before anything starts."""
from __future__ import annotations

import pytest

from qa import settings
from qa.app import create_app
from qa.cli import main
from qa.embedding import default_cache_dir
from qa.errors import BadSetting
from qa.index import Index


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


def test_defaults_environment_and_explicit_values_in_that_order(monkeypatch):
    assert settings.load().index_type == "auto" and settings.load().port == 8000
    monkeypatch.setenv("QA_INDEX_TYPE", "flat")
    monkeypatch.setenv("QA_PORT", "9001")
    assert settings.load().index_type == "flat" and settings.load().port == 9001
    assert settings.load({"INDEX_TYPE": "ivf", "PORT": None}).index_type == "ivf"
    assert settings.load({"PORT": None}).port == 9001  # None means "not given"


@pytest.mark.parametrize("variable, value, named", [
    ("QA_INDEX_TYPE", "hnsw", "--index-type / QA_INDEX_TYPE"),
    ("QA_BACKEND", "cuda", "--backend / QA_BACKEND"),
    ("QA_PORT", "eighty", "--port / QA_PORT"),
    ("QA_UPLOAD_MAX_BYTES", "-1", "--upload-max-bytes / QA_UPLOAD_MAX_BYTES"),
    ("QA_LOG_LEVEL", "LOUD", "--log-level / QA_LOG_LEVEL"),
])
def test_a_wrong_value_is_refused_naming_the_setting(runner, monkeypatch, tmp_path, variable, value, named):
    monkeypatch.setenv(variable, value)
    result = runner.invoke(main, ["documents", "--index", str(tmp_path)])
    assert result.exit_code != 0 and named in result.output and repr(value) in result.output
    assert "Traceback" not in result.output
    with pytest.raises(BadSetting, match=named):
        create_app({"INDEX": str(tmp_path)})


def test_create_app_takes_the_same_names(tmp_path):
    with pytest.raises(BadSetting, match="--threads / QA_THREADS"):
        create_app({"INDEX": str(tmp_path), "THREADS": 0})
    app = create_app({"INDEX": str(tmp_path), "INDEX_TYPE": "flat", "TESTING": True})
    assert app.config["INDEX_TYPE"] == "flat" and app.config["TESTING"] is True


def test_index_type_reaches_the_index_from_each_layer(hashing_index_dir, monkeypatch, test_embedder):
    """The FAISS type was env-only; now create_app, QA_INDEX_TYPE and --index-type all set it."""
    app = create_app({"INDEX": str(hashing_index_dir), "INDEX_TYPE": "flat", "MODEL": test_embedder})
    assert app.extensions["qa"].index.derived.index_type == "flat"
    monkeypatch.setenv("QA_INDEX_TYPE", "ivf")
    assert Index(hashing_index_dir, test_embedder).derived.index_type == "ivf"
    assert Index(hashing_index_dir, test_embedder, index_type="flat").derived.index_type == "flat"


def test_the_cli_option_sets_what_the_variable_would(runner, hashing_index_dir, monkeypatch, tmp_path):
    # The option writes the variable for this process; monkeypatch puts both back after the test.
    monkeypatch.setenv("QA_CACHE", "")
    monkeypatch.setenv("QA_INDEX_TYPE", "")
    result = runner.invoke(main, ["documents", "--index", str(hashing_index_dir), "--index-type", "flat",
                                  "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert settings.load().index_type == "flat"
    assert default_cache_dir() == tmp_path / "cache"
