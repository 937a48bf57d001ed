"""Bearer tokens for the API and /mcp. Each route has an access level:

    open   anyone (/api/health, /api/openapi.json)
    read   anyone, unless READ_TOKEN or TOKENS_FILE is set; then a token that may read (questions,
           listings, conversations, including deleting one's own conversation: it holds no shared data).
           A conversation belongs to the token that opened it (Caller.identity): no other reaches it
    write  API_TOKEN, or a TOKENS_FILE token with write access; with neither, writes are disabled

API_TOKEN and READ_TOKEN reach every collection. A tokens file (QA_TOKENS_FILE, JSON or TOML) gives
each of its tokens an access (read, or write which includes read) and the collections it reaches:

    {"tokens": [{"name": "team-a", "token": "...", "access": "write", "collections": ["team-a"]},
                {"name": "auditor", "token": "sha256:<hex digest of the token>", "access": "read",
                 "collections": ["*"]}]}

A token may be written as its SHA-256 ("sha256:" + 64 hex digits), so the file need not hold the
secret. The file is read again when it changes. The views check each collection with the Caller
that `check` returns: a collection the token does not reach is 403 (listing, asking, adding), a
document in one is 404 (as if it were not there). Tokens are compared in constant time and never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa.errors import BadSetting, CollectionForbidden, Forbidden, Unauthorized, WritesDisabled
from qa.metadata import check_collection

ACCESS_LEVELS = ("open", "read", "write")
ALL = "*"


@dataclass(frozen=True)
class Caller:
    """Who is asking: whether they may write, the collections they reach (None: all), and who they
    are (the SHA-256 of their token; None without one), which owns the conversations they open."""
    write: bool
    collections: frozenset[str] | None = None
    identity: str | None = None

    @property
    def reaches_all(self) -> bool:
        return self.collections is None

    def reaches(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def may_write(self, collection: str) -> bool:
        return self.write and self.reaches(collection)

    def require(self, collection: str, write: bool = False) -> None:
        """Raise CollectionForbidden (403) unless the caller may read (or write) the collection."""
        if not self.reaches(collection):
            raise CollectionForbidden(f"This token does not reach the collection {collection!r}; "
                                      f"GET /api/collections lists those it does.")
        if write and not self.write:
            raise Forbidden(f"This token may only read; adding, editing or removing documents in {collection!r} "
                            f"needs a token with write access.")


EVERYTHING = Caller(write=True)
ANYONE = Caller(write=False)


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    token: str = Field(min_length=16, description="The secret, or sha256:<64 hex digits> of it.")
    access: Literal["read", "write"] = "read"
    collections: list[str] = Field(min_length=1)

    @field_validator("collections")
    @classmethod
    def names(cls, collections: list[str]) -> list[str]:
        return [name if name == ALL else check_collection(name, "collections") for name in collections]

    def matches(self, token: str) -> bool:
        if self.token.startswith("sha256:"):
            return hmac.compare_digest(hashlib.sha256(token.encode("utf-8")).hexdigest(), self.token[7:].lower())
        return matches(token, self.token)

    def caller(self, token: str) -> Caller:
        reach = None if ALL in self.collections else frozenset(self.collections)
        return Caller(write=self.access == "write", collections=reach, identity=identity(token))


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: list[TokenEntry]


_loaded: dict[str, tuple[float, list[TokenEntry]]] = {}
_loading = threading.Lock()


def tokens_from(path: str | Path) -> list[TokenEntry]:
    """The tokens of a tokens file, read again when its modification time changes. A file that
    cannot be read or holds a wrong entry raises BadSetting, naming the file and the entry."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime
    except OSError as error:
        raise BadSetting(f"QA_TOKENS_FILE: cannot read {path} ({error.strerror}).") from None
    with _loading:
        found = _loaded.get(str(path))
        if found and found[0] == stamp:
            return found[1]
        try:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
            entries = TokensFile.model_validate(data).tokens
        except (OSError, ValueError, tomllib.TOMLDecodeError) as error:
            if isinstance(error, ValidationError):
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise BadSetting(f"QA_TOKENS_FILE: {path}: {where}: {first['msg']}.") from None
            raise BadSetting(f"QA_TOKENS_FILE: {path} is not a valid tokens file ({error}).") from None
        _loaded[str(path)] = (stamp, entries)
        return entries


def check(access: str, config: dict, authorization: str | None) -> Caller:
    """The caller, or WritesDisabled (403), Forbidden (403: a read-only token on a write) or
    Unauthorized (401) when the request may not go ahead."""
    if access == "open":
        return ANYONE
    token = bearer_token(authorization)
    api_token, read_token, tokens_file = config.get("API_TOKEN"), config.get("READ_TOKEN"), config.get("TOKENS_FILE")
    entries = tokens_from(tokens_file) if tokens_file else []
    caller = None
    if token:
        if matches(token, api_token):
            caller = Caller(write=True, identity=identity(token))
        elif matches(token, read_token):
            caller = Caller(write=False, identity=identity(token))
        else:
            caller = next((entry.caller(token) for entry in entries if entry.matches(token)), None)
    if access == "write":
        if not api_token and not any(entry.access == "write" for entry in entries):
            raise WritesDisabled("Adding and removing documents over the API is disabled. Enable it by setting "
                                 "QA_API_TOKEN (or a write token in QA_TOKENS_FILE) and sending "
                                 "Authorization: Bearer <token>.")
        if caller is None:
            raise Unauthorized("This needs Authorization: Bearer <token> with the server's QA_API_TOKEN "
                               "or a write token of its QA_TOKENS_FILE.")
        if not caller.write:
            raise Forbidden("This token may only read; adding, editing or removing documents needs a token with "
                            "write access (QA_API_TOKEN, or access \"write\" in QA_TOKENS_FILE).")
        return caller
    if caller is not None:
        return caller
    if read_token or tokens_file:
        which = " or ".join(name for name, set_ in (("its QA_READ_TOKEN", read_token),
                                                     ("a token of its QA_TOKENS_FILE", tokens_file)) if set_)
        raise Unauthorized(f"This server needs Authorization: Bearer <token> with {which}.")
    return ANYONE


def identity(token: str) -> str:
    """Who a token is, as kept beside what it owns: its SHA-256 (as a tokens file may write it), never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), str(expected).encode("utf-8"))
