"""The JSON API under /api. Every route is declared with `route(...)`, which registers the view and
records what it takes, returns and needs (qa/openapi.py builds /api/openapi.json from that record,
qa/auth.py checks the access level). Requests are validated by the pydantic models in qa/schemas.py;
every error, ours or the framework's, leaves as {"error": {"code", "message"}} with its status."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from qa import auth, openapi, uploads
from qa.errors import BadRequest, QAError, UnsupportedMediaType
from qa.openapi import Route
from qa.schemas import (UPLOAD_FORM_SCHEMA, AddDocumentRequest, AskRequest, AskResponse, Conversation,
                        DocumentDetail, DocumentList, DocumentSummary, Health)
from qa.service import Service

bp = Blueprint("api", __name__, url_prefix="/api")
ROUTES: list[Route] = []
ENVELOPE_BYTES = 64 * 1024  # multipart headers around an uploaded file


def route(method: str, rule: str, summary: str, access: str, body: dict | None = None,
          responses: dict | None = None, errors: tuple[int, ...] = (), media_type: str = "application/json"):
    def register(view):
        ROUTES.append(Route(method, rule, f"{bp.name}.{view.__name__}", summary, access, body or {},
                            responses or {}, errors, media_type))
        return bp.route(rule, methods=[method])(view)
    return register


@bp.before_request
def check_access() -> None:
    found = next((r for r in ROUTES if r.endpoint == request.endpoint and r.method == request.method), None)
    auth.check(found.access if found else "read", current_app.config, request.headers.get("Authorization"))
    if request.endpoint == "api.add_document":  # uploads may be larger than a question
        request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"] + ENVELOPE_BYTES


def service() -> Service:
    return current_app.extensions["qa"]


def json_body() -> dict:
    if not request.mimetype == "application/json":
        raise UnsupportedMediaType(f"Send the body as JSON with Content-Type: application/json (got {request.mimetype or 'none'}).")
    raw = request.get_data(cache=False)  # raises 413 past the request's max_content_length
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: [[[[...]]]] nested deeply
        raise BadRequest(f"The body is not valid JSON: {str(error)[:200]}.") from error
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


def validate(model: type[BaseModel], body: dict) -> BaseModel:
    try:
        return model.model_validate(body)
    except ValidationError as error:  # our own errors from validators pass through unwrapped
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(f"{field}: {first['msg']}.") from None


@route("POST", "/ask", "Ask a question; get cited passages.", "read",
       body={"application/json": AskRequest}, responses={200: AskResponse}, errors=(400, 404, 413, 415, 503))
def ask():
    parsed = validate(AskRequest, json_body())
    return jsonify(service().ask_in_conversation(parsed.question, parsed.top_k, parsed.conversation_id))


@route("GET", "/conversations/<conversation_id>", "A conversation's turns.", "read",
       responses={200: Conversation}, errors=(400, 404, 503))
def conversation(conversation_id: str):
    return jsonify(service().conversation(conversation_id))


@route("DELETE", "/conversations/<conversation_id>", "Forget a conversation.", "read",
       responses={204: None}, errors=(400, 404, 503))
def delete_conversation(conversation_id: str):
    service().delete_conversation(conversation_id)
    return "", 204


@route("GET", "/documents", "The documents in the index.", "read", responses={200: DocumentList}, errors=(503,))
def documents():
    return jsonify({"documents": service().documents()})


@route("POST", "/documents", "Add a document (a file upload or JSON); one with the same source is replaced.",
       "write", body={"multipart/form-data": UPLOAD_FORM_SCHEMA, "application/json": AddDocumentRequest},
       responses={201: DocumentSummary}, errors=(400, 413, 415, 422, 503))
def add_document():
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest('Send the document in the multipart field "file".')
        document = uploads.from_file(upload, limit)
    else:
        parsed = validate(AddDocumentRequest, json_body())
        document = uploads.from_json(parsed.text, parsed.source, parsed.title)
    added = service().add_document(document)
    return jsonify(added), 201, {"Location": f"{bp.url_prefix}/documents/{added['id']}"}


@route("GET", "/documents/<document_id>", "One document with its text.", "read",
       responses={200: DocumentDetail}, errors=(404, 503))
def document(document_id: str):
    return jsonify(service().document(document_id))


@route("GET", "/documents/<document_id>/pages/<int:number>.png", "A page of a PDF as an image (citation boxes "
       "are in PDF points: scale by the image's width over the page's width).", "read",
       responses={200: {"type": "string", "format": "binary"}}, media_type="image/png", errors=(404, 422, 503))
def page_image(document_id: str, number: int):
    image = service().page_image(document_id, number)
    return image, 200, {"Content-Type": "image/png", "Cache-Control": "private, max-age=3600"}


@route("DELETE", "/documents/<document_id>", "Remove a document.", "write",
       responses={204: None}, errors=(404, 503))
def remove_document(document_id: str):
    service().remove_document(document_id)
    return "", 204


@route("GET", "/health", "Counts, the model, and whether SQLite and FAISS agree.", "open",
       responses={200: Health}, errors=(503,))
def health():
    return jsonify(service().health())


@route("GET", "/openapi.json", "This document.", "open", responses={200: {"type": "object"}})
def openapi_document():
    return jsonify(openapi.document(ROUTES))


def register_error_handlers(app) -> None:
    @app.errorhandler(QAError)
    def qa_error(error: QAError):
        return error_response(error.status_code, error.code, error.message, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on the server; see its log.")


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response
