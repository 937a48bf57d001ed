"""The errors qa raises. Each carries the HTTP status and a stable code; the API turns them into
JSON in one place and the CLI into one line on stderr."""
from __future__ import annotations


class QAError(Exception):
    status_code = 500
    code = "internal_error"
    headers: dict[str, str] = {}  # extra response headers, e.g. WWW-Authenticate on a 401

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(QAError):
    status_code = 400
    code = "bad_request"


class EmptyQuestion(BadRequest):
    code = "empty_question"


class NotFound(QAError):
    status_code = 404
    code = "not_found"


class DocumentNotFound(NotFound):
    code = "document_not_found"


class PageNotFound(NotFound):
    code = "page_not_found"


class ConversationNotFound(NotFound):
    code = "conversation_not_found"


class IndexNotBuilt(QAError):
    status_code = 503
    code = "index_not_built"

    def __init__(self, folder: str):
        super().__init__(
            f"The index at {folder} is not built or holds no documents. "
            f"Build it with: qa ingest --index {folder} PATH..."
        )


class RenderBusy(QAError):
    """Every page renderer is busy: ask again shortly (qa/previews.py)."""
    status_code = 503
    code = "busy"
    headers = {"Retry-After": "2"}


class ModelMismatch(QAError):
    status_code = 409
    code = "model_mismatch"


class DocumentConflict(QAError):
    """Another document (another source, folder or collection) already has the id: nothing is stored."""
    status_code = 409
    code = "document_conflict"


class ConversationFull(QAError):
    """A conversation holds as many turns as it may (CONVERSATION_MAX_TURNS): start a new one."""
    status_code = 409
    code = "conversation_full"


class IndexCorrupt(QAError):
    status_code = 500
    code = "index_corrupt"


class UnsupportedFile(BadRequest):
    code = "unsupported_file"


class BadSetting(QAError):
    """A setting with a value it cannot take; the message names the setting (option and variable)."""
    status_code = 500
    code = "bad_setting"


class UnreadableFile(QAError):
    """A file of a supported type that cannot be read: encrypted, damaged, truncated, too large
    once unpacked, or too slow to parse. The message names the file and the reason."""
    status_code = 422
    code = "unreadable_file"


class UnsupportedMediaType(QAError):
    status_code = 415
    code = "unsupported_media_type"


class Unauthorized(QAError):
    status_code = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="qa"'}


class WritesDisabled(QAError):
    status_code = 403
    code = "writes_disabled"


class Forbidden(QAError):
    """A valid token without the right: a read-only token on a write."""
    status_code = 403
    code = "forbidden"


class CollectionForbidden(Forbidden):
    """A token that does not reach the collection asked for."""
    code = "collection_forbidden"


class CollectionNotFound(NotFound):
    code = "collection_not_found"


class UploadTooLarge(QAError):
    status_code = 413
    code = "request_entity_too_large"  # the same code as the framework's own 413


class ReadOnlyIndex(QAError):
    """A write to an index folder or database this process cannot write (a read-only disk or mount)."""
    status_code = 409
    code = "index_read_only"
