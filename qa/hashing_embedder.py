"""A tiny deterministic embedder for tests of the plumbing (simonw/llm's EmbedDemo): no model, no
torch, the same vectors in every process. Selected with the model setting HASHING_MODEL
(`--model hashing:words`, QA_MODEL, create_app({"MODEL": ...})); an index built with it records that
name, so it is never queried with a real model (or the other way round).

Each word is hashed to one of DIMENSION coordinates with a sign; a text's vector is the normalised
sum. Texts sharing words point the same way, which is all a plumbing test needs; it does not judge
retrieval. Tokens are words and punctuation marks.

Example: encode_query("otter river") and encode_documents(["the river otter"]) have cosine 0.82.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from qa.embedding import Encoded
from qa.maxsim import WordStates, content_words

HASHING_MODEL = "hashing:words"
DIMENSION = 64
TOKEN = re.compile(r"\w+|[^\w\s]")
WORD = re.compile(r"\w+")


class HashingEmbedder:
    """The interface of qa.embedding.Embedder, computed from word hashes."""

    special_tokens = 2
    backend = "hashing"

    def __init__(self, max_tokens: int = 256):
        self.name = self.path = HASHING_MODEL
        self.dimension = DIMENSION
        self.max_tokens = max_tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(TOKEN.findall(text)) for text in texts]

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_documents([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode_documents(texts)

    def encode_documents(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower())[: self.max_tokens]:
                digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                vectors[row, digest % DIMENSION] += 1.0 if digest >> 63 else -1.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]] | None,
                        batch_size: int = 16) -> tuple[np.ndarray, list[np.ndarray]]:
        """One vector per text and, given `spans`, one per (start, end) span of each text."""
        encoded = self.encode(texts, spans, batch_size)
        return encoded.vectors, encoded.sentence_vectors

    def encode(self, texts: list[str], spans: list[list[tuple[int, int]]] | None, batch_size: int = 16,
               words: bool = False, upload: bool = False) -> Encoded:
        """As Embedder.encode; a content word's state is its own hashed vector (it matches itself only)."""
        pooled = [] if spans is None else [
            self.encode_documents([text[start:end] for start, end in text_spans]).reshape(-1, DIMENSION)
            for text, text_spans in zip(texts, spans)]
        return Encoded(self.encode_documents(texts), pooled, [self.word_states(t) for t in texts] if words else None)

    def encode_query_words(self, text: str) -> WordStates:
        return self.word_states(text)

    def word_states(self, text: str) -> WordStates:
        found = [(m.start(), m.end()) for m in WORD.finditer(text)][: self.max_tokens]
        offsets = np.array(found, dtype=np.int64).reshape(-1, 2)
        states = self.encode_documents([text[start:end] for start, end in found]).reshape(-1, DIMENSION)
        return content_words(text, states, offsets, list(range(len(found))), [False] * len(found))
