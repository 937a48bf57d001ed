"""Bearer tokens for the API. Each route has an access level:

    open   anyone (/api/health, /api/openapi.json)
    read   anyone, unless READ_TOKEN is set; then READ_TOKEN or API_TOKEN (questions, listings,
           conversations, including deleting one's own conversation: it holds no shared data)
    write  API_TOKEN only; with no API_TOKEN set, writes are disabled (adding/removing documents)

Tokens are compared in constant time and never logged.
"""
from __future__ import annotations

import hmac

from qa.errors import Unauthorized, WritesDisabled

ACCESS_LEVELS = ("open", "read", "write")


def check(access: str, config: dict, authorization: str | None) -> None:
    """Raise WritesDisabled (403) or Unauthorized (401) unless the request may go ahead."""
    if access == "open":
        return
    token = bearer_token(authorization)
    api_token, read_token = config.get("API_TOKEN"), config.get("READ_TOKEN")
    if access == "write":
        if not api_token:
            raise WritesDisabled("Adding and removing documents over the API is disabled. "
                                 "Enable it by setting QA_API_TOKEN and sending Authorization: Bearer <token>.")
        if not matches(token, api_token):
            raise Unauthorized("This needs Authorization: Bearer <token> with the server's QA_API_TOKEN.")
        return
    if read_token and not (matches(token, read_token) or matches(token, api_token)):
        raise Unauthorized("This server needs Authorization: Bearer <token> with its QA_READ_TOKEN.")


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), str(expected).encode("utf-8"))
