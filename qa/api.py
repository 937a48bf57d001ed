"""The JSON API: /api/ask, /api/documents, /api/health. Requests are validated by pydantic models;
every error, ours or the framework's, leaves as {"error": {"code", "message"}} with its status."""
from __future__ import annotations

import json
from typing import Annotated

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator
from werkzeug.exceptions import HTTPException

from qa.errors import BadRequest, EmptyQuestion, QAError
from qa.service import Service

bp = Blueprint("api", __name__, url_prefix="/api")


class UnsupportedMediaType(QAError):
    status_code = 415
    code = "unsupported_media_type"


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: StrictStr
    top_k: Annotated[StrictInt, Field(ge=1, le=50)] = 5
    conversation_id: StrictStr | None = None

    @field_validator("question")
    @classmethod
    def question_has_words(cls, question: str) -> str:
        limit = current_app.config["MAX_QUESTION_CHARS"]
        if not question.strip():
            raise EmptyQuestion("The question is empty.")
        if len(question) > limit:
            raise BadRequest(f"The question is {len(question)} characters long; the limit is {limit}.")
        return question.strip()


def service() -> Service:
    return current_app.extensions["qa"]


def json_body() -> dict:
    if not request.mimetype == "application/json":
        raise UnsupportedMediaType(f"Send the body as JSON with Content-Type: application/json (got {request.mimetype or 'none'}).")
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from error
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


@bp.post("/ask")
def ask():
    parsed = validate(AskRequest, json_body())
    return jsonify(service().ask_in_conversation(parsed.question, parsed.top_k, parsed.conversation_id))


@bp.get("/conversations/<conversation_id>")
def conversation(conversation_id: str):
    return jsonify(service().conversation(conversation_id))


@bp.delete("/conversations/<conversation_id>")
def delete_conversation(conversation_id: str):
    service().delete_conversation(conversation_id)
    return "", 204


@bp.get("/documents")
def documents():
    return jsonify({"documents": service().documents()})


@bp.get("/documents/<document_id>")
def document(document_id: str):
    return jsonify(service().document(document_id))


@bp.get("/health")
def health():
    return jsonify(service().health())


def register_error_handlers(app) -> None:
    @app.errorhandler(QAError)
    def qa_error(error: QAError):
        return error_response(error.status_code, error.code, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on the server; see its log.")


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response
