"""Re-ranking the first candidates: token states stored with every passage, MaxSim and the sentence
match over the first candidates, the evidence MaxSim offers, and the switch that turns it off."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.app import create_app
from qa.index import Index
from qa.maxsim import RERANK_CANDIDATES, WordStates, evidence, idf_weights, pack, scores, stack, unpack
from qa.policy import ChunkingPolicy
from qa.search import Searcher
from qa.search import Query

QUESTIONS = ["Where do river otters sleep?", "What do beavers build on the river?",
             "Which birds nest in the reeds?", "When do salmon swim upstream?"]
ANIMALS = ["otters", "beavers", "herons", "salmon", "frogs", "voles", "kingfishers", "trout"]
PLACES = ["river", "reeds", "bank", "lake", "stream", "marsh"]


@pytest.fixture
def river_index(tmp_path) -> Index:
    """48 short documents sharing most words (more candidates than are re-ranked)."""
    from qa.hashing_embedder import HASHING_MODEL
    from qa.ingest import ingest

    folder = tmp_path / "docs"
    folder.mkdir()
    for i, (animal, place) in enumerate((a, p) for a in ANIMALS for p in PLACES):
        (folder / f"{i:02d}.txt").write_text(
            f"The {animal} of the {place}\n\nThe {animal} live by the {place}. Where do they sleep and nest? "
            f"Birds and fish share the {place} with {animal}; they swim upstream when the water rises.\n")
    index = Index(tmp_path / "index", HASHING_MODEL, create=True)
    ingest(index, [folder], progress=False)
    return index


def ranked_ids(searcher: Searcher, question: str) -> list[int]:
    return [c.row.id for c in searcher.rank(Query.parse(question))]


def embedding_texts(index: Index) -> dict[int, str]:
    """Each passage's text as the model read it (label and context in front, qa/policy.py)."""
    rows = index.store.db.execute("SELECT p.id, d.label, p.context, p.text FROM passages p "
                                  "JOIN documents d ON d.id = p.document_id")
    policy = ChunkingPolicy()
    return {pid: policy.embedding_text(label, context, text) for pid, label, context, text in rows}


@pytest.mark.model
def test_every_passage_keeps_its_word_states_within_int4_error(built_index_dir):
    index = Index(built_index_dir)
    texts = embedding_texts(index)
    stored = index.reader.word_states(list(texts))
    assert set(stored) == set(texts)  # every passage has its states
    ids = sorted(texts)[:8]
    encoded = index.embedder.encode([texts[i] for i in ids], None, words=True)
    for pid, fresh in zip(ids, encoded.words):
        vectors, spans = unpack(stored[pid], index.dimension)
        assert len(fresh.words) > 5
        assert np.array_equal(spans, fresh.spans)  # the same words, at the same places
        cosines = (vectors * fresh.vectors).sum(1)
        assert cosines.min() > 0.97 and cosines.mean() > 0.985  # int4, a scale a word: the direction survives


