"""The hashing test embedder stands in for qa.embedding.Embedder wherever qa calls one."""
from __future__ import annotations

import inspect

import numpy as np

from qa.embedding import Embedder, load_embedder, model_name
from qa.hashing_embedder import DIMENSION, HASHING_MODEL, HashingEmbedder


def test_it_has_the_embedders_interface_and_is_chosen_by_the_model_setting():
    public = {name for name, _ in inspect.getmembers(Embedder) if not name.startswith("_")}
    embedder = load_embedder(HASHING_MODEL)
    assert isinstance(embedder, HashingEmbedder) and model_name(HASHING_MODEL) == HASHING_MODEL
    assert public <= {name for name in dir(embedder) if not name.startswith("_")}
    for name in ("dimension", "max_tokens"):
        assert isinstance(getattr(embedder, name), int)


def test_vectors_are_normalised_and_shared_words_point_the_same_way():
    embedder = HashingEmbedder()
    vectors, sentences = embedder.encode_passages(["River otters sleep. They hold hands."], [[(0, 19), (20, 36)]])
    assert vectors.shape == (1, DIMENSION) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    assert sentences[0].shape == (2, DIMENSION)
    query = embedder.encode_query("otters sleep")
    assert query @ sentences[0][0] > query @ sentences[0][1]
    assert embedder.count_tokens(["River otters sleep."]) == [4]
