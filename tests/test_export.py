"""The ONNX export cache key: the whole of each model file, so a fine-tuned model is exported again."""
from __future__ import annotations

import os

from qa.export import fingerprint

MIB = 1 << 20


def model_folder(path, tail: bytes):
    path.mkdir()
    (path / "config.json").write_text('{"hidden_size": 8}')
    (path / "model.safetensors").write_bytes(b"\0" * (2 * MIB) + tail)
    return str(path)


def test_models_differing_only_after_the_first_mib_have_different_keys(tmp_path):
    base = model_folder(tmp_path / "base", b"weights before fine-tuning")
    tuned = model_folder(tmp_path / "tuned", b"weights after  fine-tuning")  # the same size
    assert fingerprint(base) != fingerprint(tuned)
    assert fingerprint(base) == fingerprint(model_folder(tmp_path / "copy", b"weights before fine-tuning"))


def test_a_model_rewritten_in_place_gets_a_new_key(tmp_path):
    folder = model_folder(tmp_path / "model", b"first")
    before = fingerprint(folder)
    weights = tmp_path / "model" / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(b"\0" * (2 * MIB) + b"again")  # same size: only the memo's mtime tells
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert fingerprint(folder) != before