def random_states(rng, n: int, dimension: int = 384) -> WordStates:
    vectors = rng.normal(size=(n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return WordStates(vectors, np.arange(2 * n, dtype=np.int32).reshape(n, 2), [f"w{i}" for i in range(n)])


def test_pack_round_trip_keeps_vectors_and_spans():
    states = random_states(np.random.default_rng(0), 40)
    blob = pack(states)
    assert len(blob) == 4 + 40 * (384 // 2 + 2 + 4)
    back, spans = unpack(blob, 384)
    assert np.array_equal(spans, states.spans)
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=2e-3)  # unit length without normalising
    assert (back * states.vectors).sum(1).min() > 0.97  # 4 bits a number, a scale a word


def test_stacked_scores_match_one_passage_at_a_time():
    rng = np.random.default_rng(1)
    question = random_states(rng, 3).vectors
    weights = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    blobs = [pack(random_states(rng, n)) for n in (4, 0, 7, 1)]
    stacked = stack(blobs, 384)
    assert stacked.counts == [4, 0, 7, 1]
    got = scores(question, weights, stacked)
    for value, blob in zip(got, blobs):
        passage, _ = unpack(blob, 384)
        expected = 0.0 if not len(passage) else float((question @ passage.T).max(1) @ weights / weights.sum())
        assert value == pytest.approx(expected, abs=1e-4)


def test_evidence_says_which_question_words_the_passage_matches():
    from qa.hashing_embedder import HashingEmbedder

    embedder = HashingEmbedder()
    question = embedder.encode_query_words("Where do river otters sleep?")
    text = "Sea otters sleep floating on their backs."
    passage = embedder.encode([text], None, words=True).words[0]
    weights = idf_weights(question, {}, 100)
    found = {m.word: m for m in evidence(question, weights, passage.vectors, passage.spans, text)}
    assert set(found) == {"river", "otters", "sleep"}
    assert found["otters"].cosine == pytest.approx(1.0) and found["otters"].matched == "otters"
    assert found["sleep"].cosine == pytest.approx(1.0)
    assert found["river"].cosine < 0.9  # no river in the passage


def test_rerank_reorders_only_the_first_candidates(river_index):
    index = river_index
    plain, late = Searcher(index, "hybrid"), Searcher(index, "hybrid+maxsim")
    assert late.rerank and not plain.rerank
    for question in QUESTIONS:
        before, after = ranked_ids(plain, question), ranked_ids(late, question)
        head = min(RERANK_CANDIDATES, len(before))
        assert len(before) > RERANK_CANDIDATES
        assert sorted(after[:head]) == sorted(before[:head])
        assert after[head:] == before[head:]
        scored = [c.score for c in late.rank(Query.parse(question))]
        assert scored == sorted(scored, reverse=True)  # scores still fall with rank


def test_off_switch_gives_the_first_stage_ranking(built_index_dir, test_embedder, monkeypatch):
    index = Index(built_index_dir, test_embedder)
    expected = {q: [(h.citation.document_id, h.citation.start, h.score) for h in Searcher(index, "hybrid").ask(q, 5).passages]
                for q in QUESTIONS}
    monkeypatch.setenv("QA_RERANK", "off")
    client = create_app({"INDEX": str(built_index_dir), "TESTING": True}).test_client()
    for question in QUESTIONS:
        body = client.post("/api/ask", json={"question": question}).get_json()
        got = [(p["citation"]["document_id"], p["citation"]["start"], p["score"]) for p in body["passages"]]
        assert got == expected[question]


def add_files(index: Index, folder: Path, files: dict[str, str]) -> None:
    from qa.ingest import ingest

    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    ingest(index, [folder], progress=False)


def top_titles(index: Index, retriever: str, question: str) -> list[str]:
    return [c.row.title for c in Searcher(index, retriever).rank(Query.parse(question))[:2]]


def test_the_passage_matching_every_question_word_climbs_over_one_repeating_a_few(river_index, tmp_path):
    """A short passage saying "otters sleep" twice is closest as a whole (fused first); the one that
    also names the river matches every word of the question, and MaxSim puts it first."""
    add_files(river_index, tmp_path / "more", {"otters.txt": "Otters\n\nOtters sleep in dens. Otters sleep a lot.\n"})
    question = "Where do river otters sleep?"
    assert top_titles(river_index, "hybrid", question) == ["Otters", "The otters of the river"]
    assert top_titles(river_index, "hybrid+maxsim", question) == ["The otters of the river", "Otters"]


def test_the_passage_holding_the_question_in_one_sentence_climbs_over_one_holding_it_in_pieces(river_index, tmp_path):
    """"Notes" has every word of the question, and twice, but in separate sentences: the first stage
    (and MaxSim alone) put it first. "Dawn" says it in one sentence, and the sentence match puts it first."""
    add_files(river_index, tmp_path / "more", {
        "notes.txt": "Notes\n\nKingfishers dive. Kingfishers dive again. Trout swim under them.\n",
        "dawn.txt": "Dawn\n\nAt dawn the kingfishers dive for trout.\n"})
    question = "Do kingfishers dive for trout?"
    assert top_titles(river_index, "hybrid", question) == ["Notes", "Dawn"]
    assert top_titles(river_index, "hybrid+maxsim", question) == ["Dawn", "Notes"]


def test_passages_without_stored_states_are_not_reranked(river_index):
    index, question = river_index, QUESTIONS[0]
    late = Searcher(index, "hybrid+maxsim").rank(Query.parse(question))
    assert all(c.late is not None for c in late[:RERANK_CANDIDATES])  # re-ranked: each head has its MaxSim
    with index.store.write(bump=False) as db:
        db.execute("UPDATE passages SET word_states = NULL")
    skipped = Searcher(index, "hybrid+maxsim").rank(Query.parse(question))
    assert all(c.late is None for c in skipped)
    assert [c.row.id for c in skipped] == ranked_ids(Searcher(index, "hybrid"), question)


def test_searcher_offers_the_evidence_of_a_candidate(river_index):
    searcher = Searcher(river_index, "hybrid+maxsim")
    question = "Where do the herons of the marsh sleep?"
    top = searcher.rank(Query.parse(question))[0]
    found = {m.word: m for m in searcher.evidence(question, top)}
    assert set(found) == {"herons", "marsh", "sleep"}
    assert found["herons"].matched.lower() == "herons" and found["herons"].cosine == pytest.approx(1.0)
    assert all(m.weight > 0 for m in found.values())
