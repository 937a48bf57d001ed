"""qa/terms.py: words, stop words and stems, and a stemmer that is safe under request threads."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from qa.terms import answer_kind, query_terms, stem, stemmer, without_frame, words

THREADS = 8
# Words with many suffix rules, so a stemmer whose state leaked between threads would show it.
VOCABULARY = [f"{root}{suffix}" for root in
              ("nation", "relate", "connect", "generous", "hope", "run", "argu", "electric", "condition", "formal")
              for suffix in ("", "s", "ing", "ed", "ational", "alization", "fulness", "iveness", "ically", "ness")]


def test_words_drop_accents_and_case():
    assert words("Zelenskyý met ČEZ's CEO") == ["zelenskyy", "met", "cez", "s", "ceo"]


def test_query_terms_drop_stop_words_unless_nothing_is_left():
    assert query_terms("Who won the Super Bowl?") == ["won", "super", "bowl"]
    assert query_terms("who is it") == ["who", "is", "it"]


def test_stems_are_porter_stems():
    assert [stem(w) for w in ("running", "relational", "hopefulness")] == ["run", "relat", "hope"]


def test_each_thread_has_its_own_stemmer():
    """PyStemmer's Stemmer keeps state between calls and must not be shared by threads."""
    seen: list[object] = []
    barrier = threading.Barrier(2)  # both threads alive at once, so ids cannot be reused

    def grab():
        seen.append(stemmer())
        barrier.wait()

    threads = [threading.Thread(target=grab) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert stemmer() is stemmer()  # one per thread, not one per call


def test_stemming_from_eight_threads_gives_the_single_thread_stems():
    expected = [stemmer().stemWord(word) for word in VOCABULARY]
    start = threading.Barrier(THREADS)

    def run(_: int) -> list[list[str]]:
        start.wait()
        own = stemmer()  # uncached: the lru_cache in front of stem() would hide a race
        return [[own.stemWord(word) for word in VOCABULARY] for _ in range(200)]

    with ThreadPoolExecutor(THREADS) as pool:
        for rounds in pool.map(run, range(THREADS)):
            assert all(found == expected for found in rounds)


@pytest.mark.parametrize("question, kind", [
    ("What is the name of the governor?", "name"), ("What year did the war end?", "year"),
    ("Which company is a plaintiff?", "company"), ("What type of court is noted?", "type"),
    ("What is Volta known for?", None), ("What is INF LLP's fax number?", None), ("What did he say?", None)])
def test_the_noun_naming_the_kind_of_answer_is_found(question, kind):
    assert answer_kind(question) == kind


def test_the_frame_and_the_kind_of_answer_are_not_terms_an_answer_holds():
    question = "What is the name of the governor as mentioned in the report?"
    assert without_frame(query_terms(question), question) == ["governor"]
    assert without_frame(["report"], "What report?") == ["report"]  # never left with nothing


def test_instructions_on_how_to_answer_are_frame():
    """"Write the answer in list format" says how to answer, not what the answer holds."""
    from qa.terms import query_terms, without_frame

    question = "Which cities does the cloud provider have teams in? Write the answer in list format."
    assert without_frame(query_terms(question), question) == ["cloud", "provider", "teams"]  # "cities": the kind
    question = "Answer as an analyst would. What is the FY2015 depreciation margin for AMD? Round to two decimals."
    assert without_frame(query_terms(question), question) == ["fy2015", "depreciation", "margin", "amd"]
    assert without_frame(query_terms("List the datasets."), "List the datasets.") == ["list", "datasets"]
