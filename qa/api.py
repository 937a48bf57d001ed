"""The JSON API under /api. Every route is declared with `route(...)`, which registers the view and
records what it takes, returns and needs (qa/openapi.py builds /api/openapi.json from that record,
qa/auth.py checks the access level). Requests are validated by the pydantic models in qa/schemas.py;
every error, ours or the framework's, leaves as {"error": {"code", "message"}} with its status."""
from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from qa import auth, openapi, uploads
from qa.auth import Caller
from qa.documents import Document
from qa.errors import BadRequest, ConversationNotFound, DocumentNotFound, QAError, UnsupportedMediaType
from qa.metadata import DEFAULT_COLLECTION, check_collection, clean_tags
from qa.openapi import Route
from qa.schemas import (UPLOAD_FORM_SCHEMA, AddDocumentRequest, AskRequest, AskResponse, CollectionList, Conversation,
                        DocumentDetail, DocumentList, DocumentSummary, EditDocumentRequest, Health)
from qa.service import Service

bp = Blueprint("api", __name__, url_prefix="/api")
ROUTES: list[Route] = []
ENVELOPE_BYTES = 64 * 1024  # multipart headers around an uploaded file


def route(method: str, rule: str, summary: str, access: str, body: dict | None = None,
          responses: dict | None = None, errors: tuple[int, ...] = (), media_type: str = "application/json",
          query: dict | None = None):
    def register(view):
        ROUTES.append(Route(method, rule, f"{bp.name}.{view.__name__}", summary, access, body or {},
                            responses or {}, errors, media_type, query or {}))
        return bp.route(rule, methods=[method])(view)
    return register


@bp.before_request
def check_access() -> None:
    found = next((r for r in ROUTES if r.endpoint == request.endpoint and r.method == request.method), None)
    g.caller = auth.check(found.access if found else "read", current_app.config, request.headers.get("Authorization"))
    if request.endpoint == "api.add_document":  # uploads may be larger than a question
        request.max_content_length = current_app.config["UPLOAD_MAX_BYTES"] + ENVELOPE_BYTES


def service() -> Service:
    return current_app.extensions["qa"]


def caller() -> Caller:
    return g.caller


def reachable_document(document_id: str) -> dict:
    """The document, or 404 when it is in a collection the caller does not reach (as if it were not there)."""
    found = service().document(document_id)
    if not caller().reaches(found["collection"]):
        raise DocumentNotFound(f"No document has the id {document_id!r}.")
    return found


def check_conversation(conversation_id: str) -> None:
    """404 unless the conversation was opened by the caller's token (none: by a caller without
    one) and every collection its turns asked in is one the caller reaches."""
    head = service().conversation_head(conversation_id, caller().identity)
    if not all(caller().reaches(collection) for collection in head.collections):
        raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")


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


@route("POST", "/ask", "Ask a question of one collection, optionally filtered; get cited passages.", "read",
       body={"application/json": AskRequest}, responses={200: AskResponse}, errors=(400, 403, 404, 409, 413, 415, 503))
def ask():
    parsed = validate(AskRequest, json_body())
    caller().require(parsed.collection)
    if parsed.conversation_id is not None:
        check_conversation(parsed.conversation_id)
    return jsonify(service().ask_in_conversation(parsed.question, parsed.top_k, parsed.conversation_id,
                                                 parsed.collection, parsed.filter, owner=caller().identity))


@route("GET", "/conversations/<conversation_id>", "A conversation's turns.", "read",
       responses={200: Conversation}, errors=(400, 404, 503))
def conversation(conversation_id: str):
    check_conversation(conversation_id)
    return jsonify(service().conversation(conversation_id, caller().identity))


@route("DELETE", "/conversations/<conversation_id>", "Forget a conversation.", "read",
       responses={204: None}, errors=(400, 404, 503))
def delete_conversation(conversation_id: str):
    check_conversation(conversation_id)
    service().delete_conversation(conversation_id, caller().identity)
    return "", 204


COLLECTION_QUERY = {"collection": {"type": "string", "default": DEFAULT_COLLECTION,
                                   "description": "The collection to list (GET /api/collections names them)."}}


@route("GET", "/documents", "The documents of a collection, with their metadata.", "read",
       responses={200: DocumentList}, errors=(400, 403, 404, 503), query=COLLECTION_QUERY)
def documents():
    collection = check_collection(request.args.get("collection", DEFAULT_COLLECTION))
    caller().require(collection)
    return jsonify({"documents": service().documents(collection)})


@route("GET", "/collections", "The collections this token reaches, with their document counts.", "read",
       responses={200: CollectionList}, errors=(503,))
