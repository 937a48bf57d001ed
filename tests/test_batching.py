"""Micro-batching of questions (qa/batching.py): a lone question runs at once; questions arriving
while the model is busy share its next pass, and each gets its own result."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from qa.batching import Batcher


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


class SlowModel:
    """A model whose first pass runs until released, so other questions arrive while it is busy."""

    def __init__(self):
        self.passes: list[list[str]] = []
        self.release = threading.Event()
        self.running = threading.Event()

    def __call__(self, items: list[str]) -> list[str]:
        self.passes.append(list(items))
        self.running.set()
        if len(self.passes) == 1:
            self.release.wait(10)
        if "bad" in items:
            raise ValueError("the model failed")
        return [item.upper() for item in items]


def test_a_lone_question_runs_at_once_in_a_pass_of_its_own():
    model = SlowModel()
    model.release.set()
    batcher = Batcher(model)
    assert batcher("alone") == "ALONE"
    assert batcher("again") == "AGAIN"
    assert model.passes == [["alone"], ["again"]]


def test_questions_arriving_while_the_model_is_busy_share_its_next_pass():
    model = SlowModel()
    batcher = Batcher(model)
    results: dict[str, str] = {}

    def ask(item: str) -> None:
        results[item] = batcher(item)

    first = threading.Thread(target=ask, args=("a",))
    first.start()
    model.running.wait(10)
    others = [threading.Thread(target=ask, args=(item,)) for item in ("b", "c", "d")]
    for thread in others:
        thread.start()
    wait_for(lambda: len(batcher._queue) == 3)  # waiting while a's pass runs
    model.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert model.passes == [["a"], ["b", "c", "d"]]
    assert results == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert batcher("e") == "E" and model.passes[-1] == ["e"]  # idle again: the next one runs at once


def test_a_failed_pass_raises_in_each_of_its_callers_only():
    model = SlowModel()
    batcher = Batcher(model)
    outcomes: dict[str, object] = {}

    def ask(item: str) -> None:
        try:
            outcomes[item] = batcher(item)
        except ValueError as error:
            outcomes[item] = error

    first = threading.Thread(target=ask, args=("a",))
    first.start()
    model.running.wait(10)
    others = [threading.Thread(target=ask, args=(item,)) for item in ("bad", "c")]
    for thread in others:
        thread.start()
    wait_for(lambda: len(batcher._queue) == 2)
    model.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert outcomes["a"] == "A"
    assert isinstance(outcomes["bad"], ValueError) and isinstance(outcomes["c"], ValueError)
    assert batcher("d") == "D"


@pytest.mark.model
def test_questions_asked_at_once_get_the_vectors_they_get_alone():
    """Eight threads ask at once through the real model: fewer passes than questions, and each
    question's vector and word states are the ones it gets asked alone."""
    from qa.embedding import Embedder

    questions = ["Who is Kaja Kallas?", "How much in rare earth metals did Trump demand from Ukraine?",
                 "When did he die?", "What is the melting point of tungsten at sea level?",
                 "Why were people protesting?", "NATO peacekeeping troops", "What did Zelensky say?",
                 "Where is Adams buried?"]
    alone = Embedder()
    expected = {q: (alone.encode_query(q), alone.encode_query_words(q).vectors) for q in questions}
    shared = Embedder()  # a fresh question cache
    start, got = threading.Barrier(len(questions)), {}

    def ask(question: str) -> None:
        start.wait()
        got[question] = (shared.encode_query(question), shared.encode_query_words(question).vectors)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    batches = shared._question_batches
    assert batches.items == len(questions) and batches.passes < len(questions)
    exact = shared.backend == "openvino"  # onnxruntime may differ in a float's last bit in a batch
    for question, (vector, words) in expected.items():
        if exact:
            assert np.array_equal(got[question][0], vector) and np.array_equal(got[question][1], words), question
        else:
            assert np.allclose(got[question][0], vector, atol=1e-6), question
