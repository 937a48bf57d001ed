"""The model exported once to ONNX (pooling and normalisation inside the graph), cached on disk.

Exporting needs torch and transformers (about 7 s, offline, from the local model folder); every
later process only loads the cached file, which is what makes `qa serve` start in under a second.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

RECIPE = "2"  # bump when the export or quantisation changes, so old cached files are not reused
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def exportable(model_dir: str) -> bool:
    """Only a plain transformer + mean pooling (+ normalise) model is exported; anything else
    (CLS pooling, dense layers) keeps running through sentence-transformers."""
    try:
        modules = json.loads((Path(model_dir) / "modules.json").read_text())
        pooling = json.loads((Path(model_dir) / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    return kinds in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]) and \
        pooling.get("pooling_mode_mean_tokens") is True and \
        not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")


def fingerprint(model_dir: str) -> str:
    """The cache key of a model folder: the SHA-256 of each file the export reads, whole (a model
    fine-tuned in place differs anywhere in its weights, not only in the first bytes)."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json"):
        path = Path(model_dir) / name
        if path.exists():
            digest.update(f"{name}:{file_digest(path)}".encode())
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    """SHA-256 of a file, computed once per process while its size and mtime stay the same."""
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def onnx_file(model_dir: str, cache_dir: Path, int8: bool = False) -> Path:
    """The cached ONNX file for this model, exported (and quantised) on first use."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(model_dir).name}-{fingerprint(model_dir)}-r{RECIPE}"
    fp32 = cache_dir / f"{stem}-fp32.onnx"
    if not fp32.exists():
        export_fp32(model_dir, fp32)
    if not int8:
        return fp32
    quantised = cache_dir / f"{stem}-int8.onnx"
    if not quantised.exists():
        quantize_int8(fp32, quantised)
    return quantised


def export_fp32(model_dir: str, destination: Path) -> None:
    """torch.onnx.export of transformer + mean pooling + L2 normalise, then onnxruntime's BERT fusions."""
    import torch
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1), hidden

    with tempfile.TemporaryDirectory(dir=destination.parent) as work:
        raw = os.path.join(work, "raw.onnx")
        ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
        axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES} | {"sentence_embedding": {0: "batch"},
                                                                   "token_embeddings": {0: "batch", 1: "sequence"}}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it treats as constant
            torch.onnx.export(Pooled(model), (ids, (ids != 0).long(), torch.zeros_like(ids)), raw,
                              input_names=list(INPUT_NAMES), output_names=["sentence_embedding", "token_embeddings"],
                              dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)
        optimised = optimizer.optimize_model(raw, model_type="bert", num_heads=model.config.num_attention_heads,
                                             hidden_size=model.config.hidden_size,
                                             optimization_options=FusionOptions("bert"), opt_level=0, use_gpu=False)
        temporary = os.path.join(work, "optimised.onnx")
        optimised.save_model_to_file(temporary)
        os.replace(temporary, destination)


def quantize_int8(source: Path, destination: Path) -> None:
    """Per-channel int8 weights for the MatMuls (VNNI kernels), but the feed-forward output
    MatMuls stay fp32: they carry the outlier activations that otherwise cost accuracy."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep = [n.name for n in graph.node
            if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name]
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=destination.parent)
    os.close(handle)
    try:
        quantize_dynamic(str(source), temporary, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
