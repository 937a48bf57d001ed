"""The in-memory BM25 index: it ranks as BM25 should, follows additions and removals without a
rebuild, and reads back from its file exactly as it was written."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.errors import IndexCorrupt
from qa.lexical import LexicalIndex, passage_terms, sentence_match
from qa.terms import stem

PASSAGES = {
    1: ("Otters", "Sea otters hold hands while they sleep so they do not drift apart."),
    2: ("Beavers", "Beavers build dams across streams; the ponds shelter their lodges."),
    3: ("Otters", "River otters eat fish, frogs and crayfish, and they play on mud slides."),
    4: ("Brussels", "The council of Brussels met on Tuesday to discuss the tram budget."),
}


def build(passages=PASSAGES) -> LexicalIndex:
    index = LexicalIndex()
    index.add(list(passages), list(passages.values()))
    return index


def stems(*words: str) -> list[str]:
    return [stem(w) for w in words]


def test_the_passage_with_the_rare_word_ranks_first():
    found = build().search(stems("crayfish", "otters"), 10)
    assert [pid for pid, _ in found][:1] == [3]
    assert {pid for pid, _ in found} == {1, 3}  # beavers and trams share no word with the question
    assert found[0][1] > found[1][1] > 0


def test_scores_follow_the_bm25_formula():
    index = build()
    (pid, score), = index.search(stems("tram"), 1)
    counts, length = passage_terms(*PASSAGES[4])
    average = index.total_length / len(index)
    idf = math.log((4 - 1 + 0.5) / (1 + 0.5))
    tf = counts[stem("tram")]
    assert pid == 4
    assert score == pytest.approx(idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average)), rel=1e-5)


def test_a_title_word_counts_double():
    counts, _ = passage_terms("Otters", "Otters swim.")
    assert counts[stem("otters")] == 3


def test_accents_and_inflections_match():
    index = build({1: ("", "Zelenskyý demanded guarantees."), 2: ("", "Nothing here.")})
    assert [pid for pid, _ in index.search(stems("zelenskyy", "demands"), 5)] == [1]


def test_removed_passages_are_never_returned_and_stop_counting():
    index = build()
    index.remove([3])
    assert [pid for pid, _ in index.search(stems("otters"), 10)] == [1]
    assert index.document_frequencies(stems("otters")) == {stem("otters"): 1}
    assert len(index) == 3


def test_additions_are_found_before_and_after_a_merge():
    index = build()
    index.add([9], [("Otters", "A crayfish festival in Brussels.")])
    before = index.search(stems("crayfish", "brussels"), 10)
    index.merge()
    assert dict(index.search(stems("crayfish", "brussels"), 10)) == pytest.approx(dict(before))
    assert before[0][0] == 9


def test_the_file_reads_back_the_same_index(tmp_path):
    index = build()
    index.remove([2])
    index.add([7], [("Beavers", "Beavers are rodents.")])
    index.save(tmp_path / "lexical.npz", generation=12)
    loaded, generation = LexicalIndex.load(tmp_path / "lexical.npz")
    assert generation == 12 and len(loaded) == 4
    for query in (["otter"], stems("beavers", "dams"), stems("tram", "sleep", "fish")):
        assert dict(loaded.search(query, 10)) == pytest.approx(dict(index.search(query, 10)))


def test_a_damaged_file_raises(tmp_path):
    path = tmp_path / "lexical.npz"
    build().save(path, generation=1)
    path.write_bytes(path.read_bytes()[: 100])
    with pytest.raises(IndexCorrupt, match=r"lexical\.npz: unreadable BM25 file \(File is not a zip file\)"):
        LexicalIndex.load(path)


WORDS = ["otter", "river", "tram", "budget", "dam", "fish", "council", "sleep", "pond", "mud"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=1, max_size=30),
       st.sets(st.integers(0, 29)), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
def test_incremental_updates_rank_as_a_fresh_build(texts, removed, question):
    """Whatever was added, removed and merged along the way, the ranking is the one a fresh build
    over the surviving passages gives."""
    passages = {pid: ("", " ".join(words)) for pid, words in enumerate(texts)}
    incremental = LexicalIndex()
    for pid, text in passages.items():
        incremental.add([pid], [text])
        if pid % 7 == 3:
            incremental.merge()
    incremental.remove(removed)
    fresh = build({pid: text for pid, text in passages.items() if pid not in removed})
    got, want = incremental.search(stems(*question), 50), fresh.search(stems(*question), 50)
    assert dict(got) == pytest.approx(dict(want))
    assert np.all(np.diff([score for _, score in got]) <= 1e-9)


def test_merged_builds_a_new_index_and_leaves_this_one_as_it_was(tmp_path):
    """Questions keep reading the old index while the merged one is built (qa/derived.py swaps it in)."""
    index = build()
    index.remove([2])
    index.add([9], [("Otters", "A crayfish festival in Brussels.")])
    before = index.search(stems("crayfish", "otters"), 10)
    merged = index.merged()
    assert not index.compact and merged.compact
    assert index.search(stems("crayfish", "otters"), 10) == before
    assert dict(merged.search(stems("crayfish", "otters"), 10)) == pytest.approx(dict(before))
    index.save(tmp_path / "lexical.npz", generation=3)  # saving writes the merged form, changes nothing
    assert not index.compact and len(LexicalIndex.load(tmp_path / "lexical.npz")[0].ids) == 4


def test_sentence_match_is_the_share_of_the_question_one_sentence_holds():
    text = "Hamilton County is in Nebraska. It covers 538 square miles. Hamilton County covers 538 square miles."
    sentences = np.array([(100, 131), (132, 159), (160, 211)], dtype=np.int32)  # document offsets
    row = type("Row", (), {"text": text, "start": 100, "sentences": sentences, "analysis": None})()
    weights = {stem(w): weight for w, weight in [("hamilton", 3.0), ("covers", 1.0), ("square", 1.0), ("miles", 1.0)]}
    assert sentence_match(row, weights) == 1.0  # the third sentence holds all four
    row.sentences = sentences[:2]
    assert sentence_match(row, weights) == 0.5  # "Hamilton" (3) or "covers square miles" (3), never together
    assert sentence_match(row, {}) == 0.0
