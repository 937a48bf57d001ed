"""The OpenAPI document matches the Flask routes both ways, and real responses match their models."""
from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from qa import schemas

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # added by Flask to every route


def flask_operations(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        found |= {(method, path) for method in rule.methods - IGNORED_METHODS}
    return found


def test_every_api_route_is_documented_and_nothing_else(app, client):
    document = client.get("/api/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == flask_operations(app)
    assert document["openapi"].startswith("3.")


def test_every_reference_resolves_and_every_operation_documents_its_errors(client):
    document = client.get("/api/openapi.json").get_json()
    schemas_defined = document["components"]["schemas"]

    def references(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    for reference in set(references(document)):
        assert reference.removeprefix("#/components/schemas/") in schemas_defined, reference
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            if path.startswith("/api/documents") and method in ("post", "delete"):
                assert {"401", "403"} <= statuses and operation["security"] == [{"bearer": []}]
    ask = document["paths"]["/api/ask"]["post"]
    assert {"400", "413", "415", "503"} <= set(ask["responses"])
    assert ask["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AskRequest"}


def check(model: type[BaseModel], response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return model.model_validate(response.get_json())


@pytest.mark.model
def test_real_responses_validate_against_their_models(write_client, authorized):
    client = write_client
    answer = check(schemas.AskResponse, client.post("/api/ask", json={"question": "Who is the president of Greece?"}))
    assert answer.passages
    check(schemas.Conversation, client.get(f"/api/conversations/{answer.conversation_id}"))
    listing = check(schemas.DocumentList, client.get("/api/documents"))
    check(schemas.DocumentDetail, client.get(f"/api/documents/{listing.documents[0].id}"))
    health = check(schemas.Health, client.get("/api/health"))
    assert health.consistent and health.passages == health.vectors
    added = check(schemas.DocumentSummary, client.post(
        "/api/documents", json={"title": "T", "text": "Some text about owls.", "source": "owls.txt"},
        headers=authorized), 201)
    assert client.delete(f"/api/documents/{added.id}", headers=authorized).status_code == 204
    for response in (client.get("/api/documents/0000000000000000"), client.get("/api/nope"),
                     client.post("/api/ask", data="x", content_type="text/plain"),
                     client.post("/api/documents", json={"text": "x", "source": "y"})):
        check(schemas.ErrorResponse, response, response.status_code)


def test_response_models_forbid_fields_they_do_not_declare():
    with pytest.raises(ValueError):
        schemas.Health.model_validate({"ok": True, "documents": 1, "passages": 1, "vectors": 1,
                                       "consistent": True, "model": "m", "surprise": 1})
