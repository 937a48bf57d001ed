"""Regression guard: real questions through the real model and the API's code path. The floors sit a
little below the measured figures (bench/README.md), so a change that hurts retrieval fails here."""
from __future__ import annotations

import pytest

from qa.evaluation import evaluate, load_questions
from qa.index import Index
from qa.ingest import ingest
from tests.conftest import EVAL

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def xquad_index(tmp_path_factory):
    index = Index(tmp_path_factory.mktemp("xquad"), create=True)
    ingest(index, [EVAL / "xquad-en" / "corpus"], progress=False)
    return index


def test_xquad_en_does_not_regress(xquad_index):
    result = evaluate(xquad_index, load_questions(EVAL / "xquad-en"))
    # measured: hit@1 0.951, hit@5 0.997, MRR@10 0.972, 684 chars
    assert result.hit_at_1 >= 0.94 and result.hit_at_5 >= 0.99 and result.mrr_at_10 >= 0.965
    assert result.chars_per_passage <= 800


def test_cmu_s08_does_not_regress(tmp_path):
    index = Index(tmp_path / "index", create=True)
    ingest(index, [EVAL / "cmu-s08" / "corpus"], progress=False)
    result = evaluate(index, load_questions(EVAL / "cmu-s08"))
    # measured: hit@1 0.803, hit@5 0.951, MRR@10 0.861, 725 chars
    assert result.hit_at_1 >= 0.785 and result.hit_at_5 >= 0.94 and result.mrr_at_10 >= 0.85
    assert result.chars_per_passage <= 800
