"""The plain setup qa is measured against (bench/query.py's "plain" arm): what a user would otherwise
build with the same model. A Flask app served by waitress, one process, that encodes the question,
searches FAISS and returns 5 passages as JSON.

    .venv/bin/python bench/plain.py --index DIR --port 8001 [--threads 8]

Same model and runtime as qa (the bundled MiniLM exported to ONNX, run by qa's embedder: OpenVINO
bf16 where the CPU has it), the same FAISS file (the newest saved in DIR, read into memory, IVF
probing as many lists as qa does), passages' texts held in memory. Its OpenMP is fixed as qa's is:
one thread per search, set in each request thread (faiss.omp_set_num_threads is per thread).
Nothing else: no BM25, fusion, re-rank, confidence, highlight, conversations, auth or validation
beyond a 400 for a missing question.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import faiss
import numpy as np
import waitress
from flask import Flask, jsonify, request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import settings  # noqa: E402
from qa.embedding import load_embedder  # noqa: E402
from qa.folder import IndexFolder  # noqa: E402
from qa.vectors import ivf_probes  # noqa: E402


def create_app(index_dir: Path) -> Flask:
    folder = IndexFolder(index_dir)
    db = sqlite3.connect(f"file:{folder.database}?mode=ro", uri=True)
    texts = {row[0]: (row[1], row[2]) for row in db.execute(
        "SELECT p.id, d.title, p.text FROM passages p JOIN documents d ON d.id = p.document_id")}
    (generation,) = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    db.close()
    _, path = folder.newest_vectors(at_most=int(generation))
    index = faiss.read_index(str(path))
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = ivf_probes(ivf.nlist)
    embedder = load_embedder(None, settings.load().backend)  # QA_BACKEND, as qa reads it
    embedder.encode_documents(["warm up"])
    app = Flask(__name__)

    @app.post("/api/ask")
    def ask():
        question = (request.get_json(silent=True) or {}).get("question")
        if not isinstance(question, str) or not question.strip():
            return jsonify({"error": "question is required"}), 400
        vector = embedder.encode_documents([question])
        faiss.omp_set_num_threads(1)  # this request thread's OpenMP: one thread a search
        scores, ids = index.search(np.ascontiguousarray(vector, dtype=np.float32), 5)
        passages = [{"id": int(i), "score": float(s), "title": texts[int(i)][0], "text": texts[int(i)][1]}
                    for i, s in zip(ids[0], scores[0]) if i >= 0]
        return jsonify({"question": question, "passages": passages})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    waitress.serve(create_app(args.index), host=args.host, port=args.port, threads=args.threads, ident="plain")


if __name__ == "__main__":
    main()
