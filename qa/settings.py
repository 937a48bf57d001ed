"""Every setting, in one schema (pydantic-settings). One name per setting across the CLI
(--index-type), the environment (QA_INDEX_TYPE) and create_app({"INDEX_TYPE": ...}): defaults here,
then QA_* environment variables, then explicit values. A wrong value is refused with the setting's
name in the message, before anything starts."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import BadSetting


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", case_sensitive=False, extra="ignore", env_ignore_empty=True,
                                      validate_default=True)

    index: str = Field("embeddings", description="The index folder.")
    model: str | None = Field(None, description="A local sentence-transformers folder; unset = the bundled "
                                                "all-MiniLM-L6-v2.")
    backend: Literal["auto", "openvino", "onnx", "onnx-int8", "torch"] = Field(
        "auto", description="Embedding backend; auto = OpenVINO bf16 where the CPU has it, else onnxruntime.")
    index_type: Literal["auto", "flat", "ivf"] = Field(
        "auto", description="FAISS index: auto = exact below 100k passages, IVF above.")
    cache: Path | None = Field(None, description="Where the exported ONNX model and eval indexes are cached; "
                                                 "unset = $XDG_CACHE_HOME/qa or ~/.cache/qa.")
    top_k: int = Field(5, ge=1, le=50)
    max_question_chars: int = Field(2000, ge=1)
    max_content_length: int = Field(1024 * 1024, ge=1024, description="Request body limit of the JSON API.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    threads: int = Field(8, ge=1, le=256, description="WSGI worker threads in `qa serve` (in each worker process).")
    workers: int | None = Field(None, ge=1, le=256, description="Server processes in `qa serve`, each with its "
                                                                "threads; unset = one per core.")
    upload_max_bytes: int = Field(10 * 1024 * 1024, ge=1, description="A document sent to POST /api/documents.")
    api_token: str | None = Field(None, description="Bearer token for writes; unset = writes disabled.")
    read_token: str | None = Field(None, description="Bearer token for reads; unset = reads open.")
    tokens_file: Path | None = Field(None, description="A JSON or TOML file of tokens, each with its access (read or "
                                                       "write) and collections; set = reads need a token too.")
    rerank: Literal["maxsim", "off"] = Field("maxsim", description="Re-rank the first 5 candidates by their best "
                                             "sentence's share of the question's words and by MaxSim over stored "
                                             "token states (qa/maxsim.py); off = the fused ranking alone.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    ray_address: str | None = Field(None, description="Run on a Ray cluster (pip install -e '.[ray]'): auto = the "
                                                     "cluster this machine belongs to, local = one started for the "
                                                     "run, or the head's HOST:PORT; unset = no cluster.")
    conversation_max_age_days: float = Field(30, ge=0, description="A conversation is deleted this long "
                                                                    "after its last turn.")
    conversation_max_count: int = Field(10_000, ge=1, description="Only the newest this many are kept.")
    conversation_max_turns: int = Field(100, ge=1, description="Questions in one conversation; past it, 409 "
                                                               "conversation_full (start a new one).")


def load(overrides: dict[str, object] | None = None) -> Settings:
    """The settings in force: explicit values (None = not given) over QA_* variables over defaults."""
    given = {key.lower(): value for key, value in (overrides or {}).items() if value is not None}
    try:
        return Settings(**{key: value for key, value in given.items() if key in Settings.model_fields})
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        source = f"--{name.replace('_', '-')} / QA_{name.upper()}"
        raise BadSetting(f"{source}: {first['msg']} (got {first.get('input')!r}).") from None


def resolve(overrides: dict[str, object] | None = None) -> dict[str, object]:
    """The settings as Flask config keys (INDEX, MODEL, ...), with any other keys given kept as they are."""
    extra = {key: value for key, value in (overrides or {}).items() if key.lower() not in Settings.model_fields}
    return {**{key.upper(): value for key, value in load(overrides).model_dump().items()}, **extra}


DEFAULTS: dict[str, object] = {key.upper(): field.default for key, field in Settings.model_fields.items()}
