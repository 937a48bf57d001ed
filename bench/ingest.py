"""Ingest throughput: `qa ingest` end to end against plain sentence-transformers fp32 encode.

    .venv/bin/python bench/ingest.py [--json] [--corpus DIR ...]

For each corpus: ingest into a fresh index with the default settings (passages/s end to end, and
the share of time spent outside the model: reading, cleaning, chunking, storing, indexing), then
the baseline measured in the same run: the same passage texts through
SentenceTransformer.encode(batch_size=64) in fp32. qa also stores a vector for every sentence of
each passage (pooled from the same pass's token states, so no extra model work); the last columns
time qa's embedding backend alone on exactly the baseline's passages.

    .venv/bin/python bench/ingest.py --word-states [--runs 5]

The cost of the MaxSim re-rank's token states (issue 15): `qa ingest` of cmu-s08 with the states
computed and stored (the default) and without, alternated run by run; medians and spread of passages/s.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from qa.readers import read_paths  # noqa: E402
from qa.embedding import bundled_model_path  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.ingest import ingest  # noqa: E402

CORPORA = [ROOT / "tests" / "data" / "eval" / "cmu-s08" / "corpus", ROOT / "seeds"]


def measure(corpus: Path, baseline_model) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        index = Index(folder, create=True)
        index.embedder.encode_documents(["warm up"])  # model load is not ingest work
        report = ingest(index, [corpus], progress=False)
        texts = [index.embedding_text(document, passage.text, passage.context)
                 for document in read_paths([corpus]) for passage in index.chunk(document)]
        sentences = sum(len(p.sentences) for d in read_paths([corpus]) for p in index.chunk(d))
        backend = index.embedder.backend
        started = time.perf_counter()
        index.embedder.encode_documents(texts)
        backend_seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline_model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    baseline = time.perf_counter() - started
    return {
        "corpus": str(corpus.resolve().relative_to(ROOT)), "backend": backend, "passages": report.passages,
        "sentence_vectors": sentences,
        "ingest_seconds": round(report.seconds, 2), "ingest_passages_per_s": round(report.passages / report.seconds, 1),
        "model_seconds": round(report.embed_seconds, 2),
        "outside_model_share": round(1 - report.embed_seconds / report.seconds, 3),
        "baseline_fp32_seconds": round(baseline, 2), "baseline_passages_per_s": round(len(texts) / baseline, 1),
        "speedup_vs_baseline": round(baseline / report.seconds, 2),
        "backend_same_passages_per_s": round(len(texts) / backend_seconds, 1),
        "backend_speedup_same_passages": round(baseline / backend_seconds, 2),
    }


def ingest_rate(corpus: Path, words: bool) -> float:
    """Passages/s of one `qa ingest` into a fresh index; `words=False` skips the token states."""
    from qa.embedding import Embedder
    from qa.maxsim import WordStates

    original = Embedder.encode

    def encode(self, texts, spans=None, batch_size=None, words=False):  # the same pass, no states taken
        encoded = original(self, texts, spans, words=False)
        empty = WordStates(np.zeros((0, encoded.vectors.shape[1]), np.float32), np.zeros((0, 2), np.int32), [])
        encoded.words = [empty] * len(texts)
        return encoded

    with tempfile.TemporaryDirectory() as folder:
        index = Index(folder, create=True)
        index.embedder.encode_documents(["warm up"])  # model load is not ingest work
        if not words:
            Embedder.encode = encode
        try:
            report = ingest(index, [corpus], progress=False)
        finally:
            Embedder.encode = original
    return report.passages / report.seconds


def word_states_cost(corpus: Path, runs: int) -> dict:
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for run in range(runs):
        for name in (("with", "without") if run % 2 == 0 else ("without", "with")):
            rates[name].append(ingest_rate(corpus, name == "with"))
    figures = {name: {"median": round(float(np.median(r)), 1), "min": round(min(r), 1), "max": round(max(r), 1)}
               for name, r in rates.items()}
    ratios = [w / o for w, o in zip(rates["with"], rates["without"])]
    return {"corpus": str(corpus.resolve().relative_to(ROOT)), "runs": runs, "passages_per_s": figures,
            "ratio_with_to_without": {"median": round(float(np.median(ratios)), 3),
                                      "min": round(min(ratios), 3), "max": round(max(ratios), 3)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--corpus", type=Path, action="append")
    parser.add_argument("--word-states", action="store_true", help="with vs without the re-rank's token states")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.word_states:
        print(json.dumps(word_states_cost((args.corpus or CORPORA)[0], args.runs)))
        return
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    baseline_model = SentenceTransformer(bundled_model_path(), device="cpu")
    rows = [measure(corpus, baseline_model) for corpus in (args.corpus or CORPORA)]
    if args.json:
        print(json.dumps(rows))
        return
    columns = ["corpus", "backend", "passages", "sentence_vectors", "ingest_seconds", "ingest_passages_per_s",
               "outside_model_share", "baseline_passages_per_s", "speedup_vs_baseline", "backend_same_passages_per_s",
               "backend_speedup_same_passages"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
