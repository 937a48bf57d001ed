"""The OpenAPI 3.1 document, built from the route table in qa/api.py and the pydantic models in
qa/schemas.py, so it describes the code as it is (tests/test_openapi.py checks both ways)."""
from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass, field

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from qa.schemas import ErrorResponse

REF = "#/components/schemas/{model}"
FLASK_PARAMETER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
TYPED_PARAMETER = re.compile(r"<(?:([a-z]+):)?([a-z_]+)>")  # Flask's converter, then the name

ERROR_MEANINGS = {
    400: "The request is malformed or a field is invalid.",
    401: "A bearer token is needed or the one given is wrong.",
    403: "Writes are disabled (the server has no write token), the token may only read, it does not "
         "reach the collection, or (on a loopback address) the request came from another web page's Origin.",
    404: "Nothing has this id.",
    409: "A conflict: another document already has the id this one would get, or the conversation holds as "
         "many questions as it may (conversation_full: start a new one).",
    413: "The body is larger than the limit.",
    415: "The body has the wrong content type.",
    421: "The Host header names another server: on a loopback address qa answers only to localhost, "
         "127.0.0.1 and [::1] (DNS rebinding).",
    422: "The file is of a supported type but cannot be read (encrypted, damaged, too large unpacked).",
    503: "The index is not built yet, or (page images) every renderer is busy: ask again after Retry-After seconds.",
}


@dataclass
class Route:
    """One API operation: what the view is, who may call it, what it takes and what it returns."""
    method: str
    rule: str  # the Flask rule under /api, e.g. "/documents/<document_id>"
    endpoint: str
    summary: str
    access: str  # open | read | write (qa/auth.py)
    body: dict[str, type[BaseModel] | dict] = field(default_factory=dict)  # content type -> model or schema
    responses: dict[int, type[BaseModel] | dict | None] = field(default_factory=dict)  # success status -> model
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"  # of the success response
    query: dict[str, dict] = field(default_factory=dict)  # optional query parameter -> its JSON schema

    @property
    def path(self) -> str:
        return "/api" + FLASK_PARAMETER.sub(r"{\1}", self.rule)

    @property
    def all_errors(self) -> list[int]:
        by_access = {"open": (), "read": (401,), "write": (401, 403)}[self.access]
        return sorted({*self.errors, *by_access, 403, 421})  # 403, 421: Host and Origin (qa/hosts.py)


def document(routes: list[Route]) -> dict:
    models = {model for route in routes for model in route.body.values() if isinstance(model, type)}
    responses = {model for route in routes for model in route.responses.values() if isinstance(model, type)}
    responses.add(ErrorResponse)
    _, schemas = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
        + [(m, "serialization") for m in sorted(responses, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "qa", "version": importlib.metadata.version("qa"),
                 "description": "Question answering over your articles: cited passages, no language model."},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def operation(route: Route) -> dict:
    found: dict = {"operationId": route.endpoint, "summary": route.summary}
    parameters = TYPED_PARAMETER.findall(route.rule)
    if parameters:
        found["parameters"] = [{"name": name, "in": "path", "required": True,
                                "schema": {"type": "integer" if converter == "int" else "string"}}
                               for converter, name in parameters]
    if route.query:
        found.setdefault("parameters", []).extend(
            {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in route.query.items())
    if route.body:
        found["requestBody"] = {"required": True, "content": {
            content_type: {"schema": schema_of(model)} for content_type, model in route.body.items()}}
    found["responses"] = {}
    for status, model in route.responses.items():
        found["responses"][str(status)] = {"description": "Success."} | (
            {"content": {route.media_type: {"schema": schema_of(model)}}} if model else {})
    for status in route.all_errors:
        found["responses"][str(status)] = {"description": ERROR_MEANINGS[status],
                                           "content": {"application/json": {"schema": schema_of(ErrorResponse)}}}
    if route.access == "write":
        found["security"] = [{"bearer": []}]
    elif route.access == "read":
        found["security"] = [{"bearer": []}, {}]  # a token only when the server sets QA_READ_TOKEN
    return found


def schema_of(model: type[BaseModel] | dict) -> dict:
    return model if isinstance(model, dict) else {"$ref": REF.format(model=model.__name__)}