def collections():
    who = caller()
    found = service().collections()
    names = sorted({*found, *(who.collections or ())})
    return jsonify({"collections": [{"name": name, "documents": found.get(name, 0), "writable": who.may_write(name)}
                                    for name in names if who.reaches(name)]})


@route("POST", "/documents", "Add a document (a file upload or JSON); one with the same source is replaced.",
       "write", body={"multipart/form-data": UPLOAD_FORM_SCHEMA, "application/json": AddDocumentRequest},
       responses={201: DocumentSummary}, errors=(400, 409, 413, 415, 422, 503))
def add_document():
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest('Send the document in the multipart field "file".')
        collection, tags, date = form_metadata()
        caller().require(collection, write=True)
        document = uploads.from_file(upload, limit)
    else:
        parsed = validate(AddDocumentRequest, json_body())
        collection, tags, date = parsed.collection, parsed.tags, parsed.date and parsed.date.isoformat()
        caller().require(collection, write=True)
        document = uploads.from_json(parsed.text, parsed.source, parsed.title)
    place(document, collection, tags, date)
    added = service().add_document(document)
    return jsonify(added), 201, {"Location": f"{bp.url_prefix}/documents/{added['id']}"}


def form_metadata() -> tuple[str, list[str] | None, str | None]:
    """(collection, tags, date) from an upload's form fields; tags may repeat or be comma-separated."""
    collection = check_collection(request.form.get("collection", DEFAULT_COLLECTION))
    given = request.form.getlist("tags")
    tags = clean_tags([tag for field in given for tag in field.split(",") if tag.strip()]) if given else None
    date = request.form.get("date") or None
    if date is not None:
        try:
            date = dt.date.fromisoformat(date).isoformat()
        except ValueError:
            raise BadRequest(f"date: {date[:40]!r} is not a date; send YYYY-MM-DD.") from None
    return collection, tags, date


def place(document: Document, collection: str, tags: list[str] | None, date: str | None) -> None:
    """An upload's collection, tags and date (a date sent wins over the one in the file's metadata)."""
    document.place(collection)
    document.tags = tags
    document.date = date or document.date


@route("GET", "/documents/<document_id>", "One document with its text.", "read",
       responses={200: DocumentDetail}, errors=(404, 503))
def document(document_id: str):
    return jsonify(reachable_document(document_id))


@route("PATCH", "/documents/<document_id>", "Change a document's tags, date or card (issuer, kind, period, title; "
       "its passages are indexed again under the new card).", "write",
       body={"application/json": EditDocumentRequest}, responses={200: DocumentSummary},
       errors=(400, 404, 413, 415, 503))
def edit_document(document_id: str):
    parsed = validate(EditDocumentRequest, json_body())
    reachable_document(document_id)
    date = parsed.date.isoformat() if parsed.date else None
    card = parsed.card.model_dump(include=parsed.card.model_fields_set) if parsed.card else None
    return jsonify(service().edit_document(document_id, parsed.tags if "tags" in parsed.model_fields_set else None,
                                           date, "date" in parsed.model_fields_set, card))


@route("GET", "/documents/<document_id>/pages/<int:number>.png", "A page of a PDF as an image (citation boxes "
       "are in PDF points: scale by the image's width over the page's width).", "read",
       responses={200: {"type": "string", "format": "binary"}}, media_type="image/png", errors=(404, 422, 503))
def page_image(document_id: str, number: int):
    reachable_document(document_id)
    image = service().page_image(document_id, number)
    return image, 200, {"Content-Type": "image/png", "Cache-Control": "private, max-age=3600"}


@route("DELETE", "/documents/<document_id>", "Remove a document.", "write",
       responses={204: None}, errors=(404, 503))
def remove_document(document_id: str):
    reachable_document(document_id)
    service().remove_document(document_id)
    return "", 204


@route("GET", "/health", "Whether the index is up and consistent; its counts for a caller who may read every "
       "collection.", "open", responses={200: Health}, errors=(503,))
def health():
    """Open to anyone (a load balancer's probe needs no token). How many documents and passages
    the index holds is told only to a caller who may read every collection: with reads open,
    anyone; with QA_READ_TOKEN or a tokens file, a token reaching all collections."""
    found = service().health()
    try:
        counts = auth.check("read", current_app.config, request.headers.get("Authorization")).reaches_all
    except QAError:
        counts = False
    if not counts:
        found = {key: value for key, value in found.items() if key not in COUNTS}
    return jsonify(found)


COUNTS = ("documents", "passages", "vectors")


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
