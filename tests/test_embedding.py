"""Sentence vectors pooled from the passage's own pass: they pick out the sentence a question is
about, and every backend computes the same ones."""
from __future__ import annotations

import numpy as np
import pytest

from qa.embedding import load_embedder

pytestmark = pytest.mark.model

TEXT = ("Tchaikovsky. The composer wrote the 1812 Overture for a Moscow exhibition. "
        "He died in Saint Petersburg in 1893, nine days after conducting his sixth symphony. "
        "His ballets include Swan Lake and The Nutcracker.")


def spans_of(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    return [(text.index(s), text.index(s) + len(s)) for s in sentences]


SENTENCES = ["The composer wrote the 1812 Overture for a Moscow exhibition.",
             "He died in Saint Petersburg in 1893, nine days after conducting his sixth symphony.",
             "His ballets include Swan Lake and The Nutcracker."]


def test_each_question_is_closest_to_its_own_sentence():
    embedder = load_embedder()
    passage, (sentences,) = embedder.encode_passages([TEXT], [spans_of(TEXT, SENTENCES)])
    assert passage.shape == (1, embedder.dimension) and sentences.shape == (3, embedder.dimension)
    assert np.allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-4)
    questions = ["Which overture did he write?", "Where did Tchaikovsky die?", "Which ballets did he compose?"]
    cosines = sentences @ embedder.encode_documents(questions).T
    assert list(cosines.argmax(axis=0)) == [0, 1, 2]


def test_the_passage_vector_is_the_same_as_encoding_the_text_alone():
    embedder = load_embedder()
    passage, _ = embedder.encode_passages([TEXT], [spans_of(TEXT, SENTENCES)])
    assert float(passage[0] @ embedder.encode_documents([TEXT])[0]) > 0.9999


def test_torch_and_the_default_backend_pool_the_same_sentence_vectors():
    fast, reference = load_embedder(), load_embedder(backend="torch")
    spans = [spans_of(TEXT, SENTENCES)]
    (fast_passage, (fast_sentences,)), (ref_passage, (ref_sentences,)) = \
        fast.encode_passages([TEXT], spans), reference.encode_passages([TEXT], spans)
    assert float(fast_passage[0] @ ref_passage[0]) > 0.999
    assert np.all(np.sum(fast_sentences * ref_sentences, axis=1) > 0.995)


def test_an_upload_is_encoded_as_an_ingest_is_off_the_questions_runtime():
    """A service encodes uploads on a runtime of its own (so questions don't queue behind them):
    the vectors, sentence vectors and word states must be those of an ingest."""
    embedder = load_embedder()
    spans = [spans_of(TEXT, SENTENCES)]
    ingest = embedder.encode([TEXT], spans, words=True)
    upload = embedder.encode([TEXT], spans, words=True, upload=True)
    if embedder.backend != "torch":
        assert embedder._run_upload is not None and embedder._run_upload is not embedder._run_batch
    assert float(ingest.vectors[0] @ upload.vectors[0]) > 0.99999
    assert np.allclose(ingest.sentence_vectors[0], upload.sentence_vectors[0], atol=1e-4)
    assert ingest.words[0].words == upload.words[0].words
    assert np.allclose(ingest.words[0].vectors, upload.words[0].vectors, atol=1e-4)
